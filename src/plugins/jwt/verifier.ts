// Token verification, prepared once per plugin instance (jose's prepareVerify habit): the allowed
// algorithms become a Map from "alg" to the key sources that accept it, so a token whose "alg"
// no source allows ("none", HS256 against an RSA key) is refused before any key is touched.
import { createPublicKey, hash, type KeyObject } from 'node:crypto'
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions, type CryptoKey } from 'jose'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { parseDuration } from '../../config/units.js'
import { acquireKeySet, KeysUnavailable, type RemoteKeySet } from './jwks.js'
import { JWT_DEFAULTS, type JwtConfig, type KeySourceConfig } from './schema.js'

/** Why a token was refused. `unavailable` = no keys to decide with (failure_mode applies). */
export type Failure = 'invalid' | 'expired' | 'unavailable'

export interface Verified {
  readonly claims: Readonly<JWTPayload>
  /** Epoch ms after which the token (and its cache entry) is no longer accepted; Infinity without exp. */
  readonly expiresAt: number
}

export type Outcome = { ok: true; value: Verified } | { ok: false; failure: Failure; reason: string }

interface Source {
  readonly label: string
  readonly kid: string | undefined
  readonly key: Uint8Array | KeyObject | ((h: Parameters<RemoteKeySet['getKey']>[0], t: Parameters<RemoteKeySet['getKey']>[1]) => Promise<CryptoKey>)
  readonly options: JWTVerifyOptions
  readonly remote: RemoteKeySet | null
}

const toList = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v])

export class Verifier {
  /** alg → sources accepting it, in config order. */
  readonly #byAlg = new Map<string, Source[]>()
  readonly #releases: Array<() => void> = []
  readonly #unsubscribe: Array<() => void> = []
  readonly #cache: LRUCache<string, Verified> | null
  readonly #skewMs: number

