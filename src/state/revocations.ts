// Token revocation: revoke one token by `jti`, or every token a `sub` holds issued before a time.
// Entries live in the Store (Redis for many instances) with TTL = the token's remaining life, so
// Redis never holds a revocation longer than the token could be used. Each process keeps a local
// cache: revocations it learned (kept until they expire) and tokens it checked and found valid
// (kept `cacheTtlMs`). A revocation is published on the Store's pub/sub channel; every subscriber
// adds it and drops its "found valid" cache, so it takes effect everywhere within the pub/sub
// latency (milliseconds).
//
// Messages can be lost: a subscriber reconnecting, a cluster shard failing over. So every
// revocation also bumps a sequence number kept in the Store (`rev:seq`), and each process reads it
// every `resyncMs` (1 s): when it differs from the last one it saw, it drops its "found valid"
// cache, so every token is checked against the Store's entries again — the resynchronisation
// needs no log, since those entries are the truth. A revocation is acknowledged only once its entry
// reached the replicas of its node (Redis WAIT), so a failover cannot lose it; until then the
// write fails and the writer retries. Readers check store.healthy() first: a Store known to be down
// is a failure the caller's failure_mode decides, never a silent "valid" from a stale cache.
import { LRUCache } from 'lru-cache'
import { StoreUnavailableError, type Store, type StoreScript } from './store.js'

export const REVOCATION_CHANNEL = 'revocations'

/** Keeps the latest `before` and the longest expiry when a sub is revoked twice. */
const REVOKE_SUB: StoreScript = {
  name: 'portico-revocation-sub',
  lua: `
local cur = redis.call('GET', KEYS[1])
local before = tonumber(ARGV[1])
if cur and tonumber(cur) > before then before = tonumber(cur) end
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then ttl = left end
redis.call('SET', KEYS[1], tostring(before), 'PX', ttl)
return before`,
  local: (state, keys, args) => {
    const cur = state.get(keys[0]!)
    let before = Number(args[0])
    if (cur !== null && Number(cur) > before) before = Number(cur)
    let ttl = Number(args[1])
    const left = state.pttl(keys[0]!)
    if (left > ttl) ttl = left
    state.set(keys[0]!, String(before), ttl)
    return before
  },
}

export interface TokenFacts {
  jti?: unknown
  sub?: unknown
  iat?: unknown
}

type Message = ({ t: 'jti'; jti: string; exp: number } | { t: 'sub'; sub: string; before: number; until: number }) & { seq?: number }

const SEQ_KEY = 'rev:seq'
/** Set when the counter is created; when it lapses it restarts, which readers see as a change. */
const SEQ_TTL_MS = 30 * 24 * 3600_000

export interface RevocationOptions {
  /** How long a "not revoked" answer is reused without asking the Store again. */
  cacheTtlMs?: number
  /** Bound of that cache (entries). */
  maxEntries?: number
  /** How often the revocation sequence is compared (catches lost messages). */
  resyncMs?: number
  /** How long a revocation may wait for its node's replicas to acknowledge it. */
  replicationTimeoutMs?: number
}

const jtiKey = (jti: string) => `rev:jti:${jti}`
const subKey = (sub: string) => `rev:sub:${sub}`

export class Revocations {
  readonly #store: Store
  /** jti → expiry (ms). */
  readonly #jtis = new Map<string, number>()
  /** sub → { before (s), until (ms) }. */
  readonly #subs = new Map<string, { before: number; until: number }>()
  readonly #valid: LRUCache<string, true>
  #unsubscribe: (() => Promise<void>) | null = null
  #sweeper: NodeJS.Timeout | null = null
  #resync: NodeJS.Timeout | null = null
  /** The last revocation sequence read from the Store (undefined: not read yet). */
  #seq: string | null | undefined
  readonly #resyncMs: number
  readonly #replicationTimeoutMs: number

  constructor(store: Store, opts: RevocationOptions = {}) {
    this.#store = store
    this.#valid = new LRUCache({ max: opts.maxEntries ?? 100_000, ttl: opts.cacheTtlMs ?? 5000, ttlAutopurge: false })
    this.#resyncMs = opts.resyncMs ?? 1000
    this.#replicationTimeoutMs = opts.replicationTimeoutMs ?? 500
  }

