// Attack class: a client sends the identity headers an upstream trusts (X-Consumer-Name, a
// claims_to_headers target, a key-auth consumer_header) and hopes they pass. Every name any auth
// plugin of the config may set is removed from every client request on every route, before plugins
// run, whether or not a consumer is found (issue 11 item 1). Real gateway, real origin.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { SignJWT } from 'jose'
import { pluginGateway } from '../helpers/scaffold.js'

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!'
const KEY = 'alice-key-0123456789'
const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
const FORGED = { 'x-consumer-name': 'alice', 'x-user-email': 'ceo@example.com', 'x-api-user': 'root' }

describe('client-sent identity headers never reach the upstream', () => {
  const gw = pluginGateway({
    extra: `
consumers:
  - { name: alice, credentials: { key_auth: ["${KEY}"] } }
`,
    routes: `
  - name: jwt-consumer
    paths: [/jc/*]
    upstream: o
    plugins: [ { name: jwt, config: { keys: [ { secret: "${SECRET}", algorithms: [HS256] } ], consumer_claim: sub, claims_to_headers: { email: X-User-Email } } } ]
  - name: jwt-plain
    paths: [/jp/*]
    upstream: o
    plugins: [ { name: jwt, config: { keys: [ { secret: "${SECRET}", algorithms: [HS256] } ] } } ]
  - name: key
    paths: [/k/*]
    upstream: o
    plugins: [ { name: key-auth, config: { consumer_header: X-Api-User } } ]
  - name: open
    paths: [/open/*]
    upstream: o
`,
  })

  /** The headers the origin saw for one request. */
  async function seen(path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown> }> {
    const n = gw.up.seen.length
    const res = await request(`${gw.url}${path}`, { headers })
    await res.body.dump()
    return { status: res.statusCode, headers: (gw.up.seen[n]?.headers ?? {}) as Record<string, unknown> }
  }

  test('jwt with consumer_claim, a subject that is no declared consumer: 200 and no forged header', async () => {
    const r = await seen('/jc/x', { ...FORGED, authorization: `Bearer ${await sign({ sub: 'mallory' })}` })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-consumer-name'], undefined)
    assert.equal(r.headers['x-user-email'], undefined, 'a claims_to_headers target the token has no claim for')
    assert.equal(r.headers['x-api-user'], undefined)
  })

  test('jwt with consumer_claim, a declared consumer: the header is the verified one', async () => {
    const r = await seen('/jc/x', { ...FORGED, authorization: `Bearer ${await sign({ sub: 'alice', email: 'alice@example.com' })}` })
    assert.equal(r.headers['x-consumer-name'], 'alice')
    assert.equal(r.headers['x-user-email'], 'alice@example.com')
  })

  test('jwt without consumer_claim: the forged consumer name is removed', async () => {
    const r = await seen('/jp/x', { ...FORGED, authorization: `Bearer ${await sign({ sub: 'alice' })}` })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-consumer-name'], undefined)
  })

  test('key-auth with its own consumer_header: the verified name, and no forged default header', async () => {
    const r = await seen('/k/x', { ...FORGED, apikey: KEY })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-api-user'], 'alice')
    assert.equal(r.headers['x-consumer-name'], undefined)
  })

  test('a route without auth plugins: the other routes\' identity headers are removed too', async () => {
    const r = await seen('/open/x', { ...FORGED, 'x-other': 'kept' })
    assert.equal(r.status, 200)
    for (const h of Object.keys(FORGED)) assert.equal(r.headers[h], undefined, h)
    assert.equal(r.headers['x-other'], 'kept')
  })
})
