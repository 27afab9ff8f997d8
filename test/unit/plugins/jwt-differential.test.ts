// Differential test: the jwt plugin's verifier (node:crypto, synchronous) against jose's jwtVerify,
// used the way the plugin used it before (per-source algorithm allow-list, then jwtVerify with the
// source's options, "iat" in the future refused), over thousands of generated tokens: valid,
// expired, not yet valid, wrong issuer / audience, missing claims, tampered header / payload /
// signature, wrong algorithm, "none", algorithm confusion, wrong key, malformed. Both must give the
// same class (accepted with equal claims / invalid / expired) for every token.
//
// Static keys (a secret, RSA, EC P-256/384/521, Ed25519 PEMs) and a JWKS served by a real node:http
// server on loopback (members with and without kid, an "alg"-bound member, a "use": "enc" member).
//
// Where the verifier refuses on purpose what jose accepts, the last test lists the cases.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyOptions, type JSONWebKeySet } from 'jose'
import { Verifier, type Outcome } from '../../../src/plugins/jwt/verifier.js'
import type { JwtConfig } from '../../../src/plugins/jwt/schema.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { pollUntil } from '../../helpers/poll.js'

const SECRET = 'differential-hmac-secret-of-32-bytes-at-least'
const ISS = 'https://issuer.example'
const AUD = ['api', 'api2']
const SKEW_S = 30

const pair = (type: 'rsa' | 'ec' | 'ed25519', curve?: string) =>
  type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : type === 'ec' ? generateKeyPairSync('ec', { namedCurve: curve! }) : generateKeyPairSync('ed25519')
const KEYS = {
  rsa: pair('rsa'),
  p256: pair('ec', 'P-256'),
  p384: pair('ec', 'P-384'),
  p521: pair('ec', 'P-521'),
  ed: pair('ed25519'),
}
// Same types, other keys: "wrong key" tokens.
const OTHER = { rsa: pair('rsa'), p256: pair('ec', 'P-256'), p384: pair('ec', 'P-384'), p521: pair('ec', 'P-521'), ed: pair('ed25519') }
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string

type Alg = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'
const ALGS: Alg[] = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
const keyFor = (alg: Alg, set: typeof KEYS = KEYS): KeyObject | string =>
  alg.startsWith('HS')
    ? SECRET
    : alg.startsWith('RS') || alg.startsWith('PS')
      ? set.rsa.privateKey
      : alg === 'ES256'
        ? set.p256.privateKey
        : alg === 'ES384'
          ? set.p384.privateKey
          : alg === 'ES512'
            ? set.p521.privateKey
            : set.ed.privateKey

const b64 = (v: string | Buffer) => Buffer.from(v).toString('base64url')
const json = (v: unknown) => b64(JSON.stringify(v))

