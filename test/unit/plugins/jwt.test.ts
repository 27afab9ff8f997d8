// jwt plugin: schema, token extraction, claim paths, and verification with static keys (secret,
// PEM) including the verified-token cache. Remote key sets are covered by the integration test.
import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { SignJWT } from 'jose'
import jwt from '../../../src/plugins/jwt/index.js'
import type { JwtConfig } from '../../../src/plugins/jwt/schema.js'
import { extractToken, stripToken, type TokenPlaces } from '../../../src/plugins/jwt/token.js'
import { claimAt, compileClaimPath, headerValue } from '../../../src/plugins/jwt/claims.js'
import { Verifier } from '../../../src/plugins/jwt/verifier.js'
import { RequestContext } from '../../../src/core/context.js'
import type { LocalReply } from '../../../src/core/verdict.js'
import type { PluginInstance } from '../../../src/plugins/contract.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { registry } from '../../../src/observability/metrics.js'
import { validatePluginConfig, isValidPluginConfig } from '../../helpers/plugin-config.js'

const SECRET = 'an-hmac-secret-of-at-least-32-bytes!!'
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string

function accepts(config: unknown): JwtConfig {
  return validatePluginConfig<JwtConfig>('jwt', structuredClone(config))
}
function rejects(config: unknown): void {
  assert.equal(isValidPluginConfig('jwt', structuredClone(config)), false, `expected invalid: ${JSON.stringify(config)}`)
}

function context(headers: IncomingHttpHeaders, query = ''): RequestContext {
  const ctx = new RequestContext({ method: 'GET', headers, rawHeaders: Object.entries(headers).flat() } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
  ctx.query = query
  ctx.upstreamHeaders = { ...headers }
  return ctx
}

const now = () => Math.floor(Date.now() / 1000)
const hs = (claims: Record<string, unknown>, alg = 'HS256', secret = SECRET) =>
  new SignJWT(claims).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret))

describe('jwt schema', () => {
  test('defaults', () => {
    const c = accepts({ keys: [{ secret: SECRET, algorithms: ['HS256'] }] })
    assert.equal(c.clock_skew, '30s')
    assert.deepEqual(c.required_claims, ['exp'])
    assert.equal(c.header, 'authorization')
    assert.equal(c.cookie, '')
    assert.equal(c.query, '')
    assert.equal(c.hide_credentials, false)
    assert.equal(c.cache_size, 10000)
    assert.equal(c.failure_mode, 'closed')
    assert.equal(c.timeout, '2s')
  })
  test('accepts every kind of key source', () => {
    accepts({
      keys: [
        { secret: SECRET, algorithms: ['HS256', 'HS512'], kid: 'legacy' },
        { public_key: PEM, algorithms: ['RS256', 'PS256'] },
        { jwks_uri: 'https://idp.example.com/jwks', algorithms: ['ES256', 'EdDSA'] },
        { discovery: 'https://idp.example.com', algorithms: ['RS256'] },
      ],
      issuer: ['https://idp.example.com'],
      audience: 'api',
      claims_to_headers: { sub: 'x-user-id', 'realm_access.roles': 'x-roles' },
    })
  })
  test('refuses algorithm confusion, "none", empty and ambiguous sources', () => {
    rejects({ keys: [] })
    rejects({ keys: [{ public_key: PEM, algorithms: ['HS256'] }] }) // HMAC with a public key
    rejects({ keys: [{ jwks_uri: 'https://x/jwks', algorithms: ['RS256', 'HS256'] }] })
    rejects({ keys: [{ secret: SECRET, algorithms: ['RS256'] }] })
    rejects({ keys: [{ secret: SECRET, algorithms: ['none'] }] })
    rejects({ keys: [{ secret: SECRET, algorithms: [] }] })
    rejects({ keys: [{ secret: 'short', algorithms: ['HS256'] }] })
    rejects({ keys: [{ secret: SECRET, public_key: PEM, algorithms: ['HS256'] }] })
    rejects({ keys: [{ algorithms: ['RS256'] }] })
    rejects({ keys: [{ jwks_uri: 'ftp://x', algorithms: ['RS256'] }] })
    rejects({ keys: [{ secret: SECRET, algorithms: ['HS256'] }], failure_mode: 'maybe' })
    rejects({ keys: [{ secret: SECRET, algorithms: ['HS256'] }], claims_to_headers: { sub: 'bad header' } })
    rejects({ keys: [{ secret: SECRET, algorithms: ['HS256'] }], realm: 'a"b' })
  })
  test('create() refuses confusion too when called without the validator', () => {
    assert.throws(() => jwt.create({ keys: [{ public_key: PEM, algorithms: ['HS256'] }] } as JwtConfig, testPluginEnv()), /HS256 cannot be used with a public key/)
    assert.throws(() => jwt.create({ keys: [{ secret: SECRET, public_key: PEM, algorithms: ['HS256'] }] } as JwtConfig, testPluginEnv()), /exactly one/)
  })
})

