// The admin REST API against a running gateway: every operation on every resource kind, roles,
// ETag/If-Match (412), 409 on create-existing, 422 with the file's error shape, dry runs, secrets
// redacted on the way out and kept on round trips, the audit log file and the request counter.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

const ADMIN = 'adm-token-0123456789abcdef'
const EDITOR = 'edi-token-0123456789abcdef'
const VIEWER = 'vie-token-0123456789abcdef'
const KEY = 'consumer-key-0123456789-secret'
const HMAC_SECRET = 'hmac-secret-0123456789-abcdef'
/** Read from a file through a ${file:} reference on a key redaction does not know (a header matcher). */
const SHARED = 'shared-header-secret-0123456789'
const hex = (s: string) => createHash('sha256').update(s).digest('hex')

// Response bodies are read loosely: each test asserts the fields it cares about.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Json
  text: string
}

async function call(gw: Gateway, method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) }
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
  if (opts.body !== undefined) headers['content-type'] ??= 'application/json'
  const res = await request(`${gw.adminUrl}${path}`, {
    method: method as 'GET',
    headers,
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  })
  const text = await res.body.text()
  let body: Json = {}
  try {
    body = text === '' ? {} : JSON.parse(text)
  } catch {
    // not JSON
  }
  return { status: res.statusCode, headers: res.headers, body, text }
}