/** Signs like a JWS library would, for any alg name over any key (so wrong combinations can be made). */
function signInput(input: string, alg: string, key: KeyObject | string): Buffer {
  const bits = alg.slice(2)
  const hashName = `sha${bits}`
  if (alg.startsWith('HS')) return createHmac(hashName, key as string | KeyObject).update(input).digest()
  if (alg.startsWith('RS')) return sign(hashName, Buffer.from(input), key as KeyObject)
  if (alg.startsWith('PS')) return sign(hashName, Buffer.from(input), { key: key as KeyObject, padding: 6, saltLength: Number(bits) / 8 })
  if (alg.startsWith('ES')) return sign(hashName, Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
  return sign(null, Buffer.from(input), key as KeyObject)
}
function token(header: Record<string, unknown>, claims: unknown, key: KeyObject | string, signAs = String(header.alg)): string {
  const input = `${json(header)}.${typeof claims === 'string' ? b64(claims) : json(claims)}`
  return `${input}.${signInput(input, signAs, key).toString('base64url')}`
}

/** mulberry32: the same tokens on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Class = 'ok' | 'invalid' | 'expired'
type Result = { cls: Class; claims?: unknown }

const options = (algorithms: string[]): JWTVerifyOptions => ({ algorithms, issuer: [ISS], audience: AUD, clockTolerance: SKEW_S, requiredClaims: ['exp'] })

/** The plugin's verification as it was, on jose: allow-list → sources for the alg → jwtVerify each. */
async function withJose(t: string, sources: Map<string, Array<{ key: unknown; algs: string[]; kid?: string }>>): Promise<Result> {
  let header
  try {
    header = decodeProtectedHeader(t)
  } catch {
    return { cls: 'invalid' }
  }
  const list = typeof header.alg === 'string' ? sources.get(header.alg) : undefined
  if (list === undefined) return { cls: 'invalid' }
  for (const src of list) {
    if (src.kid !== undefined && header.kid !== src.kid) continue
    try {
      const { payload } = await jwtVerify(t, src.key as Uint8Array, options(src.algs))
      if (typeof payload.iat === 'number' && payload.iat * 1000 > Date.now() + SKEW_S * 1000) return { cls: 'invalid' }
      return { cls: 'ok', claims: payload }
    } catch (err) {
      if (err instanceof errors.JWKSMultipleMatchingKeys) {
        for await (const key of err) {
          try {
            const { payload } = await jwtVerify(t, key, options(src.algs))
            if (typeof payload.iat === 'number' && payload.iat * 1000 > Date.now() + SKEW_S * 1000) return { cls: 'invalid' }
            return { cls: 'ok', claims: payload }
          } catch (inner) {
            if (!(inner instanceof errors.JWSSignatureVerificationFailed)) return { cls: inner instanceof errors.JWTExpired ? 'expired' : 'invalid' }
          }
        }
        continue
      }
      if (err instanceof errors.JWTExpired) return { cls: 'expired' }
      if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) continue
      return { cls: 'invalid' }
    }
  }
  return { cls: 'invalid' }
}

async function withVerifier(v: Verifier, t: string): Promise<Result> {
  const out: Outcome = await v.verify(t, '')
  if (out.ok) return { cls: 'ok', claims: out.value.claims }
  assert.notEqual(out.failure, 'unavailable', `no key set for ${t}`)
  return { cls: out.failure as Class }
}

