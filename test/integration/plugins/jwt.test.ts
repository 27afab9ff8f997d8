// jwt + rbac through a real gateway, a real origin and a real OpenID provider (oidc-provider):
// tokens minted by the client_credentials grant, keys from JWKS and from discovery, claims to
// headers, hide_credentials, cookie/query tokens, rotation (a new key works at once, a removed
// key stops working after the cache window), the unknown-kid rate limit, and the failure modes
// when the key set cannot be fetched.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import { startOrigin, freePort, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pluginGateway } from '../../helpers/scaffold.js'
import { startOidc, type Oidc } from '../../helpers/oidc.js'
import { pollUntil } from '../../helpers/poll.js'

interface Echo {
  url: string
  headers: Record<string, string | undefined>
}

describe('jwt + rbac with a real OpenID provider', () => {
  let idp: Oidc
  let deadPort: number

  // The provider and the dead port come first: the routes name them. Its after hook is registered
  // after pluginGateway()'s (below), so the gateway is closed before the provider stops.
  before(async () => {
    ;[idp, deadPort] = await Promise.all([startOidc(), freePort()])
  })
  const jwks = () => `{ jwks_uri: "${idp.jwksUri}", algorithms: [ES256] }`
  const gw = pluginGateway({
    routes: () => `
  - name: api
    paths: [/api/*]
    upstream: o
    plugins:
      - name: jwt
        config:
          keys: [ ${jwks()} ]
          issuer: ${idp.issuer}
          audience: ${idp.audience}
          claims_to_headers: { sub: x-user-id, scope: x-scope, roles: x-roles }
          consumer_claim: client_id
  - name: disc
    paths: [/disc/*]
    upstream: o
    plugins:
      - name: jwt
        config:
          keys: [ { discovery: "${idp.issuer}", algorithms: [ES256, RS256] } ]
          hide_credentials: true
  - name: where
    paths: [/where/*]
    upstream: o
    plugins:
      - name: jwt
        config: { keys: [ ${jwks()} ], header: "", cookie: at, query: access_token, hide_credentials: true }
  - name: admin
    paths: [/admin/*]
    upstream: o
    plugins:
      - { name: jwt, config: { keys: [ ${jwks()} ] } }
      - { name: rbac, config: { any_of: [admin], claim: roles } }
  - name: scoped
    paths: [/scoped/*]
    upstream: o
    plugins:
      - { name: jwt, config: { keys: [ ${jwks()} ] } }
      - { name: rbac, config: { all_of: [read, write] } }
  - name: rotating
    paths: [/rot/*]
    upstream: o
    plugins:
      - name: jwt
        config: { keys: [ ${jwks()} ], jwks_cache_ttl: 300ms, jwks_refetch_cooldown: 100ms }
  - name: dead-closed
    paths: [/dead-closed/*]
    upstream: o
    plugins:
      - name: jwt
        config: { keys: [ { jwks_uri: "http://127.0.0.1:${deadPort}/jwks", algorithms: [ES256] } ], timeout: 500ms }
  - name: dead-open
    paths: [/dead-open/*]
    upstream: o
    plugins:
      - name: jwt
        config: { keys: [ { jwks_uri: "http://127.0.0.1:${deadPort}/jwks", algorithms: [ES256] } ], timeout: 500ms, failure_mode: open, claims_to_headers: { sub: x-user-id } }
`,
  })
  after(async () => {
    await idp?.stop()
  })

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(`${gw.url}${path}`, { headers })
    const text = await r.body.text()
    return { status: r.statusCode, headers: r.headers, text, echo: r.statusCode === 200 ? (JSON.parse(text) as Echo) : undefined }
  }
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

  test('an access token from the provider passes; claims reach the upstream as headers, spoofed copies do not', async () => {
    const token = await idp.token({ client: 'admin', scope: 'read write' })
    const r = await get('/api/x', { ...bearer(token), 'x-user-id': 'spoofed', 'x-roles': 'superuser' })
    assert.equal(r.status, 200, r.text)
    assert.equal(r.echo!.headers['x-user-id'], 'admin')
    assert.equal(r.echo!.headers['x-scope'], 'read write')
    assert.equal(r.echo!.headers['x-roles'], 'admin,viewer')
    assert.equal(r.echo!.headers.authorization, `Bearer ${token}`, 'not hidden by default')
  })

  test('missing and garbage tokens: 401 with WWW-Authenticate, JSON error shape', async () => {
    const missing = await get('/api/x')
    assert.equal(missing.status, 401)
    assert.equal(missing.headers['www-authenticate'], 'Bearer realm="portico"')
    const body = JSON.parse(missing.text) as Record<string, unknown>
    assert.equal(body.error, 'unauthorized')
    assert.equal(typeof body.request_id, 'string')
    const garbage = await get('/api/x', bearer('not-a-jwt'))
    assert.equal(garbage.status, 401)
    assert.match(String(garbage.headers['www-authenticate']), /error="invalid_token"/)
    assert.equal(gw.up.seen.filter((s) => s.url === '/api/x').length, 1, 'refused requests never reach the origin')
  })

  test('discovery: keys and the issuer check come from .well-known; hide_credentials strips the header', async () => {
    const r = await get('/disc/x', bearer(await idp.token()))
    assert.equal(r.status, 200, r.text)
    assert.equal(r.echo!.headers.authorization, undefined)
    const wrongIss = await idp.sign({ iss: 'https://evil.example', aud: idp.audience, exp: Math.floor(Date.now() / 1000) + 60 })
    assert.equal((await get('/disc/x', bearer(wrongIss))).status, 401)
  })

  test('cookie and query tokens; a token in a place the route does not read is "missing"', async () => {
    const token = await idp.token()
    const c = await get('/where/x', { cookie: `theme=dark; at=${token}` })
    assert.equal(c.status, 200, c.text)
    assert.equal(c.echo!.headers.cookie, 'theme=dark')
    const q = await get(`/where/x?a=1&access_token=${token}`)
    assert.equal(q.status, 200, q.text)
    assert.equal(q.echo!.url, '/where/x?a=1')
    const wrongPlace = await get('/where/x', bearer(token))
    assert.equal(wrongPlace.status, 401)
    assert.equal(wrongPlace.headers['www-authenticate'], 'Bearer realm="portico"')
    const both = await get(`/where/x?access_token=${token}`, { cookie: `at=${token}` })
    assert.equal(both.status, 400)
    assert.match(String(both.headers['www-authenticate']), /error="invalid_request"/)
  })

  test('rbac: roles claim any-of, scope all-of; 403 forbidden otherwise', async () => {
    const reader = await idp.token({ client: 'reader', scope: 'read' })
    const admin = await idp.token({ client: 'admin', scope: 'read write' })
    assert.equal((await get('/admin/x', bearer(admin))).status, 200)
    const denied = await get('/admin/x', bearer(reader))
    assert.equal(denied.status, 403)
    assert.equal((JSON.parse(denied.text) as { error: string }).error, 'forbidden')
    assert.equal((await get('/scoped/x', bearer(admin))).status, 200)
    assert.equal((await get('/scoped/x', bearer(reader))).status, 403)
    assert.equal((await get('/scoped/x')).status, 401, 'jwt answers first when there is no token')
  })

  test('rotation: a new signing key works without a restart; a removed key stops after the cache window', async () => {
    const old = await idp.token()
    assert.equal((await get('/rot/x', bearer(old))).status, 200)
    assert.equal((await get('/rot/x', bearer(old))).status, 200, 'served from the token cache')

    await idp.rotate()
    const fresh = await idp.token()
    // Unknown kid → one refetch (after the 100ms cooldown at most).
    await pollUntil(async () => (await get('/rot/x', bearer(fresh))).status === 200, { what: 'the new key to be accepted' })
    assert.equal((await get('/rot/x', bearer(old))).status, 200, 'the old key is still published')

    await idp.rotate({ keepOld: false })
    // The background refresh (300ms) drops the removed keys, and with them the cached tokens.
    await pollUntil(async () => (await get('/rot/x', bearer(old))).status === 401, { what: 'the removed key to stop working' })
    await pollUntil(async () => (await get('/rot/x', bearer(fresh))).status === 401, { what: 'the second removed key to stop working' })
    assert.equal((await get('/rot/x', bearer(await idp.token()))).status, 200)
  })

  test('key set unreachable: failure_mode closed → 503 auth_unavailable; open → through, unauthenticated', async () => {
    const token = await idp.token()
    const closed = await get('/dead-closed/x', bearer(token))
    assert.equal(closed.status, 503)
    assert.equal((JSON.parse(closed.text) as { error: string }).error, 'auth_unavailable')
    const open = await get('/dead-open/x', { ...bearer(token), 'x-user-id': 'spoofed' })
    assert.equal(open.status, 200)
    assert.equal(open.echo!.headers['x-user-id'], undefined, 'no claims, and no spoofed identity either')
    const garbage = await get('/dead-open/x', bearer('not-a-jwt'))
    assert.equal(garbage.status, 401, 'a malformed token is refused even in open mode')
  })
})

