// Attacks on the web console the admin listener serves at /ui: reading files outside dist/ui by
// path traversal (plain, percent-encoded, double-encoded, backslashes, NUL), calling the API
// without a token or with a cookie instead of the header (CSRF rides on cookies), framing the page
// (clickjacking) or loading it cross-site, inline script (what CSP forbids), and a data-plane port
// that would serve the console. One real gateway (--no-cluster) for the file.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request } from 'undici'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { rawRequest } from '../helpers/raw.js'

const TOKEN = 'console-security-admin-token-42'
const VIEWER = 'console-security-viewer-token-42'
const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)

describe('web console at /ui', () => {
  let gw: Gateway
  let html: string
  let headers: Record<string, string | string[] | undefined>
  before(async () => {
    gw = await startGateway({
      args: ['--no-cluster'],
      config: {
        admin: {
          tokens: [
            { name: 'ops', role: 'admin', sha256: sha(TOKEN) },
            { name: 'dashboards', role: 'viewer', sha256: sha(VIEWER) },
          ],
        },
        upstreams: { backend: { targets: [{ url: 'http://127.0.0.1:9' }] } },
        routes: [{ name: 'api', paths: ['/api/*'], upstream: 'backend' }],
      },
    })
    const r = await request(`${gw.adminUrl}/ui/`)
    assert.equal(r.statusCode, 200)
    headers = r.headers
    html = await r.body.text()
  })
  after(() => gw?.stop())

  test('without a token the console loads, and every API call it makes answers 401', async () => {
    assert.match(html, /<div id="app">/)
    for (const path of ['/admin/session', '/status', '/metrics', '/admin/config', '/admin/routes', '/admin/upstreams', '/admin/consumers', '/admin/audit']) {
      const r = await request(`${gw.adminUrl}${path}`, { headers: { accept: 'application/json' } })
      const body = await r.body.text()
      assert.equal(r.statusCode, 401, `${path}: ${body}`)
      assert.ok(!body.includes('"routes"') && !body.includes('backend'), `${path} leaks nothing`)
    }
    const write = await request(`${gw.adminUrl}/admin/routes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', paths: ['/x'], upstream: 'backend' }) })
    await write.body.dump()
    assert.equal(write.statusCode, 401)
  })

  test('the token is only taken from the Authorization header: a cookie or a query parameter holding it gets 401', async () => {
    const ok = await request(`${gw.adminUrl}/admin/session`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(ok.statusCode, 200)
    assert.deepEqual(((await ok.body.json()) as { data: unknown }).data, { name: 'ops', role: 'admin' })
    for (const cookie of [`token=${TOKEN}`, `authorization=Bearer ${TOKEN}`, `portico.admin-token=${TOKEN}`]) {
      for (const path of ['/admin/session', '/admin/routes']) {
        const r = await request(`${gw.adminUrl}${path}`, { headers: { cookie } })
        await r.body.dump()
        assert.equal(r.statusCode, 401, `${path} with Cookie: ${cookie.split('=')[0]}`)
      }
      const w = await request(`${gw.adminUrl}/admin/routes`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'c', paths: ['/c'], upstream: 'backend' }) })
      await w.body.dump()
      assert.equal(w.statusCode, 401, 'a cookie never authorizes a write')
    }
    for (const q of [`token=${TOKEN}`, `access_token=${TOKEN}`, `authorization=Bearer%20${TOKEN}`]) {
      const r = await request(`${gw.adminUrl}/admin/session?${q}`)
      await r.body.dump()
      assert.equal(r.statusCode, 401, `?${q.split('=')[0]}`)
    }
  })

  test('the audit trail is for roles that may write: a viewer gets 403, and what it records names no token', async () => {
    const viewer = await request(`${gw.adminUrl}/admin/audit`, { headers: { authorization: `Bearer ${VIEWER}` } })
    await viewer.body.dump()
    assert.equal(viewer.statusCode, 403)
    const refused = await request(`${gw.adminUrl}/admin/routes/api`, { method: 'DELETE', headers: { authorization: `Bearer ${VIEWER}` } })
    await refused.body.dump()
    assert.equal(refused.statusCode, 403)
    const a = await request(`${gw.adminUrl}/admin/audit`, { headers: { authorization: `Bearer ${TOKEN}` } })
    const text = await a.body.text()
    assert.equal(a.statusCode, 200)
    const records = (JSON.parse(text) as { data: Array<{ token: string; role: string; method: string; status: number }> }).data
    assert.ok(records.some((r) => r.token === 'dashboards' && r.role === 'viewer' && r.method === 'DELETE' && r.status === 403), text)
    assert.ok(!text.includes(TOKEN) && !text.includes(VIEWER) && !text.includes(sha(VIEWER)), 'no token or token hash in the audit answer')
  })

  test('the served HTML has no token, no inline script and no inline style; the bundle sends the token as a header only', async () => {
    const withToken = await request(`${gw.adminUrl}/ui/`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.ok(!(await withToken.body.text()).includes(TOKEN))
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    assert.ok(scripts.length > 0)
    for (const [, attrs, body] of scripts) {
      assert.match(attrs!, /\bsrc="\/ui\/assets\/[^"]+\.js"/, 'every script is a file under /ui/assets')
      assert.equal(body!.trim(), '', 'no inline script')
    }
    assert.ok(!/<style\b|\sstyle=|\son[a-z]+=/i.test(html), 'no inline style or event handler attributes')
    const js = html.match(/src="(\/ui\/assets\/[^"]+\.js)"/)![1]!
    const bundle = await (await request(`${gw.adminUrl}${js}`)).body.text()
    assert.match(bundle, /Bearer /)
    assert.ok(!/[?&](access_)?token=/.test(bundle), 'the bundle never puts a token in a query string')
    assert.ok(!/document\.cookie/.test(bundle), 'the bundle never touches cookies')
  })

  test('strict Content-Security-Policy, no framing, nosniff, content types and cache headers', async () => {
    const csp = String(headers['content-security-policy'])
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'(;|$)/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.match(csp, /connect-src 'self'/)
    assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp)
    assert.equal(headers['x-frame-options'], 'DENY')
    assert.equal(headers['x-content-type-options'], 'nosniff')
    assert.equal(headers['content-type'], 'text/html; charset=utf-8')
    assert.equal(headers['cache-control'], 'no-cache', 'index.html is revalidated, so a new build is picked up')
    const js = html.match(/src="(\/ui\/assets\/[^"]+\.js)"/)![1]!
    const css = html.match(/href="(\/ui\/assets\/[^"]+\.css)"/)![1]!
    for (const [path, type] of [
      [js, 'text/javascript; charset=utf-8'],
      [css, 'text/css; charset=utf-8'],
    ] as const) {
      const r = await request(`${gw.adminUrl}${path}`)
      await r.body.dump()
      assert.equal(r.statusCode, 200)
      assert.equal(r.headers['content-type'], type)
      assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable', 'hashed assets are cached for good')
      assert.equal(r.headers['x-content-type-options'], 'nosniff')
      assert.ok(String(r.headers['content-security-policy']).includes("frame-ancestors 'none'"))
    }
    const redirect = await request(`${gw.adminUrl}/ui`)
    await redirect.body.dump()
    assert.equal(redirect.statusCode, 308)
    assert.equal(redirect.headers.location, '/ui/')
    const post = await request(`${gw.adminUrl}/ui/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    await post.body.dump()
    assert.equal(post.statusCode, 405)
  })

  test('path traversal on /ui, encoded or not, gets 404 and never a file outside dist/ui', async () => {
    const secrets = [readFileSync('/etc/passwd', 'utf8').split('\n')[0]!, readFileSync('package.json', 'utf8').slice(0, 40)]
    const paths = [
      '/ui/../../etc/passwd',
      '/ui/../../../../../../etc/passwd',
      '/ui/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/ui/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
      '/ui/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/ui/%252e%252e/%252e%252e/etc/passwd',
      '/ui/..%5c..%5c..%5cetc%5cpasswd',
      '/ui/..\\..\\..\\etc\\passwd',
      '/ui/assets/../../../package.json',
      '/ui/assets/%2e%2e/%2e%2e/%2e%2e/package.json',
      '/ui/%2e%2e/main.js',
      '/ui/../control/admin/console.js',
      '/ui//etc/passwd',
      '/ui/%2fetc%2fpasswd',
      '/ui/index.html%00.js',
      '/ui/./index.html/../../main.js',
      '/ui/.%2e/.%2e/package.json',
    ]
    for (const path of paths) {
      const raw = await rawRequest(gw.adminPort, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${gw.adminPort}\r\nConnection: close\r\n\r\n`)
      const code = status(raw)
      assert.ok(code === 404 || code === 400, `${path} → ${code}`)
      for (const s of secrets) assert.ok(!raw.includes(s), `${path} served a file outside dist/ui`)
    }
  })

  test('cross-site loads (framing from another site, a rebinding Host) are refused before any file is served', async () => {
    const cross = await request(`${gw.adminUrl}/ui/`, { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-dest': 'iframe' } })
    await cross.body.dump()
    assert.equal(cross.statusCode, 403)
    const rebinding = await rawRequest(gw.adminPort, `GET /ui/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`)
    assert.equal(status(rebinding), 403)
    assert.ok(!rebinding.includes('<div id="app">'))
  })

  test('the data plane does not serve the console', async () => {
    for (const path of ['/ui', '/ui/', '/ui/index.html']) {
      const r = await request(`${gw.url}${path}`)
      const body = await r.body.text()
      assert.equal(r.statusCode, 404, path)
      assert.ok(!body.includes('<div id="app">'), path)
    }
  })
})
