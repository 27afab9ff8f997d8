// Remote key sets (a JWKS URL, or one found through OIDC discovery), shared by every jwt instance
// that names the same source with the same settings, so a reload or ten routes behind one IdP
// cost one fetch and one timer (jose src/jwks/remote.ts: one fetch in flight, a cooldown).
//
// Contract:
// - keys are fetched at creation and then every `ttlMs` in the background (timer unref'd);
// - a token whose "kid" is unknown triggers one refetch, shared by all requests waiting on it, at
//   most once per `cooldownMs`; a signing key added by the IdP therefore works without a restart;
// - a key removed from the set stops working at the next refresh (≤ ttlMs), and every instance's
//   verified-token cache is cleared when the set changes;
// - a failed refresh keeps the last good set for `maxStaleMs` past its ttl; after that (or before
//   the first success) select() answers null and the plugin applies its failure_mode.
//
// Keys are imported once per fetch (node:crypto createPublicKey, format 'jwk': synchronous, and the
// KeyObject is what jws.ts verifies with), and chosen per token by select(), synchronously, with
// jose's rules (jose src/jwks/local.ts isUsableJWK): kty and crv fit the alg, "kid" equal when the
// token names one, "alg" equal when the JWK names one, "use" sig or absent, "key_ops" with verify.
import { createPublicKey } from 'node:crypto'
import { request } from 'undici'
import type { Logger } from 'pino'
import { Counter } from 'prom-client'
import { registry } from '../../observability/metrics.js'
import { ALGS, keyMismatch, verifyKey, type AlgSpec, type VerifyKey } from './jws.js'
import type { JwsAlg } from './schema.js'

export const jwksFetches = new Counter({
  name: 'portico_jwt_jwks_fetches_total',
  help: 'Fetches of JWKS / OIDC discovery documents by the jwt plugin, by reason (startup, refresh, unknown_kid, no_keys) and result (changed, unchanged, error).',
  labelNames: ['reason', 'result'] as const,
  registers: [registry],
})

export interface KeySetOptions {
  /** Exactly one of the two. */
  jwksUri?: string
  discovery?: string
  ttlMs: number
  cooldownMs: number
  maxStaleMs: number
  timeoutMs: number
  logger: Logger
}

/** Largest JWKS / discovery document accepted (real ones are a few KiB). */
const MAX_DOCUMENT_BYTES = 512 * 1024

type Reason = 'startup' | 'refresh' | 'unknown_kid' | 'no_keys'

/** One member of a fetched set: what selection reads, and the key per alg it can verify. */
interface Member {
  readonly kty: unknown
  readonly kid: unknown
  readonly alg: unknown
  readonly use: unknown
  readonly crv: unknown
  readonly usable: boolean
  /** alg → key, for the algs this member's key can do; an alg it cannot do is absent (a mismatch, never a pass). */
  readonly keys: ReadonlyMap<string, VerifyKey>
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function member(jwk: Record<string, unknown>): Member {
  const { kty, kid, alg, use, crv, key_ops: ops, ext } = jwk
  const usable =
    (ext === undefined || typeof ext === 'boolean') &&
    (ops === undefined || (Array.isArray(ops) && ops.every((o, i) => typeof o === 'string' && ops.indexOf(o) === i) && ops.includes('verify'))) &&
    (use === undefined || use === 'sig') &&
    // A private member (jose refuses those too): never derive a public key from it.
    jwk.d === undefined
  const keys = new Map<string, VerifyKey>()
  if (usable) {
    try {
      const key = createPublicKey({ key: jwk as never, format: 'jwk' })
      for (const s of Object.values(ALGS)) if (s.kty === kty && keyMismatch(s, key) === null) keys.set(s.alg, verifyKey(s, key))
    } catch {
      // Not importable: selected like jose would, and fails like a wrong key.
    }
  }
  return Object.freeze({ kty, kid, alg, use, crv, usable, keys })
}

/** jose's isUsableJWK for alg `s` and the token's kid (undefined = any). */
function fits(m: Member, s: AlgSpec, kid: unknown): boolean {
  return (
    m.usable &&
    m.kty === s.kty &&
    (kid === undefined || (typeof kid === 'string' && kid === m.kid)) &&
    (m.alg === undefined || m.alg === s.alg) &&
    (s.crv === undefined || m.crv === s.crv)
  )
}

/** A fitting member whose key is absent (unimportable, too short): verifies nothing. */
const NO_KEY: VerifyKey | null = null

export class RemoteKeySet {
  readonly #o: KeySetOptions
  #set: readonly Member[] | null = null
  #fingerprint = ''
  /** Date.now() of the last successful fetch. */
  #fetchedAt = 0
  /** Date.now() of the last fetch started (success or not): the cooldown is counted from it. */
  #lastAttempt = -Infinity
  #inflight: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null
  #jwksUri: string | null
  readonly #listeners = new Set<() => void>()

  constructor(o: KeySetOptions) {
    this.#o = o
    this.#jwksUri = o.jwksUri ?? null
  }