  /** Subscribes to revocations published by any instance. Call once before serving checks. */
  async start(): Promise<void> {
    if (this.#unsubscribe !== null) return
    this.#unsubscribe = await this.#store.subscribe(REVOCATION_CHANNEL, (m) => this.#onMessage(m))
    this.#sweeper = setInterval(() => this.#sweep(), 30_000)
    this.#sweeper.unref()
    this.#resync = setInterval(() => void this.resync(), this.#resyncMs)
    this.#resync.unref()
  }

  /**
   * Compares the Store's revocation sequence with the last one seen; a difference (a message this
   * process missed, or a failover that rolled the counter back) drops every "valid" answer.
   */
  async resync(): Promise<void> {
    let seq: string | null
    try {
      seq = await this.#store.get(SEQ_KEY)
    } catch {
      this.#valid.clear()
      this.#seq = undefined
      return
    }
    if (seq !== this.#seq) {
      this.#valid.clear()
      this.#seq = seq
    }
  }

  async close(): Promise<void> {
    if (this.#sweeper !== null) clearInterval(this.#sweeper)
    if (this.#resync !== null) clearInterval(this.#resync)
    const u = this.#unsubscribe
    this.#unsubscribe = null
    if (u !== null) await u()
  }

  /**
   * true when the token is revoked. Synchronous when the local cache knows; a promise when the
   * Store must be asked. Throws / rejects (StoreUnavailableError, StoreTimeoutError) when the Store
   * cannot answer: the caller applies its failure mode.
   */
  isRevoked(t: TokenFacts): boolean | Promise<boolean> {
    const jti = typeof t.jti === 'string' && t.jti !== '' ? t.jti : undefined
    const sub = typeof t.sub === 'string' && t.sub !== '' ? t.sub : undefined
    if (jti === undefined && sub === undefined) return false
    const iat = typeof t.iat === 'number' ? t.iat : undefined
    const now = Date.now()
    if (this.#known(jti, sub, iat, now)) return true
    const key = `${jti ?? ''}\0${sub ?? ''}`
    if (!this.#store.healthy()) {
      // Messages may be lost while the Store is away: forget every "valid" answer.
      this.#valid.clear()
      throw new StoreUnavailableError(`${this.#store.kind} store is unavailable`)
    }
    if (this.#valid.has(key)) return false
    // Two GETs, not one script: the keys are in different Cluster slots. Auto-pipelining sends
    // them in one write on a single node.
    return Promise.all([jti === undefined ? null : this.#store.get(jtiKey(jti)), sub === undefined ? null : this.#store.get(subKey(sub))]).then(([j, s]) => {
      // The Store's TTL already bounds these; locally they are kept for the cache window only.
      if (typeof j === 'string' && jti !== undefined) this.#jtis.set(jti, now + (this.#valid.ttl || 5000))
      if (typeof s === 'string' && sub !== undefined) this.#subs.set(sub, { before: Number(s), until: now + (this.#valid.ttl || 5000) })
      const revoked = this.#known(jti, sub, iat, now)
      if (!revoked) this.#valid.set(key, true)
      return revoked
    })
  }

  #known(jti: string | undefined, sub: string | undefined, iat: number | undefined, now: number): boolean {
    if (jti !== undefined) {
      const exp = this.#jtis.get(jti)
      if (exp !== undefined) {
        if (exp > now) return true
        this.#jtis.delete(jti)
      }
    }
    if (sub !== undefined) {
      const s = this.#subs.get(sub)
      if (s !== undefined) {
        if (s.until <= now) this.#subs.delete(sub)
        // A token without iat cannot prove it was issued after the cut-off.
        else if (iat === undefined || iat < s.before) return true
      }
    }
    return false
  }

  /** Revokes one token until `expS` (its exp, unix seconds). */
  async revokeJti(jti: string, expS: number): Promise<void> {
    const ttl = expS * 1000 - Date.now()
    if (ttl <= 0) return // already expired: nothing to revoke
    await this.#store.set(jtiKey(jti), '1', ttl)
    await this.#replicated(jtiKey(jti))
    await this.#announce({ t: 'jti', jti, exp: expS * 1000 })
  }

  /** Revokes every token of `sub` issued before `beforeS` (unix seconds), for `ttlMs` (≥ the longest token lifetime). */
  async revokeSub(sub: string, beforeS: number, ttlMs: number): Promise<void> {
    const before = Number(await this.#store.eval(REVOKE_SUB, [subKey(sub)], [beforeS, ttlMs]))
    await this.#replicated(subKey(sub))
    await this.#announce({ t: 'sub', sub, before, until: Date.now() + ttlMs })
  }

  /** Throws unless every replica of the key's node has the write (so a failover keeps it). */
  async #replicated(key: string): Promise<void> {
    const { replicas, acked } = await this.#store.waitReplicas(key, this.#replicationTimeoutMs)
    if (acked < replicas) throw new StoreUnavailableError(`revocation reached ${acked} of ${replicas} replicas; retry`)
  }

  async #announce(m: Message): Promise<void> {
    this.#apply(m)
    m.seq = await this.#store.incr(SEQ_KEY, 1, SEQ_TTL_MS)
    await this.#store.publish(REVOCATION_CHANNEL, JSON.stringify(m))
  }

  #onMessage(raw: string): void {
    let m: Message
    try {
      m = JSON.parse(raw) as Message
    } catch {
      return
    }
    this.#apply(m)
    // The next sequence number after the one we saw: nothing was missed, keep the cache.
    if (typeof m.seq === 'number' && this.#seq !== undefined && Number(this.#seq ?? 0) + 1 === m.seq) this.#seq = String(m.seq)
  }

  #apply(m: Message): void {
    if (m.t === 'jti' && typeof m.jti === 'string' && typeof m.exp === 'number') this.#jtis.set(m.jti, m.exp)
    else if (m.t === 'sub' && typeof m.sub === 'string' && typeof m.before === 'number' && typeof m.until === 'number') {
      const cur = this.#subs.get(m.sub)
      this.#subs.set(m.sub, { before: Math.max(m.before, cur?.before ?? 0), until: Math.max(m.until, cur?.until ?? 0) })
    } else return
    this.#valid.clear()
  }

  #sweep(): void {
    const now = Date.now()
    for (const [k, exp] of this.#jtis) if (exp <= now) this.#jtis.delete(k)
    for (const [k, s] of this.#subs) if (s.until <= now) this.#subs.delete(k)
  }
}