/** The token families, each a function of the random source; `alg` is one the route allows. */
function generate(rnd: () => number, count: number, algs: Alg[], extraHeader: () => Record<string, unknown> = () => ({})): Array<{ kind: string; token: string }> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const now = () => Math.floor(Date.now() / 1000)
  const claims = (): Record<string, unknown> => {
    const c: Record<string, unknown> = { iss: ISS, aud: pick(['api', 'api2', ['x', 'api'], ['api2']]), sub: `u${Math.floor(rnd() * 1e6)}`, exp: now() + 600 }
    if (rnd() < 0.3) c.iat = now() - 5
    if (rnd() < 0.2) c.nbf = now() - 5
    if (rnd() < 0.2) c.roles = ['a', 'b']
    return c
  }
  const flipByte = (sig: string) => {
    const b = Buffer.from(sig, 'base64url')
    const at = Math.floor(rnd() * b.length)
    b[at] = b[at]! ^ (1 << Math.floor(rnd() * 8))
    return b.toString('base64url')
  }
  const families: Array<[string, () => string]> = [
    ['valid', () => { const a = pick(algs); return token({ alg: a, typ: 'JWT', ...extraHeader() }, claims(), keyFor(a)) }],
    ['expired within skew', () => { const a = pick(algs); return token({ alg: a, ...extraHeader() }, { ...claims(), exp: now() - 10 }, keyFor(a)) }],
    ['expired', () => { const a = pick(algs); return token({ alg: a, ...extraHeader() }, { ...claims(), exp: now() - 60 - Math.floor(rnd() * 1e5) }, keyFor(a)) }],
    ['expired and wrong issuer', () => { const a = pick(algs); return token({ alg: a, ...extraHeader() }, { ...claims(), iss: 'https://evil', exp: now() - 120 }, keyFor(a)) }],
    ['nbf in the future', () => { const a = pick(algs); return token({ alg: a, ...extraHeader() }, { ...claims(), nbf: now() + pick([10, 90, 5000]) }, keyFor(a)) }],
    ['iat in the future', () => { const a = pick(algs); return token({ alg: a, ...extraHeader() }, { ...claims(), iat: now() + pick([10, 90, 5000]) }, keyFor(a)) }],
    ['wrong issuer', () => { const a = pick(algs); return token({ alg: a, ...extraHeader() }, { ...claims(), iss: pick(['https://evil', 42, null, [ISS]]) }, keyFor(a)) }],
    ['wrong audience', () => { const a = pick(algs); return token({ alg: a, ...extraHeader() }, { ...claims(), aud: pick(['other', ['x'], 7, [], null]) }, keyFor(a)) }],
    ['missing claims', () => { const a = pick(algs); const c = claims(); delete c[pick(['exp', 'iss', 'aud'])]; return token({ alg: a, ...extraHeader() }, c, keyFor(a)) }],
    ['claims of the wrong type', () => { const a = pick(algs); return token({ alg: a, ...extraHeader() }, { ...claims(), [pick(['exp', 'nbf', 'iat'])]: pick(['123', null, true, {}]) }, keyFor(a)) }],
    ['payload not an object', () => { const a = pick(algs); return token({ alg: a, ...extraHeader() }, pick(['[1,2]', '"s"', '12', 'null', '{', 'not json', '\xff\xfe{}']), keyFor(a)) }],
    ['tampered payload', () => { const a = pick(algs); const [h, , s] = token({ alg: a, ...extraHeader() }, claims(), keyFor(a)).split('.'); return `${h}.${json({ ...claims(), sub: 'admin' })}.${s}` }],
    ['tampered header', () => { const a = pick(algs); const [, p, s] = token({ alg: a, ...extraHeader() }, claims(), keyFor(a)).split('.'); return `${json({ alg: a, typ: 'at+jwt', ...extraHeader() })}.${p}.${s}` }],
    ['tampered signature', () => { const a = pick(algs); const [h, p, s] = token({ alg: a, ...extraHeader() }, claims(), keyFor(a)).split('.'); return `${h}.${p}.${flipByte(s!)}` }],
    ['truncated signature', () => { const a = pick(algs); const t = token({ alg: a, ...extraHeader() }, claims(), keyFor(a)); return t.slice(0, t.length - 4) }],
    ['wrong key', () => { const a = pick(algs.filter((x) => !x.startsWith('HS')).concat(['HS256'])); const k = a.startsWith('HS') ? 'another-secret-that-is-also-32-bytes-long' : keyFor(a, OTHER); return token({ alg: a, ...extraHeader() }, claims(), k) }],
    ['alg not allowed', () => { const a = pick(ALGS.filter((x) => !algs.includes(x))); return a === undefined ? token({ alg: 'HS256' }, claims(), 'x') : token({ alg: a, ...extraHeader() }, claims(), keyFor(a)) }],
    ['signed with another alg than the header says', () => { const a = pick(algs); const b = pick(ALGS.filter((x) => x !== a && x.slice(0, 2) === a.slice(0, 2))); return b === undefined ? token({ alg: a }, claims(), keyFor(a), a) : token({ alg: a, ...extraHeader() }, claims(), keyFor(b), b) }],
    ['alg none', () => `${json({ alg: pick(['none', 'None', 'NONE']) })}.${json(claims())}.${pick(['', 'AAAA'])}`],
    ['alg confusion', () => token({ alg: 'HS256', ...extraHeader() }, claims(), pick([pem(KEYS.rsa.publicKey), pem(KEYS.p256.publicKey), KEYS.rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('latin1')]))],
    ['alg of the wrong type', () => `${json({ alg: pick([256, null, ['HS256'], '', 'hs256']) })}.${json(claims())}.AAAA`],
    ['crit', () => { const a = pick(algs); return token({ alg: a, crit: pick([['exp'], [], 'x', ['x', 'x']]), exp: 1, ...extraHeader() }, claims(), keyFor(a)) }],
    ['header keys that must be ignored', () => { const a = pick(algs.filter((x) => !x.startsWith('HS')).concat(['ES256'])); const o = keyFor(a as Alg, OTHER); return token({ alg: a, jku: 'http://127.0.0.1:1/jwks', x5u: 'http://127.0.0.1:1/c', jwk: { kty: 'EC' }, ...extraHeader() }, claims(), o) }],
    ['header not an object', () => `${b64(pick(['[1]', '"HS256"', 'null', '{', '', '\xff']))}.${json(claims())}.AAAA`],
    ['wrong number of parts', () => pick(['a.b', 'a', '', 'a.b.c.d', '...', '..', `${json({ alg: 'HS256' })}.${json(claims())}`, `${json({ alg: 'HS256' })}..AAAA`])],
    ['not base64url', () => { const a = pick(algs); const t = token({ alg: a, ...extraHeader() }, claims(), keyFor(a)); const at = Math.floor(rnd() * t.length); return t.slice(0, at) + pick(['*', '!', '%', '\u00e9', '\u0000']) + t.slice(at + 1) }],
  ]
  const out: Array<{ kind: string; token: string }> = []
  for (let i = 0; i < count; i++) {
    const [kind, make] = families[i % families.length]!
    out.push({ kind, token: make() })
  }
  return out
}

