// The console's in-browser check of a plugin config against the plugin's schema
// (ui/src/schema-check.ts) against the gateway's own plugin validator, Ajv with useDefaults
// (src/config/validate.ts): for every built-in plugin's schema and a set of configs, both accept
// the same configs, and report the same keywords at the same places.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Ajv } from 'ajv'
import { installedPlugins } from '../../../src/control/admin/installed-plugins.js'
import { checkSchema } from '../../../ui/src/schema-check.js'

const schemaOf = (name: string) => {
  const p = installedPlugins().find((x) => x.name === name)
  assert.ok(p !== undefined, `plugin ${name} installed`)
  return p.schema
}

/** Ajv's errors as the console's are compared: keyword and instance path (and the unions' branches dropped). */
function ajvErrors(schema: unknown, config: unknown): string[] {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false })
  const validate = ajv.compile(schema as object)
  if (validate(structuredClone(config))) return []
  const errors = validate.errors ?? []
  const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`)
  return [...new Set(errors.filter((e) => !unions.some((u) => e.schemaPath.startsWith(u))).map((e) => `${e.keyword} ${e.instancePath}`))].sort()
}
const ours = (schema: unknown, config: unknown) => [...new Set(checkSchema(schema, config).map((e) => `${e.keyword} ${e.instancePath}`))].sort()

const CASES: Array<[string, unknown]> = [
  ['rate-limit', { limits: [{ limit: 3, window: '1h' }], policy: 'local' }],
  ['rate-limit', {}],
  ['rate-limit', { limits: [] }],
  ['rate-limit', { limits: [{ limit: -1 }] }],
  ['rate-limit', { limits: [{ limit: 1.5, window: '2 s', algorithm: 'gcra-ish' }], key: 'header:x-api-key', max_keys: 5 }],
  ['rate-limit', { limits: [{ limit: 10 }], policy: 'cluster', extra: true }],
  ['rate-limit', { limits: [{ limit: 10, burst: 'many' }], ietf_headers: 'yes' }],
  ['hmac-auth', {}],
  ['hmac-auth', { window: '5m', required_headers: ['host', 'bad header'], max_body_size: '2mb', failure_mode: 'open' }],
  ['hmac-auth', { timeout: -1, consumer_header: '' }],
  ['headers', { response: { sett: { 'x-global': 'on' } } }],
  ['headers', { request: { set: { 'x-a': 'b' } } }],
  ['cors', { origins: ['https://a.example'], max_age: -3 }],
  ['request-size-limit', { max_body_size: 'lots' }],
  ['ip-restriction', { allow: ['10.0.0.0/8'] }],
]

test('checkSchema agrees with Ajv (useDefaults) on which configs pass and where each fails', () => {
  let failing = 0
  for (const [name, config] of CASES) {
    const schema = schemaOf(name)
    const expected = ajvErrors(schema, config)
    if (expected.length > 0) failing++
    assert.deepEqual(ours(schema, config), expected, `${name} ${JSON.stringify(config)}`)
  }
  assert.ok(failing >= 10, `most cases are invalid configs (${failing})`)
})

test('checkSchema: a required key with a default is filled in, not missing; one without is missing', () => {
  assert.deepEqual(checkSchema({ type: 'object', required: ['a', 'b'], properties: { a: { type: 'string', default: 'x' }, b: { type: 'integer' } } }, {}), [
    { keyword: 'required', instancePath: '', schemaPath: '#/required', params: { missingProperty: 'b' } },
  ])
})

test('checkSchema: the params the console words its messages from', () => {
  const [min] = checkSchema({ type: 'integer', minimum: 1 }, 0)
  assert.deepEqual(min?.params, { comparison: '>=', limit: 1 })
  const [extra] = checkSchema({ type: 'object', properties: {}, additionalProperties: false }, { 'a/b': 1 })
  assert.deepEqual(extra, { keyword: 'additionalProperties', instancePath: '', schemaPath: '#/additionalProperties', params: { additionalProperty: 'a/b' } })
  const ajv = new Ajv({ allErrors: true })
  const unique = ajv.compile({ type: 'array', uniqueItems: true })
  unique(['a', 'b', 'a', 'b'])
  const [dup] = checkSchema({ type: 'array', uniqueItems: true }, ['a', 'b', 'a', 'b'])
  assert.deepEqual({ params: dup?.params, message: dup?.message }, { params: unique.errors?.[0]?.params, message: unique.errors?.[0]?.message })
  const [deep] = checkSchema({ type: 'object', properties: { 'a/b': { type: 'string' } } }, { 'a/b': 1 })
  assert.equal(deep?.instancePath, '/a~1b')
})
