// Attacks on the jwt plugin through a real gateway: each must get a 401 and never reach the
// origin. Keys: an RSA public key (PEM) on one route, the ES256 JWKS of a real OpenID provider on
// another. The attacker knows the public keys (they are public) but not the private ones.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync } from 'node:crypto'
import { request } from 'undici'
import { SignJWT, base64url } from 'jose'
import { pluginGateway } from '../helpers/scaffold.js'
import { startOidc, type Oidc } from '../helpers/oidc.js'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string
const now = () => Math.floor(Date.now() / 1000)
const b64 = (v: unknown) => base64url.encode(JSON.stringify(v))

/** A JWS made by hand: any header, any payload, HMAC-SHA256 with any bytes as the key. */
function hmacToken(header: Record<string, unknown>, payload: Record<string, unknown>, key: string | Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
}

describe('jwt attacks', () => {
  let idp: Oidc
  let good: string

  // The provider is started first: the routes name its JWKS URI. Its after hook is registered after
  // pluginGateway()'s, so the gateway stops fetching from it before it goes away.
  before(async () => {
    idp = await startOidc()
  })
  const gw = pluginGateway({
    routes: () => `
  - name: pem
    paths: [/pem/*]
    upstream: o
    plugins:
      - name: jwt
        config:
          keys: [ { public_key: ${JSON.stringify(PEM)}, algorithms: [RS256] } ]
          issuer: https://issuer.example
          audience: api
  - name: idp
    paths: [/idp/*]
    upstream: o
    plugins:
      - name: jwt
        config:
          keys: [ { jwks_uri: "${idp.jwksUri}", algorithms: [ES256] } ]
          issuer: ${idp.issuer}
          audience: ${idp.audience}
          jwks_refetch_cooldown: 1h
`,
  })
  before(async () => {
    good = await idp.token()
  })
  after(async () => {
    await idp?.stop()
  })

  async function refused(path: string, token: string, headers: Record<string, string> = {}, expect = 401) {
    const seen = gw.up.seen.length
    const r = await request(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } })
    const text = await r.body.text()
    assert.equal(r.statusCode, expect, text)
    assert.equal(gw.up.seen.length, seen, 'the origin was reached')
    assert.doesNotMatch(text, /jose|JWS|signature|ERR_|kid|stack/i, 'internal detail leaked')
    return r
  }
  const rs256 = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey)
  const base = () => ({ iss: 'https://issuer.example', aud: 'api', sub: 'u', exp: now() + 600 })

  test('control: valid tokens pass on both routes', async () => {
    assert.equal((await request(`${gw.url}/pem/x`, { headers: { authorization: `Bearer ${await rs256(base())}` } })).statusCode, 200)
    assert.equal((await request(`${gw.url}/idp/x`, { headers: { authorization: `Bearer ${good}` } })).statusCode, 200)
  })

  test('expired token (beyond the 30s skew) → 401 error="invalid_token" "token expired"', async () => {
    const r = await refused('/pem/x', await rs256({ ...base(), exp: now() - 120 }))
    assert.match(String(r.headers['www-authenticate']), /error="invalid_token", error_description="token expired"/)
    await refused('/idp/x', await idp.sign({ iss: idp.issuer, aud: idp.audience, exp: now() - 120 }))
  })

  test('not yet valid (nbf in the future) and issued in the future (iat)', async () => {
    await refused('/pem/x', await rs256({ ...base(), nbf: now() + 300 }))
    await refused('/pem/x', await rs256({ ...base(), iat: now() + 300 }))
  })

  test('wrong issuer, wrong audience', async () => {
    await refused('/pem/x', await rs256({ ...base(), iss: 'https://evil.example' }))
    await refused('/pem/x', await rs256({ ...base(), aud: 'other-api' }))
    await refused('/idp/x', await idp.sign({ iss: idp.issuer, aud: 'https://other', exp: now() + 60 }))
  })

  test('tampered payload with the original signature', async () => {
    const [h, p, s] = good.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
    claims.sub = 'admin'
    claims.roles = ['admin']
    await refused('/idp/x', `${h}.${b64(claims)}.${s}`)
    // A changed signature, too. The second-to-last character is changed because all of its six
    // bits are signature bits (the last one of an ES256 signature carries four padding bits that
    // decoders ignore); checking that character itself keeps the change from being a no-op.
    const at = s.length - 2
    await refused('/idp/x', `${h}.${p}.${s.slice(0, at)}${s[at] === 'A' ? 'B' : 'A'}${s.slice(at + 1)}`)
  })

  test('alg "none" in any spelling, with or without a signature', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await refused('/pem/x', `${b64({ alg, typ: 'JWT' })}.${b64(base())}.`)
      await refused('/idp/x', `${b64({ alg, kid: idp.kid })}.${b64({ iss: idp.issuer, aud: idp.audience, exp: now() + 60 })}.`)
    }
  })

  test('algorithm confusion: HS256 signed with the RSA public key (PEM and DER) as the HMAC secret', async () => {
    await refused('/pem/x', hmacToken({ alg: 'HS256', typ: 'JWT' }, base(), PEM))
    await refused('/pem/x', hmacToken({ alg: 'HS256', typ: 'JWT' }, base(), rsa.publicKey.export({ type: 'spki', format: 'der' })))
    // Same idea against the JWKS route: the published JWK as the secret.
    const jwk = JSON.stringify(idp.jwks().keys[0])
    await refused('/idp/x', hmacToken({ alg: 'HS256', kid: idp.kid }, { iss: idp.issuer, aud: idp.audience, exp: now() + 60 }, jwk))
  })

  test('a kid that is not in the JWKS, and keys smuggled in the header (jwk, jku, x5u)', async () => {
    const claims = { iss: idp.issuer, aud: idp.audience, exp: now() + 60 }
    await refused('/idp/x', await idp.sign(claims, { header: { kid: 'not-published' } }))
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = attacker.publicKey.export({ format: 'jwk' })
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: idp.kid, jwk: { ...jwk, kty: 'EC' } as never }).sign(attacker.privateKey)
    await refused('/idp/x', forged)
    const jku = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', jku: 'http://127.0.0.1:1/jwks', x5u: 'http://127.0.0.1:1/cert' } as never).sign(attacker.privateKey)
    await refused('/idp/x', jku)
  })

  test('a token in a place the route does not read is not used', async () => {
    const seen = gw.up.seen.length
    const r = await request(`${gw.url}/idp/x?access_token=${good}`, { headers: { cookie: `access_token=${good}`, 'x-token': good } })
    await r.body.dump()
    assert.equal(r.statusCode, 401)
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="portico"')
    assert.equal(gw.up.seen.length, seen)
    await refused('/idp/x', good.replace('Bearer ', ''), { authorization: `Basic ${Buffer.from(`u:${good}`).toString('base64')}` })
  })

  test('oversized and malformed tokens', async () => {
    const [h, p] = good.split('.') as [string, string]
    await refused('/idp/x', `${h}.${p}${'A'.repeat(9000)}.sig`)
    await refused('/idp/x', 'a.b')
    await refused('/idp/x', '...')
    await refused('/idp/x', `${'x'.repeat(40)}.${'y'.repeat(40)}.${'z'.repeat(40)}`)
    await refused('/idp/x', `${b64({ alg: 'ES256', crit: ['exp'], exp: 1 })}.${b64({ exp: now() + 60 })}.AAAA`)
  })
})
