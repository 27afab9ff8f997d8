// A JSON config document loads through JSON.parse (the YAML parser took ~1 s on 10,000 routes);
// it must give exactly what the YAML path gives: the same config and hash, ${ENV} resolved, and,
// when it is invalid, the same errors with YAML path and line:column (it falls back to that path).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { stringify } from 'yaml'
import { loadConfigText, formatErrors } from '../../../src/config/index.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'

const doc = {
  upstreams: { users: { targets: [{ url: 'http://127.0.0.1:8081' }] } },
  routes: Array.from({ length: 50 }, (_, i) => ({ name: `r${i}`, paths: [`/r${i}/:id`], upstream: 'users', timeouts: { total: '${TOTAL}' } })),
}
const env = { TOTAL: '5s' }

test('JSON and YAML of one document load to the same config and hash', () => {
  const json = loadConfigText(JSON.stringify(doc, null, 2), 'c.json', { checks: INSTALLED_CHECKS, env })
  const yaml = loadConfigText(stringify(doc), 'c.yaml', { checks: INSTALLED_CHECKS, env })
  assert.ok(json.ok, json.ok ? '' : formatErrors(json.errors))
  assert.ok(yaml.ok, yaml.ok ? '' : formatErrors(yaml.errors))
  assert.deepEqual(json.config, yaml.config)
  assert.equal(json.hash, yaml.hash)
  assert.equal((json.config.routes[3] as { timeouts?: { total?: string } }).timeouts?.total, '5s')
  // A byte-order mark and leading blank lines are fine.
  const bom = loadConfigText(`\uFEFF\n  ${JSON.stringify(doc)}`, 'c.json', { checks: INSTALLED_CHECKS, env })
  assert.ok(bom.ok && bom.hash === json.hash)
})

test('an invalid JSON document is reported with its path and line:column', () => {
  const bad = structuredClone(doc)
  ;(bad.routes[7] as Record<string, unknown>).upstream = 'nobody'
  const text = JSON.stringify(bad, null, 2)
  const r = loadConfigText(text, 'c.json', { checks: INSTALLED_CHECKS, env })
  assert.equal(r.ok, false)
  const e = r.ok ? undefined : r.errors.find((x) => x.path === 'routes[7].upstream')
  assert.ok(e, r.ok ? '' : formatErrors(r.errors))
  const line = text.split('\n').findIndex((l) => l.includes('"nobody"')) + 1
  assert.equal(e.line, line)
  assert.ok(e.column > 1)
})

test('a JSON syntax error and an unset ${ENV} are reported as the YAML path reports them', () => {
  const broken = loadConfigText('{\n  "upstreams": {\n    "u": [1, 2\n  }\n', 'c.json', { checks: INSTALLED_CHECKS })
  assert.equal(broken.ok, false)
  assert.ok(!broken.ok && broken.errors[0]!.line > 0)
  const unset = loadConfigText(JSON.stringify(doc), 'c.json', { checks: INSTALLED_CHECKS, env: {} })
  assert.equal(unset.ok, false)
  assert.ok(!unset.ok && unset.errors.some((x) => /TOTAL/.test(x.message)), unset.ok ? '' : formatErrors(unset.errors))
})

test('a YAML flow mapping that is not JSON still loads as YAML', () => {
  const r = loadConfigText('{ upstreams: { u: { targets: [ { url: "http://127.0.0.1:1" } ] } }, routes: [ { name: a, paths: [/a], upstream: u } ] }', 'c.yaml', { checks: INSTALLED_CHECKS })
  assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
})

test('a JSON document without "${" skips the reference walk and loads as the YAML path does; a \\u-escaped "${" is still a reference', () => {
  const plain = { ...doc, routes: doc.routes.map((r) => ({ ...r, timeouts: { total: '5s' } })) }
  const json = loadConfigText(JSON.stringify(plain), 'c.json', { checks: INSTALLED_CHECKS, env })
  const yaml = loadConfigText(stringify(plain), 'c.yaml', { checks: INSTALLED_CHECKS, env })
  assert.ok(json.ok && yaml.ok)
  assert.deepEqual(json.config, yaml.config)
  assert.equal(json.hash, yaml.hash)
  // JSON may spell "$" as \u0024: the text then holds no "${", and the reference must resolve all the same.
  const escaped = JSON.stringify(doc).replaceAll('${TOTAL}', '\\u0024{TOTAL}')
  assert.ok(!escaped.includes('${'))
  const r = loadConfigText(escaped, 'c.json', { checks: INSTALLED_CHECKS, env })
  assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
  assert.equal((r.config.routes[3] as { timeouts?: { total?: string } }).timeouts?.total, '5s')
})
