// oauth2-introspection against a real OpenID provider (oidc-provider, test/helpers/oidc.ts): opaque
// tokens minted by the IdP are validated through its RFC 7662 endpoint with client auth; answers
// are cached (a second request makes no call); inactive and garbage tokens get 401; the IdP down
// → failure_mode closed (503), while cached answers keep working; wrong client credentials fail closed.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { startOidc, type Oidc } from '../../helpers/oidc.js'

describe('oauth2-introspection with a real OpenID provider', () => {
  let up: Origin
  let idp: Oidc
  let gw: InProcGateway
  // A counting relay in front of the IdP's introspection endpoint, to see cache hits; stoppable.
  let relay: http.Server
  let calls = 0
  let relayDown = false
  before(async () => {
    ;[up, idp] = await Promise.all([startOrigin(), startOidc()])
    const target = new URL(idp.introspectionUrl)
    relay = http.createServer((req, res) => {
      calls++
      if (relayDown) return void res.socket?.destroy()
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        request(target, { method: 'POST', headers: { 'content-type': req.headers['content-type']!, authorization: req.headers.authorization ?? '' }, body: Buffer.concat(chunks) }).then(
          async (r) => {
            const body = await r.body.text()
            res.writeHead(r.statusCode, { 'content-type': 'application/json' })
            res.end(body)
          },
          () => res.socket?.destroy(),
        )
      })
    })
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r))
    const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}${target.pathname}`
    // The helper's dedicated `introspector` client (scope '') is refused by oidc-provider
    // (invalid_client_metadata); any registered confidential client may introspect, so use admin.
    const c = idp.clients.admin
    gw = await startInProc(`
upstreams:
  o: { targets: [ { url: ${up.url} } ] }
routes:
  - name: api
    paths: [/api/*]
    upstream: o
    plugins:
      - name: oauth2-introspection
        config:
          endpoint: "${relayUrl}"
          client_id: ${c.client_id}
          client_secret: "${c.client_secret}"
          timeout: 2s
          claims_to_headers: { client_id: x-client-id }
  - name: wrong-secret
    paths: [/wrong/*]
    upstream: o
    plugins:
      - name: oauth2-introspection
        config: { endpoint: "${idp.introspectionUrl}", client_id: ${c.client_id}, client_secret: not-the-secret, auth_method: client_secret_post }
`)
  })
  after(async () => {
    await gw.close()
    relay.closeAllConnections()
    await new Promise<void>((r) => relay.close(() => r()))
    await Promise.all([up.close(), idp.stop()])
  })

  async function call(path: string, token?: string) {
    const r = await request(`${gw.url}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}`, 'x-client-id': 'spoofed' } })
    const text = await r.body.text()
    return { status: r.statusCode, headers: r.headers, json: JSON.parse(text) as { headers?: Record<string, string>; error?: string } }
  }

  test('an opaque token from the IdP is accepted; its fields reach the upstream; the answer is cached', async () => {
    const token = await idp.token({ client: 'reader', resource: idp.opaqueResource })
    const before = calls
    const r = await call('/api/x', token)
    assert.equal(r.status, 200)
    assert.equal(r.json.headers?.['x-client-id'], 'reader')
    assert.equal(calls, before + 1)
    assert.equal((await call('/api/y', token)).status, 200)
    assert.equal(calls, before + 1, 'second request answered from the cache')
  })

  test('missing, garbage and unknown tokens get 401 (negative answers cached too)', async () => {
    const missing = await call('/api/x')
    assert.equal(missing.status, 401)
    assert.equal(missing.headers['www-authenticate'], 'Bearer realm="portico"')
    const bad = await call('/api/x', 'not-a-token-the-idp-issued')
    assert.equal(bad.status, 401)
    assert.equal(bad.headers['www-authenticate'], 'Bearer realm="portico", error="invalid_token"')
    const n = calls
    assert.equal((await call('/api/x', 'not-a-token-the-idp-issued')).status, 401)
    assert.equal(calls, n)
    assert.equal((await call('/api/x', 'x'.repeat(5000))).status, 401)
  })

  test('wrong client credentials at the endpoint fail closed (503), never open', async () => {
    const token = await idp.token({ client: 'reader', resource: idp.opaqueResource })
    const r = await call('/wrong/x', token)
    assert.equal(r.status, 503)
    assert.equal(r.json.error, 'auth_unavailable')
  })

  test('endpoint down: new tokens get 503; cached ones still pass', async () => {
    const cached = await idp.token({ client: 'reader', resource: idp.opaqueResource })
    const fresh = await idp.token({ client: 'admin', resource: idp.opaqueResource })
    assert.equal((await call('/api/x', cached)).status, 200)
    relayDown = true
    try {
      assert.equal((await call('/api/x', fresh)).status, 503)
      assert.equal((await call('/api/x', cached)).status, 200)
    } finally {
      relayDown = false
    }
    assert.equal((await call('/api/x', fresh)).status, 200)
  })
})