  /** Starts the first fetch and the background refresh. */
  start(): void {
    void this.refresh('startup')
    this.#timer = setInterval(() => void this.refresh('refresh'), this.#o.ttlMs)
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  /** Called whenever a fetch yields a set different from the previous one. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  /** The current set, or null when there is none or it is stale past max_stale. */
  #usable(): readonly Member[] | null {
    if (this.#set === null) return null
    return Date.now() - this.#fetchedAt <= this.#o.ttlMs + this.#o.maxStaleMs ? this.#set : null
  }

  /** True once a set has been fetched and is not stale (for readiness checks and tests). */
  get ready(): boolean {
    return this.#usable() !== null
  }

  /**
   * The keys that fit a token with this alg and kid, synchronously: null when there is no usable
   * set (see needKeys), [] when no member fits (an unknown kid: see needKeys). A fitting member
   * whose key cannot do the alg appears as null, so it fails like a wrong key.
   */
  select(alg: JwsAlg, kid: unknown): ReadonlyArray<VerifyKey | null> | null {
    const set = this.#usable()
    if (set === null) return null
    const s = ALGS[alg]
    const out: Array<VerifyKey | null> = []
    for (let i = 0; i < set.length; i++) {
      const m = set[i]!
      if (fits(m, s, kid)) out.push(m.keys.get(alg) ?? NO_KEY)
    }
    return out
  }

  /**
   * For a token select() had no key for: one fetch (joined when one is in flight; at most one per
   * cooldown, so neither a dead IdP nor a flood of made-up kids is hammered). Resolves to true
   * when a fetch ran, false when the cooldown forbade it.
   */
  async needKeys(reason: 'no_keys' | 'unknown_kid'): Promise<boolean> {
    if (this.#inflight === null && !this.#mayFetch()) return false
    await this.refresh(reason)
    return true
  }

  #mayFetch(): boolean {
    return Date.now() - this.#lastAttempt >= this.#o.cooldownMs
  }

  /** Fetches now, or joins the fetch in flight. Never rejects: failures are logged and counted. */
  refresh(reason: Reason): Promise<void> {
    if (this.#inflight !== null) return this.#inflight
    this.#lastAttempt = Date.now()
    this.#inflight = this.#load(reason).finally(() => {
      this.#inflight = null
    })
    return this.#inflight
  }

  async #load(reason: Reason): Promise<void> {
    try {
      if (this.#jwksUri === null) this.#jwksUri = await this.#discover()
      const doc = await getJson(this.#jwksUri, this.#o.timeoutMs)
      const list = isPlainObject(doc) ? doc.keys : undefined
      if (!Array.isArray(list)) throw new Error('not a JSON Web Key Set (no "keys" array)')
      if (!list.every(isPlainObject)) throw new Error('JSON Web Key Set malformed (a member is not an object)')
      const jwks = { keys: list as Array<Record<string, unknown>> }
      const fingerprint = JSON.stringify(jwks.keys)
      this.#fetchedAt = Date.now()
      const changed = fingerprint !== this.#fingerprint
      jwksFetches.inc({ reason, result: changed ? 'changed' : 'unchanged' })
      if (!changed) return
      const first = this.#set === null
      this.#set = Object.freeze(jwks.keys.map(member))
      this.#fingerprint = fingerprint
      if (!first) this.#o.logger.info({ jwks_uri: this.#jwksUri, keys: jwks.keys.length }, 'jwt: key set changed')
      for (const fn of this.#listeners) fn()
    } catch (err) {
      jwksFetches.inc({ reason, result: 'error' })
      const stale = this.#set !== null
      this.#o.logger.warn(
        { err: (err as Error).message, source: this.#o.jwksUri ?? this.#o.discovery, reason, serving: stale ? 'last good key set' : 'none' },
        'jwt: key set fetch failed',
      )
    }
  }

  /** OIDC Discovery 1.0 §4: issuer + /.well-known/openid-configuration; its "issuer" must match (§4.3). */
  async #discover(): Promise<string> {
    const issuer = this.#o.discovery!
    const doc = (await getJson(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, this.#o.timeoutMs)) as Record<string, unknown>
    if (doc === null || typeof doc !== 'object') throw new Error('discovery document is not a JSON object')
    if (doc.issuer !== issuer) throw new Error(`discovery document names issuer ${JSON.stringify(doc.issuer)}, expected ${JSON.stringify(issuer)}`)
    if (typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) throw new Error('discovery document has no http(s) jwks_uri')
    return doc.jwks_uri
  }
}

/** GET a JSON document through undici with a deadline and a size cap. */
async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  const res = await request(url, {
    method: 'GET',
    headers: { accept: 'application/json' },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: AbortSignal.timeout(timeoutMs),
  })
  if (res.statusCode !== 200) {
    res.body.resume()
    throw new Error(`GET ${url} answered ${res.statusCode}`)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length
    if (size > MAX_DOCUMENT_BYTES) {
      res.body.destroy()
      throw new Error(`GET ${url}: document larger than ${MAX_DOCUMENT_BYTES} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new Error(`GET ${url}: not JSON`)
  }
}

// ---------------------------------------------------------------------------------------------
// Sharing: one RemoteKeySet per (source, settings), reference-counted by the instances using it.
// A reload creates the new Snapshot's instances before the old ones are closed, so the set (and
// its keys) carries over without a refetch.

const shared = new Map<string, { set: RemoteKeySet; refs: number }>()

export function acquireKeySet(o: KeySetOptions): { set: RemoteKeySet; release(): void } {
  const key = JSON.stringify([o.jwksUri ?? null, o.discovery ?? null, o.ttlMs, o.cooldownMs, o.maxStaleMs, o.timeoutMs])
  let entry = shared.get(key)
  if (entry === undefined) {
    entry = { set: new RemoteKeySet(o), refs: 0 }
    shared.set(key, entry)
    entry.set.start()
  }
  entry.refs++
  const e = entry
  let released = false
  return {
    set: e.set,
    release() {
      if (released) return
      released = true
      if (--e.refs === 0) {
        e.set.stop()
        shared.delete(key)
      }
    },
  }
}
