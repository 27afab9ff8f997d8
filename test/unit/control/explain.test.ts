// POST /admin/explain's core: the route a request would hit, matched by the worker's own router
// (normalization, hosts, methods, headers, precedence) on a config document.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Config } from '../../../src/config/schema/index.js'
import { BadExplain, explain, parseExplain } from '../../../src/control/admin/explain.js'

const config = {
  upstreams: {
    users: { targets: [{ url: 'http://10.0.0.5:8080', weight: 3 }, { url: 'http://10.0.0.6:8080' }] },
    v2: { targets: [{ url: 'http://10.0.0.7:8080' }] },
  },
  plugins: [{ name: 'cors' }],
  routes: [
    { name: 'users', hosts: ['api.example.com'], methods: ['GET', 'POST'], paths: ['/users/:id', '/users'], upstream: 'users', strip_prefix: '/users', plugins: [{ name: 'key-auth' }] },
    { name: 'canary', paths: ['/users/*'], headers: { 'x-canary': '1' }, upstream: 'v2', plugins: [{ name: 'cors', enabled: false }] },
    { name: 'split', paths: ['/split/*'], upstreams: [{ name: 'users', weight: 90 }, { name: 'v2', weight: 10 }] },
  ],
} as unknown as Config

test('a matching request names the route, its params, plugins in effect and the targets', () => {
  const full = explain(config, { method: 'GET', url: 'http://API.example.com:8080/users/42?x=1' })
  assert.ok(full.matched)
  // The path sent upstream and the phases in run order come from control/explain.ts (as `portico explain`).
  const { phases, pipeline, upstream_path, ...e } = full
  assert.equal(upstream_path, '/42')
  assert.deepEqual(
    pipeline.filter((p) => p.phase === 'access'),
    [
      { name: 'cors', phase: 'access', priority: 4000, from: 'global' },
      { name: 'key-auth', phase: 'access', priority: 2500, from: 'route' },
    ],
  )
  assert.deepEqual(phases.access?.map((p) => p.name), ['cors', 'key-auth'])
  assert.deepEqual(e, {
    matched: true,
    route: 'users',
    params: { id: '42' },
    plugins: ['cors', 'key-auth'],
    upstream: 'users',
    targets: [
      { upstream: 'users', url: 'http://10.0.0.5:8080', weight: 3 },
      { upstream: 'users', url: 'http://10.0.0.6:8080', weight: 1 },
    ],
    strip_prefix: '/users',
  })
})

test('the path is normalized as a worker does it, and headers and hosts take part in the match', () => {
  assert.equal((explain(config, { method: 'GET', url: '/x/../users/a/b', headers: { 'X-Canary': '1' } }) as { route: string }).route, 'canary')
  const canary = explain(config, { method: 'GET', url: '/users/7', headers: { host: 'other.example.com', 'x-canary': '1' } })
  assert.equal(canary.matched && canary.route, 'canary')
  assert.deepEqual(canary.matched && canary.plugins, [], 'cors is disabled on this route')
  const split = explain(config, { method: 'DELETE', url: '/split/a' })
  assert.equal(split.matched && split.upstream, 'users:90 v2:10')
  assert.deepEqual(split.matched && split.targets.map((t) => t.upstream), ['users', 'users', 'v2'])
})

test('no route, a method the route does not allow, and an unroutable path say so', () => {
  assert.deepEqual(explain(config, { method: 'GET', url: '/nope' }), { matched: false, status: 404, error: 'route_not_found', message: 'no route for GET /nope' })
  const m = explain(config, { method: 'DELETE', url: '/users', headers: { host: 'api.example.com' } })
  assert.equal(m.matched, false)
  assert.equal(!m.matched && m.status, 405)
  assert.equal(!m.matched && m.allow, 'GET, HEAD, POST')
  const bad = explain(config, { method: 'GET', url: '/a/%2e%2e/%00' })
  assert.equal(!bad.matched && bad.status, 400)
})

test('the body is checked: unknown fields, a bad method or URL are a BadExplain', () => {
  assert.deepEqual(parseExplain({ url: '/a', method: 'get', headers: { 'X-A': 'b' } }), { method: 'GET', url: '/a', headers: { 'x-a': 'b' } })
  assert.deepEqual(parseExplain({ route: 'users' }), { method: 'GET', url: '', route: 'users' })
  for (const body of [{ route: '' }, { route: 1 }, { route: 'users', url: '/a' }, { route: 'users', method: 'GET' }, null, [], { url: '' }, { url: '/a', method: 'G E T' }, { url: '/a', extra: 1 }, { url: '/a', headers: { a: 1 } }, { url: 'x'.repeat(9000) }]) {
    assert.throws(() => parseExplain(body), BadExplain, JSON.stringify(body).slice(0, 60))
  }
})

test('a route by name: its compiled pipeline in run order (phase, then priority), not in the order the config lists it', () => {
  const listed = {
    ...config,
    plugins: [],
    routes: [{ name: 'mixed', paths: ['/m'], upstream: 'v2', plugins: [{ name: 'cache' }, { name: 'rate-limit', config: { limit: 5, window: '1s' } }, { name: 'key-auth' }, { name: 'cors' }] }],
  } as unknown as Config
  const e = explain(listed, { method: 'GET', url: '', route: 'mixed' })
  assert.ok(e.matched)
  assert.equal(e.upstream_path, null)
  assert.deepEqual(e.params, {})
  assert.equal(e.upstream, 'v2')
  const access = e.pipeline.filter((p) => p.phase === 'access').map((p) => `${p.name}@${p.priority}`)
  assert.deepEqual(e.pipeline.filter((p) => p.phase === 'beforeUpstream').map((p) => p.name), ['cache'])
  assert.deepEqual(access, ['cors@4000', 'key-auth@2500', 'rate-limit@1000'])
  // Phases in the order a worker runs them; within a phase, the priority order.
  const PHASES = ['rewrite', 'access', 'beforeUpstream', 'response', 'log']
  for (let i = 1; i < e.pipeline.length; i++) {
    const a = e.pipeline[i - 1]!
    const b = e.pipeline[i]!
    assert.ok(PHASES.indexOf(a.phase) < PHASES.indexOf(b.phase) || (a.phase === b.phase && a.priority >= b.priority), JSON.stringify([a, b]))
  }
  assert.deepEqual(e.plugins, [...new Set(e.pipeline.map((p) => p.name))])
  const none = explain(listed, { method: 'GET', url: '', route: 'nope' })
  assert.equal(!none.matched && none.status, 404)
})