describe('jwt: the unknown-kid refetch is shared and rate-limited', () => {
  let up: Origin
  let gw: InProcGateway
  let jwksServer: http.Server
  let hits = 0
  let jwks: { keys: JWK[] } = { keys: [] }
  let signer: { kid: string; key: CryptoKey }

  const newKey = async (kid: string) => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
    return { kid, key: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } }
  }
  const sign = (kid: string, key: CryptoKey) =>
    new SignJWT({ sub: 's', exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({ alg: 'ES256', kid }).sign(key)

  before(async () => {
    const k1 = await newKey('one')
    signer = k1
    jwks = { keys: [k1.jwk] }
    jwksServer = http.createServer((_req, res) => {
      hits++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(jwks))
    })
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`
    up = await startOrigin()
    gw = await startInProc(`
upstreams:
  o: { targets: [ { url: ${up.url} } ] }
routes:
  - name: slow
    paths: [/slow/*]
    upstream: o
    plugins:
      - { name: jwt, config: { keys: [ { jwks_uri: "${url}", algorithms: [ES256] } ], jwks_refetch_cooldown: 1h } }
  - name: fast
    paths: [/fast/*]
    upstream: o
    plugins:
      - { name: jwt, config: { keys: [ { jwks_uri: "${url}", algorithms: [ES256] } ], jwks_refetch_cooldown: 0 } }
`)
  })
  after(async () => {
    await gw?.close()
    await up?.close()
    jwksServer?.closeAllConnections()
    await new Promise<void>((r) => jwksServer?.close(() => r()))
  })

  const status = async (path: string, token: string) => {
    const r = await request(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } })
    await r.body.dump()
    return r.statusCode
  }

  test('25 tokens with unknown kids inside the cooldown cause no fetch at all', async () => {
    assert.equal(await status('/slow/x', await sign(signer.kid, signer.key)), 200)
    const before = hits
    const forged = await Promise.all(Array.from({ length: 25 }, (_, i) => sign(`unknown-${i}`, signer.key)))
    const codes = await Promise.all(forged.map((t) => status('/slow/x', t)))
    assert.deepEqual([...new Set(codes)], [401])
    assert.equal(hits - before, 0)
  })

  test('concurrent requests with a new kid share one refetch', async () => {
    assert.equal(await status('/fast/x', await sign(signer.kid, signer.key)), 200)
    const k2 = await newKey('two')
    jwks = { keys: [k2.jwk, ...jwks.keys] }
    const token = await sign(k2.kid, k2.key)
    const before = hits
    const codes = await Promise.all(Array.from({ length: 20 }, () => status('/fast/x', token)))
    assert.deepEqual([...new Set(codes)], [200])
    // One fetch serves the burst (a straggler that missed it may start a second one).
    assert.ok(hits - before <= 2, `fetched ${hits - before} times for 20 requests`)
  })
})
