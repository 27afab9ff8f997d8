// `portico explain`: the route, upstream path, plugin order and targets a request would get, from
// the same route table, normalization, Host check and plugin merge the data plane uses; and the
// command itself (the built CLI) printing it, or the 404/405/400 the gateway would answer.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfigText, formatErrors } from '../../../src/config/index.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { BUILTIN_PLUGINS } from '../../../src/plugins/registry.js'
import { explainRequest, formatExplanation } from '../../../src/control/explain.js'
import { runCli } from '../../helpers/gateway.js'

const YAML = `
plugins:
  - name: cors
    config: { origins: ["https://app.example"] }
upstreams:
  users: { targets: [ { url: "http://svc:s3cret@127.0.0.1:8081", weight: 3 }, { url: "http://127.0.0.1:8082" } ] }
  canary: { targets: [ { url: "http://127.0.0.1:8083" } ] }
consumers:
  - name: alice
    credentials: { key_auth: ["alice-key-0123456789abcdef"] }
routes:
  - name: user
    hosts: [api.example.com]
    methods: [GET]
    paths: [/api/users/:id]
    strip_prefix: /api
    upstreams: [ { name: users, weight: 95 }, { name: canary, weight: 5 } ]
    plugins:
      - name: key-auth
      - name: rate-limit
        config: { limits: [ { limit: 10, window: 1s } ] }
      - name: request-transformer
        config: { headers: { set: { x-a: "1" } } }
  - name: files
    paths: [/files/*]
    upstream: users
    plugins: [ { name: cors, enabled: false } ]
`

function config() {
  const r = loadConfigText(YAML, 'c.yaml', { checks: INSTALLED_CHECKS })
  assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
  return r.config
}

test('a routed request: route, params, upstream path, plugins per phase in run order, weighted upstreams', () => {
  const e = explainRequest(config(), BUILTIN_PLUGINS, { method: 'get', url: 'http://api.example.com:8080/api/users/7?x=1' })
  assert.equal(e.outcome, 'routed')
  assert.equal(e.host, 'api.example.com')
  assert.equal(e.query, 'x=1')
  const r = e.route!
  assert.equal(r.name, 'user')
  assert.deepEqual({ ...r.params }, { id: '7' })
  assert.equal(r.upstream_path, '/users/7')
  // Auth before the limit before the transformer (their priorities); the global cors first.
  assert.deepEqual(r.plugins.access?.map((p) => p.name), ['cors', 'key-auth', 'rate-limit', 'request-transformer'])
  assert.equal(r.plugins.access?.[0]?.from, 'global')
  assert.deepEqual(r.upstreams.map((u) => [u.name, u.weight]), [['users', 95], ['canary', 5]])
  const targets = r.upstreams[0]!.targets as Array<{ url: string; weight?: number }>
  assert.deepEqual(targets.map((t) => t.weight), [3, undefined])
  assert.ok(!JSON.stringify(e).includes('s3cret'), 'target passwords are not shown')
  const text = formatExplanation(e)
  assert.match(text, /route {6}user {2}\(id=7\)/)
  assert.match(text, /access {5}cors \(global\) → key-auth → rate-limit → request-transformer/)
})

test('what the gateway would answer instead: 404, 405 with Allow, 400 for a bad Host or path; a route can switch a global plugin off', () => {
  const c = config()
  assert.equal(explainRequest(c, BUILTIN_PLUGINS, { method: 'GET', url: 'http://other.example/api/users/7' }).outcome, 'route_not_found')
  const e405 = explainRequest(c, BUILTIN_PLUGINS, { method: 'DELETE', url: 'http://api.example.com/api/users/7' })
  assert.equal(e405.outcome, 'method_not_allowed')
  assert.equal(e405.allow, 'GET, HEAD')
  assert.equal(explainRequest(c, BUILTIN_PLUGINS, { method: 'GET', url: '/files/a', headers: { Host: 'victim:@evil' } }).outcome, 'invalid_host')
  assert.equal(explainRequest(c, BUILTIN_PLUGINS, { method: 'GET', url: '/files/%2e%2e/%2e%2e/etc' }).outcome === 'routed', false)
  // Normalized as the router sees it: dot segments resolved.
  const files = explainRequest(c, BUILTIN_PLUGINS, { method: 'GET', url: 'http://x/files/a/../b' })
  assert.equal(files.path, '/files/b')
  assert.equal(files.route?.plugins.access, undefined, 'cors is enabled: false on this route')
  // A CORS preflight goes to the route of the method it asks about.
  const pre = explainRequest(c, BUILTIN_PLUGINS, { method: 'OPTIONS', url: 'http://api.example.com/api/users/7', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } })
  assert.equal(pre.route?.name, 'user')
})

test('portico explain (the built CLI): text, --json, and a usage error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-explain-'))
  try {
    const file = join(dir, 'portico.yaml')
    await writeFile(file, YAML)
    const text = await runCli(['explain', '-c', file, '-H', 'Host: api.example.com', 'GET', '/api/users/42'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /route {6}user {2}\(id=42\)/)
    const json = await runCli(['explain', '-c', file, '--json', 'POST', 'http://api.example.com/api/users/42'])
    assert.equal(json.code, 0, json.stderr)
    assert.equal((JSON.parse(json.stdout) as { outcome: string }).outcome, 'method_not_allowed')
    const bad = await runCli(['explain', '-c', file, 'GET'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /explain needs <METHOD> <URL>/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