describe('token extraction', () => {
  const p: TokenPlaces = { header: 'authorization', bearerOnly: true, cookie: 'sess', query: 'access_token' }
  test('Authorization: Bearer, case-insensitive scheme', () => {
    assert.deepEqual(extractToken(context({ authorization: 'Bearer abc.def.ghi' }), p), { token: 'abc.def.ghi', where: 'header' })
    assert.deepEqual(extractToken(context({ authorization: 'bearer abc.def.ghi' }), p), { token: 'abc.def.ghi', where: 'header' })
    assert.equal(extractToken(context({ authorization: 'Basic dXNlcjpwdw==' }), p), undefined)
    assert.equal(extractToken(context({ authorization: 'Bearer' }), p), undefined)
  })
  test('cookie and query parameter', () => {
    assert.deepEqual(extractToken(context({ cookie: 'a=1; sess=tok.en.x; b=2' }), p), { token: 'tok.en.x', where: 'cookie' })
    assert.deepEqual(extractToken(context({}, 'x=1&access_token=q.t.k'), p), { token: 'q.t.k', where: 'query' })
    assert.equal(extractToken(context({}, 'x=1'), p), undefined)
  })
  test('two places, or a repeated parameter, is a conflict (RFC 6750 §2)', () => {
    assert.equal(extractToken(context({ authorization: 'Bearer a.b.c' }, 'access_token=d.e.f'), p), 'conflict')
    assert.equal(extractToken(context({ cookie: 'sess=a.b.c' }, 'access_token=d.e.f'), p), 'conflict')
    assert.equal(extractToken(context({}, 'access_token=a.b.c&access_token=d.e.f'), p), 'conflict')
  })
  test('places that are not configured are not read', () => {
    const headerOnly: TokenPlaces = { header: 'authorization', bearerOnly: true, cookie: '', query: '' }
    assert.equal(extractToken(context({ cookie: 'sess=a.b.c' }, 'access_token=a.b.c'), headerOnly), undefined)
  })
  test('stripToken removes exactly the credential', () => {
    const c1 = context({ authorization: 'Bearer a.b.c', x: '1' })
    stripToken(c1, p, 'header')
    assert.deepEqual(c1.upstreamHeaders, { x: '1' })
    const c2 = context({ cookie: 'a=1; sess=a.b.c; b=2' })
    stripToken(c2, p, 'cookie')
    assert.equal(c2.upstreamHeaders.cookie, 'a=1; b=2')
    const c3 = context({}, 'x=1&access_token=a.b.c&y=2')
    stripToken(c3, p, 'query')
    assert.equal(c3.query, 'x=1&y=2')
  })
})