describe('jwt verifier vs jose (differential)', () => {
  const env = testPluginEnv()
  let jwksServer: Server
  let jwksUri = ''
  let jwks: JSONWebKeySet
  const verifiers: Verifier[] = []
  after(async () => {
    verifiers.forEach((v) => v.close())
    await new Promise<void>((r) => (jwksServer ? jwksServer.close(() => r()) : r()))
  })

  before(async () => {
    const jwk = (k: KeyObject, extra: Record<string, unknown>) => ({ ...k.export({ format: 'jwk' }), ...extra })
    jwks = {
      keys: [
        jwk(KEYS.rsa.publicKey, { kid: 'rsa-1' }),
        jwk(KEYS.p256.publicKey, { kid: 'ec-1', alg: 'ES256', use: 'sig' }),
        jwk(OTHER.p256.publicKey, { kid: 'ec-enc', use: 'enc' }),
        jwk(KEYS.p384.publicKey, {}),
        jwk(OTHER.p384.publicKey, {}),
        jwk(KEYS.ed.publicKey, { kid: 'ed-1', key_ops: ['verify'] }),
        jwk(OTHER.ed.publicKey, { kid: 'ed-2', key_ops: ['sign'] }),
      ] as JSONWebKeySet['keys'],
    }
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(jwks))
    })
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r))
    jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`
  })

  const config = (keys: JwtConfig['keys']): JwtConfig => ({ keys, issuer: ISS, audience: AUD, clock_skew: `${SKEW_S}s`, required_claims: ['exp'], cache_size: 0 })

  test('static keys: every generated token gets the same answer', async () => {
    const HS: Alg[] = ['HS256', 'HS384', 'HS512']
    const RS: Alg[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
    const v = new Verifier(
      config([
        { secret: SECRET, algorithms: HS },
        { public_key: pem(KEYS.rsa.publicKey), algorithms: RS },
        { public_key: pem(KEYS.p256.publicKey), algorithms: ['ES256'] },
        { public_key: pem(KEYS.p384.publicKey), algorithms: ['ES384'] },
        { public_key: pem(KEYS.p521.publicKey), algorithms: ['ES512'] },
        { public_key: pem(KEYS.ed.publicKey), algorithms: ['EdDSA'] },
      ]),
      env.logger,
    )
    verifiers.push(v)
    const sources = new Map<string, Array<{ key: unknown; algs: string[] }>>()
    const add = (algs: Alg[], key: unknown) => algs.forEach((a) => sources.set(a, [{ key, algs }]))
    add(HS, new TextEncoder().encode(SECRET))
    add(RS, KEYS.rsa.publicKey)
    add(['ES256'], KEYS.p256.publicKey)
    add(['ES384'], KEYS.p384.publicKey)
    add(['ES512'], KEYS.p521.publicKey)
    add(['EdDSA'], KEYS.ed.publicKey)

    const tokens = generate(prng(0x5eed), 4000, ALGS)
    const seen = new Map<string, Record<Class, number>>()
    for (const { kind, token: t } of tokens) {
      const [mine, theirs] = [await withVerifier(v, t), await withJose(t, sources)]
      assert.deepEqual(mine, theirs, `${kind}: ${t}`)
      const s = seen.get(kind) ?? { ok: 0, invalid: 0, expired: 0 }
      s[mine.cls]++
      seen.set(kind, s)
    }
    // The generator really made each kind of answer.
    assert.ok(seen.get('valid')!.ok > 100 && seen.get('valid')!.invalid === 0)
    assert.ok(seen.get('expired')!.expired > 100)
    assert.ok(seen.get('expired within skew')!.ok > 100)
    assert.ok(seen.get('expired and wrong issuer')!.invalid > 100, 'a claim check before exp decides the class, as in jose')
    for (const kind of ['tampered payload', 'tampered signature', 'wrong key', 'alg none', 'alg confusion', 'alg not allowed', 'crit', 'not base64url']) {
      assert.equal(seen.get(kind)!.ok, 0, kind)
    }
  })

  test('a JWKS: kid, no kid (several members fit), alg-bound, use and key_ops members', async () => {
    const v = new Verifier({ ...config([{ jwks_uri: jwksUri, algorithms: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] }]), jwks_refetch_cooldown: '1h' }, env.logger)
    verifiers.push(v)
    const probe = token({ alg: 'ES256', kid: 'ec-1' }, { iss: ISS, aud: 'api', exp: Math.floor(Date.now() / 1000) + 60 }, KEYS.p256.privateKey)
    await pollUntil(async () => (await v.verify(probe, '')).ok, { timeoutMs: 10_000, what: 'JWKS fetched' })
    const local = createLocalJWKSet(jwks)
    const sources = new Map<string, Array<{ key: unknown; algs: string[] }>>()
    for (const a of ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']) sources.set(a, [{ key: local, algs: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] }])
    const rnd = prng(0xbeef)
    const kidFor = (): Record<string, unknown> => {
      const r = rnd()
      return r < 0.5 ? {} : { kid: ['rsa-1', 'ec-1', 'ec-enc', 'ed-1', 'ed-2', 'unknown', 7][Math.floor(rnd() * 7)] }
    }
    const tokens = generate(rnd, 1500, ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'], kidFor)
    let ok = 0
    for (const { kind, token: t } of tokens) {
      const [mine, theirs] = [await withVerifier(v, t), await withJose(t, sources)]
      assert.deepEqual(mine, theirs, `${kind}: ${t}`)
      if (mine.cls === 'ok') ok++
    }
    assert.ok(ok > 50, `some JWKS tokens pass (${ok})`)
  })

  test('deliberately stricter than jose: non-canonical base64url, crit b64, short RSA keys', async () => {
    const v = new Verifier(config([{ secret: SECRET, algorithms: ['HS256'] }]), env.logger)
    verifiers.push(v)
    const claims = { iss: ISS, aud: 'api', exp: Math.floor(Date.now() / 1000) + 60 }
    const good = token({ alg: 'HS256' }, claims, SECRET)
    const [h, p, s] = good.split('.') as [string, string, string]
    // An HS256 signature is 32 bytes: 43 characters whose last one carries two padding bits.
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(s.at(-1)!)
    const padded = `${h}.${p}.${s}=`
    const trailing = `${h}.${p}.${s.slice(0, -1)}${'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[last | 1]}`
    const crit = token({ alg: 'HS256', crit: ['b64'], b64: true }, claims, SECRET)
    for (const t of [padded, trailing, crit]) {
      const jose = await jwtVerify(t, new TextEncoder().encode(SECRET), options(['HS256'])).then(
        () => 'accepted',
        () => 'refused',
      )
      assert.equal(jose, 'accepted', `jose accepts ${t}`)
      const out = await v.verify(t, '')
      assert.equal(out.ok, false, t)
    }
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 })
    assert.throws(() => new Verifier(config([{ public_key: pem(short.publicKey), algorithms: ['RS256'] }]), env.logger), /at least 2048 bits/)
    assert.throws(() => new Verifier(config([{ public_key: pem(KEYS.p256.publicKey), algorithms: ['ES384'] }]), env.logger), /ES384 needs an EC P-384 key/)
  })
})
