// The committed JSON Schema, config reference and admin OpenAPI document must match the code: a
// schema, plugin or admin-operation change without `npm run schema` fails here (fastify's
// test:validator:integrity).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../../', import.meta.url))

test('schema/portico.config.json, docs/config-reference.md and schema/admin-openapi.json are up to date', async () => {
  const result = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/gen-schema.ts', '--check'], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, output: stdout + stderr })
    })
  })
  assert.equal(result.code, 0, `generated files are stale; run \`npm run schema\`\n${result.output}`)
})