describe('claims', () => {
  const claims = { sub: 'u1', 'https://example.com/roles': ['a'], realm_access: { roles: ['x', 'y'] }, n: 3, o: { k: 1 }, name: 'José\r\nX-Evil: 1' }
  test('names, namespaced names and dot paths', () => {
    assert.equal(claimAt(claims, compileClaimPath('sub')), 'u1')
    assert.deepEqual(claimAt(claims, compileClaimPath('https://example.com/roles')), ['a'])
    assert.deepEqual(claimAt(claims, compileClaimPath('realm_access.roles')), ['x', 'y'])
    assert.equal(claimAt(claims, compileClaimPath('realm_access.nope')), undefined)
    assert.equal(claimAt(claims, compileClaimPath('constructor')), undefined)
    assert.equal(claimAt(claims, compileClaimPath('sub.length')), undefined)
  })
  test('header values never carry control characters', () => {
    assert.equal(headerValue('u1'), 'u1')
    assert.equal(headerValue(3), '3')
    assert.equal(headerValue(['x', 'y']), 'x,y')
    assert.equal(headerValue({ k: 1 }), '{"k":1}')
    assert.equal(headerValue(undefined), undefined)
    assert.equal(headerValue(claims.name), encodeURIComponent(claims.name))
  })
})