// Both ways the data plane runs: in the primary's process, and in cluster workers the primary asks.
for (const mode of ['single process', 'cluster'] as const)
describe(`admin REST API (${mode})`, () => {
  let origin: Origin
  let other: Origin
  let gw: Gateway
  let dir: string
  let auditFile: string

  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`one ${req.url}`)
    })
    other = await startOrigin((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`two ${req.url}`)
    })
    dir = await mkdtemp(join(tmpdir(), 'portico-audit-'))
    auditFile = join(dir, 'audit.jsonl')
    gw = await startGateway({
      config: {
        admin: {
          tokens: [
            { name: 'ops', role: 'admin', sha256: hex(ADMIN) },
            { name: 'ci', role: 'editor', sha256: hex(EDITOR) },
            { name: 'dash', role: 'viewer', sha256: hex(VIEWER) },
          ],
          audit_log: auditFile,
        },
        upstreams: { one: { targets: [{ url: origin.url }] } },
        routes: [{ name: 'one', paths: ['/one/*'], upstream: 'one' }],
        consumers: [{ name: 'alice', credentials: { key_auth: [KEY], hmac_auth: [{ key_id: 'alice-1', secret: HMAC_SECRET }] } }],
      },
      args: mode === 'cluster' ? ['--workers', '2'] : ['--no-cluster'],
      readyTimeoutMs: 90_000,
    })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
    await other?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('no token: 401; viewer reads; viewer cannot write (403); a wrong token is refused', async () => {
    assert.equal((await call(gw, 'GET', '/admin/routes')).status, 401)
    assert.equal((await call(gw, 'GET', '/admin/routes', { token: 'nope-nope-nope' })).status, 401)
    const list = await call(gw, 'GET', '/admin/routes', { token: VIEWER })
    assert.equal(list.status, 200)
    assert.deepEqual(list.body.data.map((r: { name: string }) => r.name), ['one'])
    const denied = await call(gw, 'POST', '/admin/routes', { token: VIEWER, body: { name: 'x', paths: ['/x'], upstream: 'one' } })
    assert.equal(denied.status, 403)
    assert.equal(denied.body.error, 'forbidden')
    assert.equal(typeof denied.body.request_id, 'string')
    // Viewers may read /status and /metrics; revocations and cache purges need admin.
    assert.equal((await call(gw, 'GET', '/status', { token: VIEWER })).status, 200)
    assert.equal((await call(gw, 'GET', '/metrics', { token: VIEWER })).status, 200)
    assert.equal((await call(gw, 'DELETE', '/admin/cache?prefix=', { token: EDITOR })).status, 403)
  })

  test('secrets never come back: consumer keys and hmac secrets are redacted in every read', async () => {
    for (const path of ['/admin/consumers', '/admin/consumers/alice', '/admin/config']) {
      const r = await call(gw, 'GET', path, { token: ADMIN })
      assert.equal(r.status, 200, path)
      assert.ok(!r.text.includes(KEY), `${path} leaks the key`)
      assert.ok(!r.text.includes(HMAC_SECRET), `${path} leaks the hmac secret`)
      assert.ok(r.text.includes('[REDACTED]'), path)
    }
    const cfg = await call(gw, 'GET', '/admin/config', { token: ADMIN })
    assert.ok(!cfg.text.includes(hex(ADMIN)), 'token hashes are write-only too')
  })

  test('create a route and an upstream: traffic follows; create again is 409; get by name has an ETag', async () => {
    const up = await call(gw, 'PUT', '/admin/upstreams/two', { token: EDITOR, body: { targets: [{ url: other.url }] } })
    assert.equal(up.status, 201, up.text)
    assert.equal(up.body.data.name, 'two')
    const created = await call(gw, 'POST', '/admin/routes', { token: EDITOR, body: { name: 'two', paths: ['/two/*'], upstream: 'two' } })
    assert.equal(created.status, 201, created.text)
    assert.ok(created.body.version > 1)
    assert.deepEqual(created.body.changes, [{ kind: 'routes', name: 'two', op: 'create' }])
    const res = await request(`${gw.url}/two/x`)
    assert.equal(await res.body.text(), 'two /two/x')
    const again = await call(gw, 'POST', '/admin/routes', { token: EDITOR, body: { name: 'two', paths: ['/two/*'], upstream: 'two' } })
    assert.equal(again.status, 409)
    assert.equal(again.body.error, 'already_exists')
    const one = await call(gw, 'GET', '/admin/routes/two', { token: VIEWER })
    assert.equal(one.status, 200)
    assert.match(String(one.headers.etag), /^"[0-9a-f]{20}"$/)
    assert.equal((await call(gw, 'GET', '/admin/routes/nope', { token: VIEWER })).status, 404)
  })

  test('If-Match: a stale ETag is 412 and changes nothing; the current one wins', async () => {
    const read = await call(gw, 'GET', '/admin/routes/two', { token: EDITOR })
    const etag = String(read.headers.etag)
    const first = await call(gw, 'PATCH', '/admin/routes/two', { token: EDITOR, body: { strip_prefix: '/two' }, headers: { 'if-match': etag, 'content-type': 'application/merge-patch+json' } })
    assert.equal(first.status, 200, first.text)
    assert.equal(first.body.data.strip_prefix, '/two')
    assert.notEqual(first.headers.etag, etag)
    const lost = await call(gw, 'PATCH', '/admin/routes/two', { token: EDITOR, body: { strip_prefix: '/nope' }, headers: { 'if-match': etag } })
    assert.equal(lost.status, 412)
    assert.equal(lost.body.error, 'precondition_failed')
    assert.equal(lost.body.current_etag, first.headers.etag)
    const res = await request(`${gw.url}/two/y`)
    assert.equal(await res.body.text(), 'two /y')
  })

  test('concurrent writers holding the same ETag: exactly one wins', async () => {
    const etag = String((await call(gw, 'GET', '/admin/routes/two', { token: EDITOR })).headers.etag)
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) => call(gw, 'PATCH', '/admin/routes/two', { token: EDITOR, body: { priority: i }, headers: { 'if-match': etag } })),
    )
    const statuses = results.map((r) => r.status).sort()
    assert.deepEqual(statuses, [200, 412, 412, 412])
  })

  test('invalid writes: 422 with path, message and did-you-mean; the old config keeps serving', async () => {
    const before = await call(gw, 'GET', '/admin/config', { token: VIEWER })
    const bad = await call(gw, 'PUT', '/admin/routes/three', { token: EDITOR, body: { paths: ['/three'], upstream: 'one', timeots: { read: '1s' } } })
    assert.equal(bad.status, 422, bad.text)
    assert.equal(bad.body.error, 'config_invalid')
    const e = bad.body.errors.find((x: { path: string }) => x.path.startsWith('routes[2]'))
    assert.ok(e, bad.text)
    assert.match(e.hint, /did you mean "timeouts"/)
    const dangling = await call(gw, 'DELETE', '/admin/upstreams/two', { token: EDITOR })
    assert.equal(dangling.status, 422, 'route two still uses upstream two')
    assert.match(JSON.stringify(dangling.body.errors), /two/)
    const after = await call(gw, 'GET', '/admin/config', { token: VIEWER })
    assert.equal(after.body.version, before.body.version)
    assert.equal(after.headers.etag, before.headers.etag)
    assert.equal((await call(gw, 'POST', '/admin/routes', { token: EDITOR, body: '{nope', headers: { 'content-type': 'application/json' } })).status, 400)
    assert.equal((await call(gw, 'POST', '/admin/routes', { token: EDITOR, body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 415)
  })

  test('dry_run reports the changes and the validation result and applies nothing', async () => {
    const before = await call(gw, 'GET', '/admin/config', { token: VIEWER })
    const dry = await call(gw, 'DELETE', '/admin/routes/two?dry_run=true', { token: EDITOR })
    assert.equal(dry.status, 200, dry.text)
    assert.equal(dry.body.dry_run, true)
    assert.equal(dry.body.valid, true)
    assert.deepEqual(dry.body.changes, [{ kind: 'routes', name: 'two', op: 'delete' }])
    const dryBad = await call(gw, 'PUT', '/admin/routes/four?dry_run=true', { token: EDITOR, body: { paths: ['/four'], upstream: 'missing' } })
    assert.equal(dryBad.status, 422)
    assert.deepEqual(dryBad.body.changes, [{ kind: 'routes', name: 'four', op: 'create' }])
    assert.equal((await call(gw, 'GET', '/admin/config', { token: VIEWER })).headers.etag, before.headers.etag)
    assert.equal((await request(`${gw.url}/two/z`)).statusCode, 200)
  })

  test('a consumer read, edited and written back keeps its secrets (placeholders are restored)', async () => {
    const read = await call(gw, 'GET', '/admin/consumers/alice', { token: EDITOR })
    const body = { ...read.body.data, roles: ['beta'] }
    const w = await call(gw, 'PUT', '/admin/consumers/alice', { token: EDITOR, body, headers: { 'if-match': String(read.headers.etag) } })
    assert.equal(w.status, 200, w.text)
    assert.deepEqual(w.body.changes, [{ kind: 'consumers', name: 'alice', op: 'update' }])
    // A placeholder where no secret existed is refused.
    const fresh = await call(gw, 'PUT', '/admin/consumers/bob', { token: EDITOR, body: { name: 'bob', credentials: { key_auth: ['[REDACTED]'] } } })
    assert.equal(fresh.status, 422)
    assert.match(fresh.body.errors[0].message, /placeholder/)
  })

  test('global plugins by name, and the editor may not touch the admin section', async () => {
    const p = await call(gw, 'PUT', '/admin/plugins/headers', { token: EDITOR, body: { config: { response: { set: { 'x-admin-api': 'yes' } } } } })
    assert.equal(p.status, 201, p.text)
    const res = await request(`${gw.url}/one/a`)
    await res.body.dump()
    assert.equal(res.headers['x-admin-api'], 'yes')
    const cfg = await call(gw, 'GET', '/admin/config', { token: EDITOR })
    const sneaky = await call(gw, 'PATCH', '/admin/config', { token: EDITOR, body: { admin: { tokens: [{ name: 'me', role: 'admin', sha256: hex('mine-mine-mine') }] } }, headers: { 'if-match': String(cfg.headers.etag) } })
    assert.equal(sneaky.status, 403, sneaky.text)
    assert.equal((await call(gw, 'DELETE', '/admin/plugins/headers', { token: EDITOR })).status, 200)
    const res2 = await request(`${gw.url}/one/a`)
    await res2.body.dump()
    assert.equal(res2.headers['x-admin-api'], undefined)
  })

  test('PUT /admin/config round-trips its own GET (redacted) with no change', async () => {
    const cfg = await call(gw, 'GET', '/admin/config', { token: ADMIN })
    const put = await call(gw, 'PUT', '/admin/config', { token: ADMIN, body: cfg.body.data, headers: { 'if-match': String(cfg.headers.etag) } })
    assert.equal(put.status, 200, put.text)
    assert.deepEqual(put.body.changes, [])
    assert.equal(put.body.version, cfg.body.version)
    // The consumer key still works through the whole-document write (key-auth on a new route).
    const stale = await call(gw, 'PUT', '/admin/config', { token: ADMIN, body: cfg.body.data, headers: { 'if-match': '"0000"' } })
    assert.equal(stale.status, 412)
  })

  test('the audit log has one line per write, redacted, with token, role and versions', async () => {
    await pollUntil(async () => (await readFile(auditFile, 'utf8').catch(() => '')).includes('"PUT","resource":"/admin/config"'), { timeoutMs: 5000, what: 'audit line' })
    const text = await readFile(auditFile, 'utf8')
    assert.ok(!text.includes(KEY) && !text.includes(HMAC_SECRET) && !text.includes(hex(ADMIN)), 'audit lines are redacted')
    const lines = text.trim().split('\n').map((l) => JSON.parse(l))
    const create = lines.find((l) => l.method === 'POST' && l.resource === '/admin/routes' && l.status === 201)
    assert.ok(create)
    assert.equal(create.token, 'ci')
    assert.equal(create.role, 'editor')
    assert.equal(create.client, '127.0.0.1')
    assert.equal(create.version_after, create.version_before + 1)
    assert.equal(create.diff[0].after.name, 'two')
    assert.ok(lines.some((l) => l.status === 403 && l.token === 'dash'), 'refused writes are audited')
    assert.ok(lines.some((l) => l.status === 412), 'lost updates are audited')
    const m = await call(gw, 'GET', '/metrics', { token: VIEWER })
    assert.match(m.text, /portico_admin_requests_total\{op="create",result="ok"\} [1-9]/)
    assert.match(m.text, /portico_admin_requests_total\{op="patch",result="precondition_failed"\} [1-9]/)
  })

  test('the browser guard covers the config API: foreign Host, foreign Origin and text/plain writes are refused', async () => {
    const port = new URL(gw.adminUrl).port
    const rebound = await call(gw, 'GET', '/admin/config', { token: ADMIN, headers: { host: `evil.example:${port}` } })
    assert.equal(rebound.status, 403)
    assert.ok(!rebound.text.includes('"data"'))
    const foreign = await call(gw, 'PUT', '/admin/routes/csrf', { token: ADMIN, body: { paths: ['/csrf'], upstream: 'one' }, headers: { origin: 'https://evil.example' } })
    assert.equal(foreign.status, 403)
    const plain = await call(gw, 'POST', '/admin/routes', { token: ADMIN, body: JSON.stringify({ name: 'csrf', paths: ['/csrf'], upstream: 'one' }), headers: { 'content-type': 'text/plain' } })
    assert.equal(plain.status, 415)
    assert.equal((await call(gw, 'GET', '/admin/routes/csrf', { token: ADMIN })).status, 404, 'nothing was created')
  })
})

describe('secret references in a served config', () => {
  let origin: Origin
  let gw: Gateway
  let dir: string
  let auditFile: string
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`shared ${req.url}`)
    })
    dir = await mkdtemp(join(tmpdir(), 'portico-secret-'))
    auditFile = join(dir, 'audit.jsonl')
    await writeFile(join(dir, 'shared'), `${SHARED}\n`, { mode: 0o600 })
    gw = await startGateway({
      config: {
        admin: { tokens: [{ name: 'ops', role: 'admin', sha256: hex(ADMIN) }], audit_log: auditFile },
        upstreams: { one: { targets: [{ url: origin.url }] } },
        routes: [{ name: 'shared', paths: ['/shared'], headers: { 'x-shared': `\${file:${join(dir, 'shared')}}` }, upstream: 'one' }],
      },
      args: ['--no-cluster'],
      readyTimeoutMs: 90_000,
    })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('a ${file:} secret serves but is never returned, audited or logged: reads show the reference', async () => {
    const hit = await request(`${gw.url}/shared`, { headers: { 'x-shared': SHARED } })
    assert.equal(await hit.body.text(), 'shared /shared', 'the reference resolved to the file content')
    const miss = await request(`${gw.url}/shared`, { headers: { 'x-shared': 'wrong' } })
    await miss.body.dump()
    assert.equal(miss.statusCode, 404)
    for (const path of ['/admin/config', '/admin/routes', '/admin/routes/shared', '/status']) {
      const r = await call(gw, 'GET', path, { token: ADMIN })
      assert.equal(r.status, 200, path)
      assert.ok(!r.text.includes(SHARED), `${path} leaks the file secret`)
    }
    const one = await call(gw, 'GET', '/admin/routes/shared', { token: ADMIN })
    assert.equal(one.body.data.headers['x-shared'], `\${file:${join(dir, 'shared')}}`)
    // A write touching the route keeps the reference, not the value.
    const patched = await call(gw, 'PATCH', '/admin/routes/shared', { token: ADMIN, body: { priority: 3 }, headers: { 'if-match': String(one.headers.etag) } })
    assert.equal(patched.status, 200, patched.text)
    assert.ok(!patched.text.includes(SHARED))
    const hit2 = await request(`${gw.url}/shared`, { headers: { 'x-shared': SHARED } })
    assert.equal(hit2.statusCode, 200)
    await hit2.body.dump()
    await pollUntil(async () => (await readFile(auditFile, 'utf8').catch(() => '')).includes('/admin/routes/shared'), { timeoutMs: 5000, what: 'audit line' })
    assert.ok(!(await readFile(auditFile, 'utf8')).includes(SHARED), 'audit log')
    assert.ok(!gw.stdout().includes(SHARED) && !gw.stderr().includes(SHARED), 'gateway log')
  })

  test('file source: an admin write serves from memory until the file changes; then the file (as written) wins', async () => {
    const created = await call(gw, 'PUT', '/admin/routes/mem', { token: ADMIN, body: { paths: ['/mem'], upstream: 'one' } })
    assert.equal(created.status, 201, created.text)
    const mem = await request(`${gw.url}/mem`)
    assert.equal(mem.statusCode, 200)
    await mem.body.dump()
    await gw.writeConfig({
      admin: { tokens: [{ name: 'ops', role: 'admin', sha256: hex(ADMIN) }], audit_log: auditFile },
      upstreams: { one: { targets: [{ url: origin.url }] } },
      routes: [
        { name: 'shared', paths: ['/shared'], headers: { 'x-shared': `\${file:${join(dir, 'shared')}}` }, upstream: 'one' },
        { name: 'edited', paths: ['/edited'], upstream: 'one' },
      ],
    })
    await pollUntil(async () => (await call(gw, 'GET', '/admin/routes/edited', { token: ADMIN })).status === 200, { timeoutMs: 30_000, what: 'the edited file serves' })
    assert.equal((await call(gw, 'GET', '/admin/routes/mem', { token: ADMIN })).status, 404, 'the file replaced the in-memory write')
    const cfg = await call(gw, 'GET', '/admin/config', { token: ADMIN })
    assert.ok(cfg.text.includes('${file:') && !cfg.text.includes(SHARED), 'read back as written')
  })
})
