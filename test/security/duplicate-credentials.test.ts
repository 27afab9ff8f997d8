// A credential sent twice in one place (two `token` cookies, two Authorization or API-key header
// fields, a repeated query parameter): the gateway would verify one and forward both, and a
// framework behind it that reads the other one sees a credential nobody verified. Every such
// request is refused and never reaches the origin. Real gateway, real origin, raw sockets where an
// HTTP client would merge the fields.
import { describe, test, before } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { SignJWT } from 'jose'
import { pluginGateway } from '../helpers/scaffold.js'
import { rawRequest } from '../helpers/raw.js'

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!'
const KEY = 'alice-key-0123456789'
const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
const forged = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"admin"}').toString('base64url')}.`

describe('a credential that appears more than once is refused', () => {
  let good: string
  const gw = pluginGateway({
    extra: `
consumers:
  - { name: alice, credentials: { key_auth: ["${KEY}"] } }
`,
    routes: `
  - name: cookie
    paths: [/c/*]
    upstream: o
    plugins: [ { name: jwt, config: { keys: [ { secret: "${SECRET}", algorithms: [HS256] } ], header: "", cookie: token } } ]
  - name: bearer
    paths: [/b/*]
    upstream: o
    plugins: [ { name: jwt, config: { keys: [ { secret: "${SECRET}", algorithms: [HS256] } ] } } ]
  - name: key
    paths: [/k/*]
    upstream: o
    plugins: [ { name: key-auth, config: { header_names: [authorization, apikey] } } ]
`,
  })
  before(async () => {
    good = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
  })

  test('the token cookie alone is accepted (control)', async () => {
    const r = await request(`${gw.url}/c/x`, { headers: { cookie: `a=1; token=${good}` } })
    await r.body.dump()
    assert.equal(r.statusCode, 200)
  })

  test('two token cookies in one Cookie field → 400, not forwarded', async () => {
    const before = gw.up.seen.length
    const r = await request(`${gw.url}/c/x`, { headers: { cookie: `token=${good}; token=${forged}` } })
    const body = (await r.body.json()) as { status: number; error: string }
    assert.equal(r.statusCode, 400)
    assert.equal(body.error, 'bad_request')
    assert.equal(gw.up.seen.length, before)
  })

  test('two token cookies in two Cookie fields → 400', async () => {
    const before = gw.up.seen.length
    const res = await rawRequest(gw.port, `GET /c/x HTTP/1.1\r\nHost: a\r\nCookie: token=${good}\r\nCookie: token=${forged}\r\nConnection: close\r\n\r\n`)
    assert.equal(status(res), 400, res.split('\r\n')[0])
    assert.equal(gw.up.seen.length, before)
  })

  test('two Authorization fields with bearer tokens → 400', async () => {
    const before = gw.up.seen.length
    const res = await rawRequest(gw.port, `GET /b/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${good}\r\nAuthorization: Bearer ${forged}\r\nConnection: close\r\n\r\n`)
    assert.equal(status(res), 400, res.split('\r\n')[0])
    assert.equal(gw.up.seen.length, before)
  })

  test('an API key in two Authorization fields → 401', async () => {
    const before = gw.up.seen.length
    const res = await rawRequest(gw.port, `GET /k/x HTTP/1.1\r\nHost: a\r\nAuthorization: ${KEY}\r\nAuthorization: other\r\nConnection: close\r\n\r\n`)
    assert.equal(status(res), 401, res.split('\r\n')[0])
    assert.equal(gw.up.seen.length, before)
  })
})
