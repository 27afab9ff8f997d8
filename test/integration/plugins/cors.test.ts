// cors plugin through a real gateway and a real origin: preflights answered at the gateway,
// actual requests proxied with Access-Control-* headers, disallowed origins left without them.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'

const APP = 'https://app.example.com'

/** An origin that does its own (wrong) CORS, to show the gateway's policy is the one sent. */
function origin(req: IncomingMessage, res: ServerResponse): void {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      vary: 'Accept-Encoding',
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      'x-total-count': '7',
    })
    res.end('ok')
  })
}

describe('cors plugin', () => {
  const gw = pluginGateway({
    origin,
    routes: `
  - name: api
    paths: [/api/*]
    upstream: o
    plugins:
      - name: cors
        config:
          origins: [${APP}, "~https://[a-z]+\\\\.partner\\\\.io"]
          expose_headers: [X-Total-Count]
          max_age: 1h
  - name: creds
    paths: [/creds/*]
    upstream: o
    plugins:
      - name: cors
        config: { origins: [${APP}], credentials: true, allow_headers: [Authorization, Content-Type], methods: [GET, POST] }
  - name: public
    paths: [/public/*]
    upstream: o
    plugins:
      - { name: cors, config: { origins: ["*"] } }
`,
  })

  const preflight = (path: string, from: string, extra: Record<string, string> = {}) =>
    request(`${gw.url}${path}`, { method: 'OPTIONS', headers: { origin: from, 'access-control-request-method': 'PUT', ...extra } })

  test('a preflight is answered by the gateway with 204 and never reaches the origin', async () => {
    const before = gw.up.seen.length
    const r = await preflight('/api/items', APP, { 'access-control-request-headers': 'content-type,x-trace' })
    assert.equal(r.statusCode, 204)
    assert.equal(await r.body.text(), '')
    assert.equal(r.headers['access-control-allow-origin'], APP)
    assert.equal(r.headers['access-control-allow-methods'], 'GET, HEAD, PUT, PATCH, POST, DELETE')
    assert.equal(r.headers['access-control-allow-headers'], 'content-type,x-trace')
    assert.equal(r.headers['access-control-max-age'], '3600')
    assert.equal(r.headers['access-control-allow-credentials'], undefined)
    assert.equal(r.headers.vary, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers')
    assert.ok(typeof r.headers['x-request-id'] === 'string')
    assert.equal(gw.up.seen.length, before, 'the origin saw the preflight')
  })

  test('a preflight from a regex-matched origin is allowed; a look-alike is not', async () => {
    const ok = await preflight('/api/items', 'https://shop.partner.io')
    await ok.body.dump()
    assert.equal(ok.headers['access-control-allow-origin'], 'https://shop.partner.io')
    const bad = await preflight('/api/items', 'https://shop.partner.io.evil.com')
    await bad.body.dump()
    assert.equal(bad.statusCode, 204)
    assert.equal(bad.headers['access-control-allow-origin'], undefined)
  })

  test('a preflight from a disallowed origin gets 204 without any Access-Control-* header, and no upstream call', async () => {
    const before = gw.up.seen.length
    const r = await preflight('/api/items', 'https://evil.io')
    await r.body.dump()
    assert.equal(r.statusCode, 204)
    assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith('access-control-')), [])
    assert.equal(gw.up.seen.length, before)
  })

  test('an actual request from an allowed origin gets ACAO, Expose-Headers and a merged Vary', async () => {
    const r = await request(`${gw.url}/api/items`, { headers: { origin: APP } })
    assert.equal(await r.body.text(), 'ok')
    assert.equal(r.headers['access-control-allow-origin'], APP)
    assert.equal(r.headers['access-control-expose-headers'], 'x-total-count')
    // The origin's own wrong credentials header is replaced by the gateway's policy (none).
    assert.equal(r.headers['access-control-allow-credentials'], undefined)
    assert.equal(r.headers.vary, 'Accept-Encoding, Origin')
  })

  test('a disallowed origin is still proxied but gets no Access-Control-* header', async () => {
    const before = gw.up.seen.length
    const r = await request(`${gw.url}/api/items`, { method: 'POST', headers: { origin: 'https://evil.io' }, body: 'x' })
    assert.equal(r.statusCode, 200)
    await r.body.dump()
    assert.equal(gw.up.seen.length, before + 1)
    assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith('access-control-')), [])
    assert.equal(r.headers.vary, 'Accept-Encoding, Origin')
  })

  test('credentials with a specific origin: the origin is echoed with Allow-Credentials', async () => {
    const pre = await request(`${gw.url}/creds/me`, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    })
    await pre.body.dump()
    assert.equal(pre.statusCode, 204)
    assert.equal(pre.headers['access-control-allow-origin'], APP)
    assert.equal(pre.headers['access-control-allow-credentials'], 'true')
    assert.equal(pre.headers['access-control-allow-methods'], 'GET, POST')
    assert.equal(pre.headers['access-control-allow-headers'], 'authorization, content-type')
    const r = await request(`${gw.url}/creds/me`, { headers: { origin: APP, cookie: 'sid=1' } })
    await r.body.dump()
    assert.equal(r.headers['access-control-allow-origin'], APP)
    assert.equal(r.headers['access-control-allow-credentials'], 'true')
  })

  test('"*" without credentials: every response says "*", with or without Origin', async () => {
    for (const headers of [{ origin: 'https://anyone.io' }, {}]) {
      const r = await request(`${gw.url}/public/x`, { headers })
      await r.body.dump()
      assert.equal(r.headers['access-control-allow-origin'], '*')
      assert.equal(r.headers['access-control-allow-credentials'], undefined)
      assert.equal(r.headers.vary, 'Accept-Encoding')
    }
  })

  test('"*" with credentials is refused when the config is loaded', async () => {
    await assert.rejects(
      gw.reload(gw.config(`
  - name: bad
    paths: [/bad]
    upstream: o
    plugins:
      - { name: cors, config: { origins: ["*"], credentials: true } }
`)),
      /origins\[0\]/,
    )
  })
})

describe('cors plugin on a route that does not list OPTIONS', () => {
  const gw = pluginGateway({
    origin,
    routes: `
  - name: get-only
    methods: [GET]
    paths: [/only/*]
    upstream: o
    plugins:
      - { name: cors, config: { origins: [${APP}] } }
`,
  })

  // The handler routes a CORS preflight as the method it asks about, to a route whose cors plugin
  // answers it, so `methods` need not list OPTIONS.
  test('the preflight still reaches the cors plugin', async () => {
    const r = await request(`${gw.url}/only/x`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } })
    await r.body.dump()
    assert.equal(r.statusCode, 204)
    assert.equal(r.headers['access-control-allow-origin'], APP)
  })

  test('a plain OPTIONS request (not a preflight) still gets 405', async () => {
    const r = await request(`${gw.url}/only/x`, { method: 'OPTIONS' })
    await r.body.dump()
    assert.equal(r.statusCode, 405)
  })
})
