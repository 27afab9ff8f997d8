// Every error code the gateway can return is documented in docs/errors.md with its status, and
// every documented code exists (fastify's errors-vs-docs check).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ERRORS, errorBody } from '../../src/core/errors.js'

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
const documented = new Map([...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]))

test('every catalogue code is documented with its status', () => {
  for (const [code, { status }] of Object.entries(ERRORS)) {
    assert.equal(documented.get(code), status, `docs/errors.md: ${code} should be listed with status ${status}`)
  }
})

test('every documented code exists in the catalogue', () => {
  for (const code of documented.keys()) assert.ok(code in ERRORS, `docs/errors.md lists ${code}, which the gateway never returns`)
})

test('error bodies have the documented shape', () => {
  assert.deepEqual(JSON.parse(errorBody('route_not_found', 'abc', 'no route for GET /x')), {
    status: 404,
    error: 'route_not_found',
    message: 'no route for GET /x',
    request_id: 'abc',
  })
})
