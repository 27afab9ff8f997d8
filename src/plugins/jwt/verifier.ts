// Token verification, prepared once per plugin instance (jose's prepareVerify habit): the allowed
// algorithms become a Map from "alg" to the key sources that accept it, so a token whose "alg"
// no source allows ("none", HS256 against an RSA key) is refused before any key is touched.
//
// Verification is synchronous (jws.ts, node:crypto with KeyObjects made here or when a key set is
// fetched). Only a remote source without keys for the token (none fetched yet, or an unknown kid)
// makes it asynchronous: verify() then returns a promise that waits for that one fetch.
import { createPublicKey, createSecretKey, hash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { parseDuration } from '../../config/units.js'
import { acquireKeySet, type RemoteKeySet } from './jwks.js'
import { ALGS, jsonObject, keyMismatch, parse, signatureValid, verifyKey, type Parsed, type Refusal, type VerifyKey } from './jws.js'
import { JWT_DEFAULTS, type JwsAlg, type JwtConfig, type KeySourceConfig } from './schema.js'

/** Why a token was refused. `unavailable` = no keys to decide with (failure_mode applies). */
export type Failure = 'invalid' | 'expired' | 'unavailable'

export interface Verified {
  readonly claims: Readonly<Record<string, unknown>>
  /** Epoch ms after which the token (and its cache entry) is no longer accepted; Infinity without exp. */
  readonly expiresAt: number
}

export type Outcome = { ok: true; value: Verified } | { ok: false; failure: Failure; refusal: Refusal; reason: string }

/** What a source checks besides the signature (jose's JWTVerifyOptions, resolved once). */
interface ClaimRules {
  readonly issuer: readonly string[] | undefined
  readonly audience: readonly string[] | undefined
  /** Claims that must be present: required_claims, plus iss / aud when those are checked. */
  readonly required: readonly string[]
  /** Whole seconds, as jose's clockTolerance (exp, nbf). */
  readonly toleranceSec: number
  /** Milliseconds, for iat (checked here, not by jose) and the cache's expiry. */
  readonly skewMs: number
}

interface Source {
  readonly label: string
  readonly kid: string | undefined
  /** alg → the static key for it; empty for a remote source. */
  readonly keys: ReadonlyMap<string, VerifyKey>
  readonly remote: RemoteKeySet | null
  readonly rules: ClaimRules
}

const toList = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v])
const own = Object.prototype.hasOwnProperty

const fail = (refusal: Refusal, reason: string): Outcome => ({
  ok: false,
  failure: refusal === 'expired' ? 'expired' : refusal === 'unavailable' ? 'unavailable' : 'invalid',
  refusal,
  reason,
})

/** Outcomes of the parse step, made once (they carry no token data). */
const PARSE_FAILURES: Readonly<Record<string, Outcome>> = Object.freeze({
  structure: fail('structure', 'malformed token (not three base64url parts)'),
  encoding: fail('encoding', 'malformed token (not strict base64url)'),
  header: fail('header', 'malformed token (header is not a JSON object)'),
  crit: fail('crit', '"crit" header parameter is not supported'),
  alg: fail('alg', 'algorithm not allowed'),
  signature_length: fail('signature_length', 'signature length does not fit the algorithm'),
})

interface Pending {
  last: Outcome
  unavailable: Outcome | undefined
}

export class Verifier {
  /** alg → sources accepting it, in config order. */
  readonly #byAlg = new Map<string, Source[]>()
  readonly #releases: Array<() => void> = []
  readonly #unsubscribe: Array<() => void> = []
  readonly #cache: LRUCache<string, Verified> | null

  constructor(config: JwtConfig, logger: Logger) {
    const skewMs = parseDuration(config.clock_skew ?? JWT_DEFAULTS.clock_skew)
    const cacheSize = config.cache_size ?? JWT_DEFAULTS.cache_size
    this.#cache = cacheSize > 0 ? new LRUCache<string, Verified>({ max: cacheSize }) : null
    const remote = {
      ttlMs: parseDuration(config.jwks_cache_ttl ?? JWT_DEFAULTS.jwks_cache_ttl),
      cooldownMs: parseDuration(config.jwks_refetch_cooldown ?? JWT_DEFAULTS.jwks_refetch_cooldown),
      maxStaleMs: parseDuration(config.jwks_max_stale ?? JWT_DEFAULTS.jwks_max_stale),
      timeoutMs: parseDuration(config.timeout ?? JWT_DEFAULTS.timeout),
      logger,
    }
    const audience = toList(config.audience)
    const issuer = toList(config.issuer)
    const required = config.required_claims ?? [...JWT_DEFAULTS.required_claims]
    config.keys.forEach((k, i) => {
      const iss = issuer ?? (k.discovery !== undefined ? [k.discovery] : undefined)
      const rules: ClaimRules = Object.freeze({
        issuer: iss,
        audience,
        required: [...new Set([...required, ...(audience !== undefined ? ['aud'] : []), ...(iss !== undefined ? ['iss'] : [])])],
        toleranceSec: Math.floor(skewMs / 1000),
        skewMs,
      })
      const src = this.#source(k, i, rules, remote)
      for (const alg of k.algorithms) {
        let list = this.#byAlg.get(alg)
        if (list === undefined) this.#byAlg.set(alg, (list = []))
        list.push(src)
      }
    })
  }

