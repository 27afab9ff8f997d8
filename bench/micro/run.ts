// `npm run bench:micro`: every micro-benchmark in this folder, each in its own process (so one's
// JIT state and garbage cannot skew the next), one after the other. Pass names to run a subset:
// `npm run bench:micro -- router jwt`.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const here = dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const files = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.ts$/, '')))
  .sort()
let failed = 0
for (const f of files) {
  process.stdout.write(`\n## ${f.replace(/\.ts$/, '')}\n`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, f)], { stdio: 'inherit' })
  if (r.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