  constructor(config: JwtConfig, logger: Logger) {
    const skewMs = parseDuration(config.clock_skew ?? JWT_DEFAULTS.clock_skew)
    this.#skewMs = skewMs
    const cacheSize = config.cache_size ?? JWT_DEFAULTS.cache_size
    this.#cache = cacheSize > 0 ? new LRUCache<string, Verified>({ max: cacheSize }) : null
    const base: JWTVerifyOptions = {
      audience: toList(config.audience),
      clockTolerance: Math.floor(skewMs / 1000),
      requiredClaims: config.required_claims ?? [...JWT_DEFAULTS.required_claims],
    }
    const remote = {
      ttlMs: parseDuration(config.jwks_cache_ttl ?? JWT_DEFAULTS.jwks_cache_ttl),
      cooldownMs: parseDuration(config.jwks_refetch_cooldown ?? JWT_DEFAULTS.jwks_refetch_cooldown),
      maxStaleMs: parseDuration(config.jwks_max_stale ?? JWT_DEFAULTS.jwks_max_stale),
      timeoutMs: parseDuration(config.timeout ?? JWT_DEFAULTS.timeout),
      logger,
    }
    config.keys.forEach((k, i) => {
      const src = this.#source(k, i, base, toList(config.issuer), remote)
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
    base: JWTVerifyOptions,
    issuer: string[] | undefined,
    remote: { ttlMs: number; cooldownMs: number; maxStaleMs: number; timeoutMs: number; logger: Logger },
  ): Source {
    const symmetric = k.secret !== undefined
    const count = [k.secret, k.public_key, k.jwks_uri, k.discovery].filter((v) => v !== undefined).length
    if (count !== 1) throw new TypeError(`jwt: keys[${i}]: set exactly one of secret, public_key, jwks_uri, discovery`)
    // Same rule as the schema's if/then, for callers that build instances without the validator.
    for (const alg of k.algorithms) {
      if (alg.startsWith('HS') !== symmetric) throw new TypeError(`jwt: keys[${i}]: ${alg} cannot be used with ${symmetric ? 'a secret' : 'a public key'}`)
    }
    // Each source gets exactly its own algorithms: jose re-checks "alg" against them.
    const options: JWTVerifyOptions = { ...base, algorithms: [...k.algorithms], issuer: issuer ?? k.discovery }
    if (k.secret !== undefined) return { label: `keys[${i}] (secret)`, kid: k.kid, key: new TextEncoder().encode(k.secret), options, remote: null }
    if (k.public_key !== undefined) {
      // Parsed here, at compile time: no key parsing on the hot path.
      const key = createPublicKey(k.public_key)
      return { label: `keys[${i}] (public_key)`, kid: k.kid, key, options, remote: null }
    }
    const { set, release } = acquireKeySet({ ...remote, jwksUri: k.jwks_uri, discovery: k.discovery })
    this.#releases.push(release)
    if (this.#cache !== null) {
      const cache = this.#cache
      this.#unsubscribe.push(set.onChange(() => cache.clear()))
    }
    return { label: `keys[${i}] (${k.jwks_uri ?? k.discovery})`, kid: undefined, key: set.getKey, options, remote: set }
  }

  /** Cache key: the token itself is never kept in memory, only its digest. */
  static digest(token: string): string {
    return hash('sha256', token, 'base64')
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

  /** Full verification (signature + claims); a success is cached under `digest`. */
  async verify(token: string, digest: string): Promise<Outcome> {
    let header
    try {
      header = decodeProtectedHeader(token)
    } catch {
      return { ok: false, failure: 'invalid', reason: 'malformed token' }
    }
    const alg = header.alg
    const sources = typeof alg === 'string' ? this.#byAlg.get(alg) : undefined
    if (sources === undefined) return { ok: false, failure: 'invalid', reason: `algorithm ${JSON.stringify(alg)} not allowed` }
    let last: Outcome = { ok: false, failure: 'invalid', reason: `no key source for kid ${JSON.stringify(header.kid)}` }
    let unavailable: Outcome | undefined
    for (const src of sources) {
      if (src.kid !== undefined && header.kid !== src.kid) continue
      const r = await this.#verifyWith(token, src)
      if (r.ok) {
        if (this.#cache !== null && r.value.expiresAt !== Infinity) {
          const ttl = r.value.expiresAt - Date.now()
          if (ttl > 0) this.#cache.set(digest, r.value, { ttl })
        }
        return r
      }
      // Only "this key does not fit" (or "this source has no keys right now") moves on to the next
      // source; an expired or otherwise bad token stays bad with any other key.
      if (r.failure === 'unavailable') unavailable = r
      else if (r.reason === 'no matching key' || r.reason.startsWith('signature')) last = r
      else return r
    }
    return unavailable ?? last
  }

  async #verifyWith(token: string, src: Source): Promise<Outcome> {
    try {
      const { payload } = await jwtVerify(token, src.key as Parameters<typeof jwtVerify>[1], src.options)
      return this.#accepted(payload)
    } catch (err) {
      if (err instanceof errors.JWKSMultipleMatchingKeys) {
        // No "kid" and several keys fit: try each (jose makes the error iterable for this).
        for await (const key of err) {
          try {
            const { payload } = await jwtVerify(token, key, src.options)
            return this.#accepted(payload)
          } catch (inner) {
            if (!(inner instanceof errors.JWSSignatureVerificationFailed)) return classify(inner, src.label)
          }
        }
        return { ok: false, failure: 'invalid', reason: `signature verification failed (${src.label})` }
      }
      return classify(err, src.label)
    }
  }

  #accepted(payload: JWTPayload): Outcome {
    // jose checks "iat" only with maxTokenAge; a token issued in the future is refused here.
    if (typeof payload.iat === 'number' && payload.iat * 1000 > Date.now() + this.#skewMs) {
      return { ok: false, failure: 'invalid', reason: '"iat" is in the future' }
    }
    const expiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 + this.#skewMs : Infinity
    return { ok: true, value: Object.freeze({ claims: Object.freeze(payload), expiresAt }) }
  }

  close(): void {
    for (const u of this.#unsubscribe) u()
    for (const r of this.#releases) r()
    this.#unsubscribe.length = 0
    this.#releases.length = 0
    this.#cache?.clear()
  }

}

function classify(err: unknown, label: string): Outcome {
  if (err instanceof KeysUnavailable) return { ok: false, failure: 'unavailable', reason: `no usable key set (${label})` }
  if (err instanceof errors.JWTExpired) return { ok: false, failure: 'expired', reason: err.message }
  if (err instanceof errors.JWKSNoMatchingKey) return { ok: false, failure: 'invalid', reason: 'no matching key' }
  if (err instanceof errors.JWSSignatureVerificationFailed) return { ok: false, failure: 'invalid', reason: `signature verification failed (${label})` }
  if (err instanceof errors.JOSEError) return { ok: false, failure: 'invalid', reason: err.message }
  // A bug or an unexpected key problem: still a refusal, never a pass.
  return { ok: false, failure: 'invalid', reason: err instanceof Error ? err.message : String(err) }
}
