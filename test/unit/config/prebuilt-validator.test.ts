// The validator scripts/build-validator.mjs generates into dist/ (loaded by every built process
// instead of compiling the schema) must be the schema's own: same hash, same verdicts, same errors
// as a validator compiled at run time, on valid and broken documents alike.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { ConfigSchema } from '../../../src/config/schema/index.js'
import { DOCUMENT_AJV_OPTIONS, schemaHash } from '../../../src/config/document-ajv.js'

const FILE = join(resolve(import.meta.dirname, '../../..'), 'dist/config/document-validator.cjs')

const documents: unknown[] = [
  { upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: [{ paths: ['/'], upstream: 'a' }] },
  { upstreams: {}, routes: [{ paths: '/', upstream: 1, extra: true }] },
  { server: { listen: 7, limits: { max_body: 'lots' } }, routes: [] },
  { upstreams: { a: { targets: [] } }, routes: [{ paths: ['/'], plugins: [{ name: 3 }] }], admin: { token: [] } },
  'not an object',
]

const shape = (errors: ErrorObject[] | null | undefined) =>
  (errors ?? []).map((e) => ({ path: e.instancePath, keyword: e.keyword, params: e.params, message: e.message, schemaPath: e.schemaPath }))

test('dist/ carries a validator generated from the current schema that answers as a compiled one', { skip: process.env.PORTICO_TEST_DIST !== '1' && !existsSync(FILE) ? 'dist/ not built (run through scripts/run-tests.mjs)' : false }, () => {
  const prebuilt = createRequire(import.meta.url)(FILE) as { default: ValidateFunction; schemaHash: string }
  assert.equal(prebuilt.schemaHash, schemaHash(ConfigSchema), 'dist/config/document-validator.cjs is stale: run npm run build')
  const compiled = new Ajv(DOCUMENT_AJV_OPTIONS).compile(ConfigSchema)
  for (const doc of documents) {
    const a = prebuilt.default(doc)
    const b = compiled(doc)
    assert.equal(a, b, JSON.stringify(doc))
    assert.deepEqual(shape(prebuilt.default.errors), shape(compiled.errors), JSON.stringify(doc))
  }
  assert.equal(compiled(documents[1]), false, 'the broken documents are broken')
})