describe('verification with static keys', () => {
  const instances: PluginInstance[] = []
  after(() => instances.forEach((i) => i.close?.()))
  const make = (config: Record<string, unknown>) => {
    const inst = jwt.create(accepts(config), testPluginEnv())
    instances.push(inst)
    return inst
  }
  const run = async (inst: PluginInstance, ctx: RequestContext): Promise<LocalReply | undefined> => (await inst.access!(ctx)) ?? undefined

  test('a valid HS256 token passes, sets claims and forwards headers; client copies are replaced', async () => {
    const inst = make({ keys: [{ secret: SECRET, algorithms: ['HS256'] }], claims_to_headers: { sub: 'x-user-id' }, consumer_claim: 'sub' })
    const ctx = context({ authorization: `Bearer ${await hs({ sub: 'alice', exp: now() + 60 })}`, 'x-user-id': 'mallory' })
    assert.equal(await run(inst, ctx), undefined)
    assert.equal(ctx.claims?.sub, 'alice')
    assert.equal(ctx.upstreamHeaders['x-user-id'], 'alice')
    assert.equal(ctx.consumer, 'alice')
  })
  test('missing, invalid, expired → 401 with the RFC 6750 challenge and nothing internal', async () => {
    const inst = make({ keys: [{ secret: SECRET, algorithms: ['HS256'] }] })
    const missing = await run(inst, context({}))
    assert.equal(missing?.status, 401)
    assert.equal(missing?.headers?.['www-authenticate'], 'Bearer realm="portico"')
    const bad = await run(inst, context({ authorization: `Bearer ${await hs({ exp: now() + 60 }, 'HS256', 'another-secret-that-is-32-bytes-long!!')}` }))
    assert.equal(bad?.status, 401)
    assert.equal(bad?.headers?.['www-authenticate'], 'Bearer realm="portico", error="invalid_token", error_description="invalid token"')
    assert.equal(bad?.message, 'invalid token')
    const expired = await run(inst, context({ authorization: `Bearer ${await hs({ exp: now() - 120 })}` }))
    assert.equal(expired?.headers?.['www-authenticate'], 'Bearer realm="portico", error="invalid_token", error_description="token expired"')
    const noExp = await run(inst, context({ authorization: `Bearer ${await hs({ sub: 'x' })}` }))
    assert.equal(noExp?.status, 401, 'exp is required by default')
  })
  test('clock skew: within 30s passes, beyond fails (exp, nbf, iat)', async () => {
    const inst = make({ keys: [{ secret: SECRET, algorithms: ['HS256'] }], cache_size: 0 })
    const ok = async (claims: Record<string, unknown>) => (await run(inst, context({ authorization: `Bearer ${await hs(claims)}` }))) === undefined
    assert.equal(await ok({ exp: now() - 10 }), true)
    assert.equal(await ok({ exp: now() - 60 }), false)
    assert.equal(await ok({ exp: now() + 600, nbf: now() + 10 }), true)
    assert.equal(await ok({ exp: now() + 600, nbf: now() + 60 }), false)
    assert.equal(await ok({ exp: now() + 600, iat: now() + 10 }), true)
    assert.equal(await ok({ exp: now() + 600, iat: now() + 60 }), false)
  })
  test('issuer, audience and required claims', async () => {
    const inst = make({ keys: [{ secret: SECRET, algorithms: ['HS256'] }], issuer: 'https://idp', audience: ['api', 'api2'], required_claims: ['exp', 'sub'] })
    const ok = async (claims: Record<string, unknown>) => (await run(inst, context({ authorization: `Bearer ${await hs({ exp: now() + 60, ...claims })}` }))) === undefined
    assert.equal(await ok({ iss: 'https://idp', aud: ['x', 'api2'], sub: 's' }), true)
    assert.equal(await ok({ iss: 'https://evil', aud: 'api', sub: 's' }), false)
    assert.equal(await ok({ iss: 'https://idp', aud: 'other', sub: 's' }), false)
    assert.equal(await ok({ iss: 'https://idp', aud: 'api' }), false)
  })
  test('PEM public key with RS256; kid-bound secret', async () => {
    const inst = make({ keys: [{ public_key: PEM, algorithms: ['RS256'] }, { secret: SECRET, algorithms: ['HS256'], kid: 'legacy' }] })
    const rs = await new SignJWT({ exp: now() + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey)
    assert.equal(await run(inst, context({ authorization: `Bearer ${rs}` })), undefined)
    const withKid = await new SignJWT({ exp: now() + 60 }).setProtectedHeader({ alg: 'HS256', kid: 'legacy' }).sign(new TextEncoder().encode(SECRET))
    assert.equal(await run(inst, context({ authorization: `Bearer ${withKid}` })), undefined)
    assert.equal((await run(inst, context({ authorization: `Bearer ${await hs({ exp: now() + 60 })}` })))?.status, 401, 'no kid: the kid-bound secret is not used')
  })
  test('static keys verify synchronously; a repeated token is a cache hit; the cache holds digests, never tokens', async () => {
    const inst = make({ keys: [{ secret: SECRET, algorithms: ['HS256'] }] })
    const token = await hs({ sub: 'c', exp: now() + 60 })
    const hits = async () => (await registry.getSingleMetric('portico_jwt_cache_lookups_total')!.get()).values.find((v) => v.labels.result === 'hit')?.value ?? 0
    const before = await hits()
    const first = inst.access!(context({ authorization: `Bearer ${token}` }))
    assert.equal(first, undefined, 'first sight: verified synchronously (no promise)')
    assert.equal(await hits(), before)
    const second = inst.access!(context({ authorization: `Bearer ${token}` }))
    assert.equal(second, undefined)
    assert.equal(await hits(), before + 1, 'second sight: from the cache')
    assert.notEqual(Verifier.digest(token), token)
    assert.equal(Verifier.digest(token).length, 44)
  })
  test('a cached token still expires at exp', async () => {
    const v = new Verifier(accepts({ keys: [{ secret: SECRET, algorithms: ['HS256'] }], clock_skew: 0 }), testPluginEnv().logger)
    const token = await hs({ exp: now() + 1 })
    const d = Verifier.digest(token)
    assert.equal((await v.verify(token, d)).ok, true)
    assert.ok(v.cached(d))
    const realNow = Date.now
    Date.now = () => realNow() + 2000
    try {
      assert.equal(v.cached(d), undefined)
    } finally {
      Date.now = realNow
    }
    v.close()
  })
  test('oversized token → 401 before parsing', async () => {
    const inst = make({ keys: [{ secret: SECRET, algorithms: ['HS256'] }], max_token_size: 100 })
    const r = await run(inst, context({ authorization: `Bearer ${'a'.repeat(50)}.${'b'.repeat(50)}.c` }))
    assert.equal(r?.status, 401)
  })
})
