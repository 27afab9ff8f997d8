// aggregate: schema, the dependency graph, path templates, the allow-list, composition, and how a
// backend's response is judged. No sockets (the integration test calls real origins).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin, { interpret } from '../../../src/plugins/aggregate/index.js'
import { checkGraph, compilePath, pick, place, pathValue } from '../../../src/plugins/aggregate/compose.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { isValidPluginConfig } from '../../helpers/plugin-config.js'

const b = (o: Record<string, unknown>) => ({ name: 'a', upstream: 'u', path: '/x', ...o })
// Validated as the gateway does, in a document: the upstream the backends name must exist, so every
// refusal below is the schema's, not a missing upstream's.
const IN_DOC = { doc: { upstreams: { u: { targets: [{ url: 'http://127.0.0.1:9' }] } } } }

test('schema: accepts a full backend, fills defaults; refuses bad names, paths and prototype field paths', () => {
  const cfg = { backends: [b({ group: 'g', fields: ['a.b'], timeout: '150ms', depends_on: { backend: 'z', field: 'id' }, required: true }), b({ name: 'z' })] }
  assert.ok(isValidPluginConfig('aggregate', cfg, IN_DOC))
  const d = { backends: [b({})] } as { backends: Array<Record<string, unknown>>; forward_headers?: unknown }
  assert.ok(isValidPluginConfig('aggregate', d, IN_DOC))
  assert.equal(d.backends[0]!.method, 'GET')
  assert.equal(d.backends[0]!.timeout, '2s')
  assert.deepEqual(d.forward_headers, [])
  assert.equal(isValidPluginConfig('aggregate', { backends: [] }, IN_DOC), false)
  assert.equal(isValidPluginConfig('aggregate', { backends: [b({ name: 'a b' })] }, IN_DOC), false)
  assert.equal(isValidPluginConfig('aggregate', { backends: [b({ path: 'relative' })] }, IN_DOC), false)
  assert.equal(isValidPluginConfig('aggregate', { backends: [b({ path: '/a b' })] }, IN_DOC), false)
  assert.equal(isValidPluginConfig('aggregate', { backends: [b({ path: '/a\r\nx: y' })] }, IN_DOC), false)
  assert.equal(isValidPluginConfig('aggregate', { backends: [b({ fields: ['__proto__.x'] })] }, IN_DOC), false)
  assert.equal(isValidPluginConfig('aggregate', { backends: [b({ fields: ['a.constructor'] })] }, IN_DOC), false)
  assert.equal(isValidPluginConfig('aggregate', { backends: [b({ method: 'TRACE' })] }, IN_DOC), false)
  assert.equal(isValidPluginConfig('aggregate', { backends: [b({ extra: 1 })] }, IN_DOC), false)
  assert.equal(isValidPluginConfig('aggregate', { backends: [b({})], forward_headers: ['bad header'] }, IN_DOC), false)
})

test('graph: duplicate names, unknown and self dependencies and cycles are refused', () => {
  assert.doesNotThrow(() => checkGraph([{ name: 'a' }, { name: 'b', depends_on: { backend: 'a' } }]))
  assert.throws(() => checkGraph([{ name: 'a' }, { name: 'a' }]), /duplicate backend name "a"/)
  assert.throws(() => checkGraph([{ name: 'a', depends_on: { backend: 'x' } }]), /unknown backend "x"/)
  assert.throws(() => checkGraph([{ name: 'a', depends_on: { backend: 'a' } }]), /cycle/)
  assert.throws(() => checkGraph([{ name: 'a', depends_on: { backend: 'b' } }, { name: 'b', depends_on: { backend: 'a' } }]), /cycle/)
})

test('path templates: params and dependency fields; other backends, empty and prototype placeholders refused', () => {
  const t = compilePath('/u/{id}/o/{user.profile.id}?q=1', 'user', 'w')
  assert.deepEqual(t.parts, ['/u/', '/o/', '?q=1'])
  assert.deepEqual(t.holes, [{ kind: 'param', name: 'id' }, { kind: 'dep', path: ['profile', 'id'] }])
  assert.throws(() => compilePath('/{other.id}', 'user', 'w'), /must refer to the depends_on backend "user"/)
  assert.throws(() => compilePath('/{user.id}', undefined, 'w'), /none is set/)
  assert.throws(() => compilePath('/{}', undefined, 'w'), /invalid placeholder/)
  assert.throws(() => compilePath('/{user.__proto__}', 'user', 'w'), /invalid placeholder/)
  assert.throws(() => compilePath('/{a', undefined, 'w'), /unbalanced/)
  assert.equal(pathValue('a/b?c'), 'a%2Fb%3Fc')
  assert.equal(pathValue(12), '12')
  assert.equal(pathValue(Infinity), undefined)
  assert.equal(pathValue({}), undefined)
  assert.equal(pathValue(null), undefined)
})