  #source(
    k: KeySourceConfig,
    i: number,
    rules: ClaimRules,
    remote: { ttlMs: number; cooldownMs: number; maxStaleMs: number; timeoutMs: number; logger: Logger },
  ): Source {
    const symmetric = k.secret !== undefined
    const count = [k.secret, k.public_key, k.jwks_uri, k.discovery].filter((v) => v !== undefined).length
    if (count !== 1) throw new TypeError(`jwt: keys[${i}]: set exactly one of secret, public_key, jwks_uri, discovery`)
    // Same rule as the schema's if/then, for callers that build instances without the validator.
    for (const alg of k.algorithms) {
      if (alg.startsWith('HS') !== symmetric) throw new TypeError(`jwt: keys[${i}]: ${alg} cannot be used with ${symmetric ? 'a secret' : 'a public key'}`)
    }
    if (k.secret !== undefined || k.public_key !== undefined) {
      // Parsed here, at compile time: no key parsing on the hot path. A key that cannot do one of
      // its algorithms is a config error now rather than a 401 for every token later.
      const key = k.secret !== undefined ? createSecretKey(Buffer.from(k.secret, 'utf8')) : createPublicKey(k.public_key!)
      const keys = new Map<string, VerifyKey>()
      for (const alg of k.algorithms) {
        const s = ALGS[alg as JwsAlg]
        const why = keyMismatch(s, key)
        if (why !== null) throw new TypeError(`jwt: keys[${i}]: ${why}`)
        keys.set(alg, verifyKey(s, key))
      }
      return { label: `keys[${i}] (${symmetric ? 'secret' : 'public_key'})`, kid: k.kid, keys, remote: null, rules }
    }
    const { set, release } = acquireKeySet({ ...remote, jwksUri: k.jwks_uri, discovery: k.discovery })
    this.#releases.push(release)
    if (this.#cache !== null) {
      const cache = this.#cache
      this.#unsubscribe.push(set.onChange(() => cache.clear()))
    }
    return { label: `keys[${i}] (${k.jwks_uri ?? k.discovery})`, kid: undefined, keys: new Map(), remote: set, rules }
  }

  /** Cache key: the token itself is never kept in memory, only its digest. */
  static digest(token: string): string {
    return hash('sha256', token, 'base64')
  }

  /** True when cached() can answer; without a cache the digest need not be computed. */
  get caching(): boolean {
    return this.#cache !== null
  }

  /** A verified token from the cache (still within its exp), or undefined. Synchronous. */
  cached(digest: string): Verified | undefined {
    const c = this.#cache
    if (c === null) return undefined
    const hit = c.get(digest)
    if (hit === undefined) return undefined
    if (Date.now() >= hit.expiresAt) {
      c.delete(digest)
      return undefined
    }
    return hit
  }

  /**
   * Full verification (structure, signature, claims); a success is cached under `digest`.
   * Synchronous unless a remote key set has to be fetched for this token.
   */
  verify(token: string, digest: string): Outcome | Promise<Outcome> {
    const p = parse(token, this.#byAlg)
    if (typeof p === 'string') return PARSE_FAILURES[p]!
    const sources = this.#byAlg.get(p.spec.alg)!
    const pending: Pending = { last: fail('kid', `no key source for kid ${JSON.stringify(p.kid)}`), unavailable: undefined }
    return this.#from(p, sources, 0, pending, digest)
  }

  /** The source loop from `i` on; continues asynchronously only where a source must fetch keys. */
  #from(p: Parsed, sources: readonly Source[], i: number, pending: Pending, digest: string): Outcome | Promise<Outcome> {
    for (; i < sources.length; i++) {
      const src = sources[i]!
      if (src.kid !== undefined && p.kid !== src.kid) continue
      let r: Outcome
      if (src.remote === null) {
        r = this.#withKeys(p, src, [src.keys.get(p.spec.alg)!])
      } else {
        const keys = src.remote.select(p.spec.alg, p.kid)
        if (keys === null || keys.length === 0) return this.#fetchThen(p, sources, i, pending, digest, keys === null ? 'no_keys' : 'unknown_kid')
        r = this.#withKeys(p, src, keys)
      }
      const done = this.#step(r, pending, digest)
      if (done !== undefined) return done
    }
    return pending.unavailable ?? pending.last
  }

  async #fetchThen(p: Parsed, sources: readonly Source[], i: number, pending: Pending, digest: string, why: 'no_keys' | 'unknown_kid'): Promise<Outcome> {
    const src = sources[i]!
    const remote = src.remote!
    await remote.needKeys(why)
    const keys = remote.select(p.spec.alg, p.kid)
    const r =
      keys === null
        ? fail('unavailable', `no usable key set (${src.label})`)
        : keys.length === 0
          ? fail('kid', 'no matching key')
          : this.#withKeys(p, src, keys)
    const done = this.#step(r, pending, digest)
    return done ?? this.#from(p, sources, i + 1, pending, digest)
  }

  /** The outcome of one source: final (returned), or "try the next source" (undefined). */
  #step(r: Outcome, pending: Pending, digest: string): Outcome | undefined {
    if (r.ok) {
      if (this.#cache !== null && r.value.expiresAt !== Infinity) {
        const ttl = r.value.expiresAt - Date.now()
        if (ttl > 0) this.#cache.set(digest, r.value, { ttl })
      }
      return r
    }
    // Only "this key does not fit" (or "this source has no keys right now") moves on to the next
    // source; an expired or otherwise bad token stays bad with any other key.
    if (r.failure === 'unavailable') pending.unavailable = r
    else if (r.refusal === 'kid' || r.refusal === 'signature') pending.last = r
    else return r
    return undefined
  }

  /** Signature with any of `keys` (several when a JWKS has no kid to choose by), then the claims. */
  #withKeys(p: Parsed, src: Source, keys: ReadonlyArray<VerifyKey | null>): Outcome {
    let valid = false
    for (let i = 0; i < keys.length && !valid; i++) {
      const k = keys[i]
      if (k != null) valid = signatureValid(p, k)
    }
    if (!valid) return fail('signature', `signature verification failed (${src.label})`)
    const claims = jsonObject(p.payload)
    if (claims === undefined) return fail('payload', 'JWT Claims Set must be a top-level JSON object')
    return accepted(claims, src.rules)
  }

  close(): void {
    for (const u of this.#unsubscribe) u()
    for (const r of this.#releases) r()
    this.#unsubscribe.length = 0
    this.#releases.length = 0
    this.#cache?.clear()
  }
}

/** jose's validateClaimsSet, in its order (so a refusal has the same class), plus "iat" in the future. */
function accepted(claims: Record<string, unknown>, r: ClaimRules): Outcome {
  for (let i = 0; i < r.required.length; i++) {
    if (!own.call(claims, r.required[i]!)) return fail('claims', `missing required "${r.required[i]}" claim`)
  }
  if (r.issuer !== undefined && !r.issuer.includes(claims.iss as string)) return fail('claims', 'unexpected "iss" claim value')
  if (r.audience !== undefined) {
    const aud = claims.aud
    const fits = typeof aud === 'string' ? r.audience.includes(aud) : Array.isArray(aud) ? r.audience.some((a) => aud.includes(a)) : false
    if (!fits) return fail('claims', 'unexpected "aud" claim value')
  }
  const now = Math.floor(Date.now() / 1000)
  const { iat, nbf, exp } = claims
  if (iat !== undefined && typeof iat !== 'number') return fail('claims', '"iat" claim must be a number')
  if (nbf !== undefined) {
    if (typeof nbf !== 'number') return fail('claims', '"nbf" claim must be a number')
    if (nbf > now + r.toleranceSec) return fail('claims', '"nbf" claim timestamp check failed')
  }
  if (exp !== undefined) {
    if (typeof exp !== 'number') return fail('claims', '"exp" claim must be a number')
    if (exp <= now - r.toleranceSec) return fail('expired', '"exp" claim timestamp check failed')
  }
  // jose checks "iat" only with maxTokenAge; a token issued in the future is refused here.
  if (typeof iat === 'number' && iat * 1000 > Date.now() + r.skewMs) return fail('claims', '"iat" is in the future')
  const expiresAt = typeof exp === 'number' ? exp * 1000 + r.skewMs : Infinity
  return { ok: true, value: Object.freeze({ claims: Object.freeze(claims), expiresAt }) }
}