test('allow-list keeps listed paths, through arrays; drops the rest and scalars where objects were expected', () => {
  const v = { id: 1, secret: 2, a: { b: 3, c: 4 }, items: [{ id: 1, x: 1 }, { id: 2, x: 2 }], s: 'str' }
  assert.deepEqual(pick(v, [['id'], ['a', 'b'], ['items', 'id'], ['s', 'x'], ['missing']]), { id: 1, a: { b: 3 }, items: [{ id: 1 }, { id: 2 }] })
  assert.deepEqual(pick([{ id: 1, y: 2 }], [['id']]), [{ id: 1 }])
  assert.equal(pick(5, [['id']]), 5)
})

test('place: merge objects at the top, group under a key (merging groups), non-objects under the name', () => {
  const out: Record<string, unknown> = {}
  place(out, 'u', '', { id: 1 })
  place(out, 'o', 'g', { a: 1 })
  place(out, 'p', 'g', { b: 2 })
  place(out, 'list', '', [1, 2])
  place(out, 'x', '', JSON.parse('{"__proto__":{"polluted":1}}'))
  assert.deepEqual(Object.keys(out), ['id', 'g', 'list', '__proto__'])
  assert.deepEqual(out.g, { a: 1, b: 2 })
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
})

test('interpret: non-2xx, non-JSON type, invalid JSON and empty bodies', () => {
  assert.deepEqual(interpret(200, 'application/json', Buffer.from('{"a":1}'), 'GET'), { ok: true, data: { a: 1 } })
  assert.deepEqual(interpret(503, 'application/json', Buffer.from('{}'), 'GET'), { ok: false, error: { error: 'status', message: 'the backend answered 503', status: 503 } })
  const h = interpret(200, 'text/html; charset=utf-8', Buffer.from('<p>'), 'GET')
  assert.equal(!h.ok && h.error.error, 'not_json')
  assert.equal(!h.ok && h.error.message, 'the backend answered content-type text/html, not JSON')
  const bad = interpret(200, 'application/json', Buffer.from('{'), 'GET')
  assert.equal(!bad.ok && bad.error.message, 'the backend answered invalid JSON')
  assert.deepEqual(interpret(204, undefined, Buffer.alloc(0), 'GET'), { ok: true, data: null })
  assert.ok(!interpret(200, undefined, Buffer.from('x'), 'GET').ok)
})

test('create: an unknown upstream or a bad graph fails at compile time', () => {
  const env = testPluginEnv()
  assert.throws(() => plugin.create({ backends: [b({})] } as never, env), /unknown upstream "u"/)
  assert.throws(() => plugin.create({ backends: [b({}), b({})] } as never, { ...env, upstream: () => undefined }), /duplicate/)
})

test('validate: an aggregate backend naming an unknown upstream is a config error at its YAML path', async () => {
  const { loadConfigText } = await import('../../../src/config/load.js')
  const { formatErrors } = await import('../../../src/config/errors.js')
  const r = loadConfigText(
    `upstreams:\n  users: { targets: [ { url: "http://127.0.0.1:1" } ] }\nroutes:\n  - name: a\n    paths: [/a]\n    upstream: users\n    plugins:\n      - name: aggregate\n        config: { backends: [ { name: x, upstream: userz, path: /x } ] }\n`,
    'agg.yaml', { checks: INSTALLED_CHECKS })
  assert.equal(r.ok, false)
  const text = formatErrors((r as { errors: Parameters<typeof formatErrors>[0] }).errors)
  assert.match(text, /routes\[0\]\.plugins\[0\]\.config\.backends\[0\]\.upstream/)
  assert.match(text, /unknown upstream "userz"/)
  assert.match(text, /users/)
})
