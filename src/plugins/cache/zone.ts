// Where cached responses live: a memory LRU bounded in bytes (lru-cache maxSize), an optional
// second tier in the shared Store (Redis), the in-flight table that coalesces concurrent misses,
// and purge. A zone belongs to one plugin use (one route, or the global use) and survives reloads
// that leave that use's config unchanged; every live zone of the process is reachable for the
// admin API's purge (purgeZones).
import { withDeadline } from '../remote.js'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { Store } from '../../state/store.js'
import { KEY_SEP } from './key.js'

/** One stored response. Times are ms since the epoch; headers are what a hit replays. */
export interface Entry {
  readonly kind: 'entry'
  status: number
  headers: Record<string, string | string[]>
  body: Buffer
  /** When the request that produced it was sent / its response received (RFC 9111 §4.2.3). */
  requestTime: number
  responseTime: number
  /** Corrected initial age at responseTime, ms. */
  initialAge: number
  /** Freshness lifetime, ms. */
  lifetime: number
  /** no-cache: every use needs a successful revalidation. */
  noCache: boolean
  /** must-revalidate, proxy-revalidate or s-maxage: never served stale (no SWR, no stale-if-error). */
  mustRevalidate: boolean
  /** stale-while-revalidate / stale-if-error windows, ms (0 = none). */
  swr: number
  sie: number
  /** public, s-maxage or must-revalidate: usable for requests with Authorization (§3.5). */
  authOk: boolean
  etag: string | undefined
  lastModified: string | undefined
  /** Vary of the response (sorted lower-case names) and this variant's signature, or null. */
  varyNames: string[] | null
  varySig: string
  size: number
}

/** Stored under the base key when the response varies: the names that select a variant. */
export interface VaryMarker {
  readonly kind: 'vary'
  names: string[]
  size: number
}

type Item = Entry | VaryMarker

/** What a coalesced miss learns when the first request for its key completes. */
export type FlightResult = { entry: Entry; stale: boolean } | null

export interface Flight {
  readonly promise: Promise<FlightResult>
  settle(r: FlightResult): void
  settled: boolean
}

export interface PurgeRequest {
  /** Exact key (host + path + ?query): that entry and all its variants. */
  key?: string
  /** Every key starting with this. */
  prefix?: string
}

export interface ZoneOptions {
  name: string
  maxSize: number
  tier2: Store | null
  tier2TimeoutMs: number
  /** How long stale entries with validators stay in tier 2 beyond their stale windows. */
  keepStaleMs: number
  logger: Logger
}

const ENTRY_OVERHEAD = 256

/** The purgeable part of a key (host + path + ?query), before the first KEY_SEP. */
function baseOf(k: string): string {
  const i = k.indexOf(KEY_SEP)
  return i === -1 ? k : k.slice(0, i)
}

export function variantKey(base: string, sig: string): string {
  return base + KEY_SEP + 'vary:' + sig
}

function headerBytes(h: Record<string, string | string[]>): number {
  let n = 0
  for (const k in h) {
    const v = h[k]!
    n += k.length + 4 + (typeof v === 'string' ? v.length : v.reduce((a, s) => a + s.length + 4, 0))
  }
  return n
}

export function entrySize(key: string, e: Omit<Entry, 'size'>): number {
  return e.body.length + headerBytes(e.headers) + key.length + e.varySig.length + ENTRY_OVERHEAD
}

/**
 * One SCAN page (COUNT 500) deleting the keys that start with KEYS[1] (the Store has prefixed it;
 * glob characters are escaped here); returns {next cursor, deleted}. Paging from the caller keeps
 * each script short, so Redis is never blocked for a whole-keyspace scan. The memory twin is never
 * used: tier 2 requires store.redis (create() refuses otherwise).
 */
export const PURGE_CHANNEL = 'cache:purge'

export class Zone {
  readonly name: string
  readonly lru: LRUCache<string, Item>
  readonly inflight = new Map<string, Flight>()
  readonly tier2: Store | null
  readonly tier2TimeoutMs: number
  readonly keepStaleMs: number
  readonly logger: Logger
  /**
   * Invalidation without a whole-zone counter: every invalidation of a base key records a new
   * sequence number for it; a fetch takes mark() when it starts and stores only if stillValid()
   * (nothing invalidated its base key since). The record is an LRU of 10k base keys: one evicted
   * while a fetch is still running raises #floor, which refuses the fetches older than it (a rare,
   * safe miss). Admin purges by prefix raise #floor for the whole zone.
   */
  #seq = 0
  #floor = 0
  readonly #invalidated = new LRUCache<string, number>({
    max: 10_000,
    dispose: (seq, _k, reason) => {
      if (reason === 'evict' && seq > this.#floor) this.#floor = seq
    },
  })
  /** The stored keys (entries, variants, Vary markers) of each base key: per-URI purges need no scan. */
  readonly #byBase = new Map<string, Set<string>>()
  #prefix: string
  #unsubscribe: Promise<(() => Promise<void>) | null> = Promise.resolve(null)

  constructor(opts: ZoneOptions) {
    this.name = opts.name
    this.tier2 = opts.tier2
    this.tier2TimeoutMs = opts.tier2TimeoutMs
    this.keepStaleMs = opts.keepStaleMs
    this.logger = opts.logger
    this.#prefix = `cache:${opts.name}:`
    this.lru = new LRUCache<string, Item>({
      maxSize: Math.max(opts.maxSize, 1),
      sizeCalculation: (v) => Math.max(v.size, 1),
      // 'set' replaces the value under the same key: it stays indexed.
      dispose: (_v, k, reason) => {
        if (reason !== 'set') this.#unindex(k)
      },
    })
    if (this.tier2 !== null) {
      // Purges made on another instance (or worker) reach this memory tier through the Store.
      this.#unsubscribe = this.tier2
        .subscribe(PURGE_CHANNEL, (msg) => {
          try {
            const p = JSON.parse(msg) as PurgeRequest & { zone?: string }
            if (p.zone === undefined || p.zone === this.name) this.purgeLocal(p)
          } catch {
            // not ours
          }
        })
        .catch((err: unknown) => {
          this.logger.warn({ err }, 'cache: cannot subscribe to purge messages; purges on other instances will not clear this memory tier')
          return null
        })
    }
  }

  // ---- memory tier ----

  #set(k: string, item: Item): void {
    this.lru.set(k, item)
    if (!this.lru.has(k)) return // larger than the whole zone: not kept
    const base = baseOf(k)
    let keys = this.#byBase.get(base)
    if (keys === undefined) this.#byBase.set(base, (keys = new Set()))
    keys.add(k)
  }

  #unindex(k: string): void {
    const base = baseOf(k)
    const keys = this.#byBase.get(base)
    if (keys === undefined) return
    keys.delete(k)
    if (keys.size === 0) this.#byBase.delete(base)
  }

  /** A fetch starting now: pass the mark to stillValid() before storing its response. */
  mark(): number {
    return this.#seq
  }

  /** Nothing invalidated `key`'s base key since `mark` was taken. */
  stillValid(key: string, mark: number): boolean {
    return mark >= this.#floor && (this.#invalidated.get(baseOf(key)) ?? 0) <= mark
  }

  /**
   * Removes a key from memory: with a base key, its entry, Vary marker and every variant and
   * extra-header part; with a longer key, that key and its variants. Fetches in flight for the
   * base key will not store. Cost: the keys stored for that base, never a scan of the zone.
   */
  invalidate(key: string): number {
    const base = baseOf(key)
    this.#invalidated.set(base, ++this.#seq)
    const keys = this.#byBase.get(base)
    if (keys === undefined) return 0
    const sub = key + KEY_SEP
    const doomed = [...keys].filter((k) => k === key || k.startsWith(sub))
    for (const k of doomed) this.lru.delete(k)
    return doomed.length
  }

  /** The fresh-or-stale entry for a base key and a request's headers (Vary), from memory. */
  getLocal(base: string, requestHeaders: Record<string, unknown>, signature: (names: readonly string[], h: never) => string): Entry | undefined {
    const item = this.lru.get(base)
    if (item === undefined) return undefined
    if (item.kind === 'entry') return item
    const e = this.lru.get(variantKey(base, signature(item.names, requestHeaders as never)))
    return e?.kind === 'entry' ? e : undefined
  }

  /** The Vary names stored for a base key (memory), or undefined. */
  marker(base: string): VaryMarker | undefined {
    const item = this.lru.peek(base)
    return item?.kind === 'vary' ? item : undefined
  }

  /** Stores an entry (and its Vary marker) in memory and, when configured, in tier 2 (not awaited). */
  put(base: string, e: Entry): void {
    if (e.varyNames === null) {
      this.#set(base, e)
    } else {
      const prev = this.lru.peek(base)
      if (prev?.kind !== 'vary' || prev.names.join(',') !== e.varyNames.join(',')) {
        this.#set(base, { kind: 'vary', names: e.varyNames, size: base.length + 64 })
      }
      this.#set(variantKey(base, e.varySig), e)
    }
    if (this.tier2 !== null) void this.#putTier2(base, e)
  }

  // ---- tier 2 ----

  async #putTier2(base: string, e: Entry): Promise<void> {
    const store = this.tier2!
    const ttl = Math.max(1000, e.lifetime - e.initialAge + Math.max(e.swr, e.sie, e.etag !== undefined || e.lastModified !== undefined ? this.keepStaleMs : 0))
    try {
      if (e.varyNames !== null) {
        await store.set(this.#prefix + base, JSON.stringify({ kind: 'vary', names: e.varyNames }), ttl)
        await store.set(this.#prefix + variantKey(base, e.varySig), serialize(e), ttl)
      } else {
        await store.set(this.#prefix + base, serialize(e), ttl)
      }
    } catch (err) {
      this.logger.debug({ err }, 'cache: second-tier write failed')
    }
  }

  /**
   * Looks a base key up in tier 2 and copies what it finds into memory. Rejects on a Store failure
   * or when the deadline passes (the caller applies failure_mode).
   */
  async getTier2(base: string, requestHeaders: Record<string, unknown>, signature: (names: readonly string[], h: never) => string): Promise<Entry | undefined> {
    const store = this.tier2!
    const raw = await withDeadline(store.get(this.#prefix + base), this.tier2TimeoutMs, 'cache second tier')
    if (raw === null) return undefined
    let item = deserialize(raw)
    let key = base
    if (item?.kind === 'vary') {
      const marker: VaryMarker = { kind: 'vary', names: item.names, size: base.length + 64 }
      this.#set(base, marker)
      key = variantKey(base, signature(item.names, requestHeaders as never))
      const v = await withDeadline(store.get(this.#prefix + key), this.tier2TimeoutMs, 'cache second tier')
      item = v === null ? undefined : deserialize(v)
    }
    if (item?.kind !== 'entry') return undefined
    this.#set(key, item)
    return item
  }

  // ---- coalescing ----

  /** Registers the first miss for `key`; later misses wait on its promise. */
  startFlight(key: string): Flight {
    let resolve!: (r: FlightResult) => void
    const promise = new Promise<FlightResult>((r) => (resolve = r))
    const flight: Flight = {
      promise,
      settled: false,
      settle: (r) => {
        if (flight.settled) return
        flight.settled = true
        if (this.inflight.get(key) === flight) this.inflight.delete(key)
        resolve(r)
      },
    }
    this.inflight.set(key, flight)
    return flight
  }

  // ---- purge ----

  static #matcher(p: PurgeRequest): (k: string) => boolean {
    if (p.key !== undefined) {
      const key = p.key
      const sub = key + KEY_SEP
      return (k) => k === key || k.startsWith(sub)
    }
    const prefix = p.prefix ?? ''
    return (k) => k.startsWith(prefix)
  }

  /** Drops matching entries from memory; returns how many keys were removed. */
  purgeLocal(p: PurgeRequest): number {
    if (p.key !== undefined) return this.invalidate(p.key)
    // By prefix (admin API): a scan, and no fetch that started before it stores.
    this.#floor = ++this.#seq
    const match = Zone.#matcher(p)
    const doomed: string[] = []
    for (const k of this.lru.keys()) if (match(k)) doomed.push(k)
    for (const k of doomed) this.lru.delete(k)
    return doomed.length
  }

  /** Drops matching entries from tier 2 and tells every other memory tier to drop them too. */
  async purgeTier2(p: PurgeRequest): Promise<number> {
    const store = this.tier2
    if (store === null) return 0
    let n = 0
    let prefix: string
    if (p.key !== undefined) {
      await store.del(this.#prefix + p.key)
      n++
      prefix = this.#prefix + p.key + KEY_SEP
    } else {
      prefix = this.#prefix + (p.prefix ?? '')
    }
    n += await store.deletePrefix(prefix)
    await store.publish(PURGE_CHANNEL, JSON.stringify({ zone: this.name, ...p }))
    return n
  }

  async close(): Promise<void> {
    for (const f of this.inflight.values()) f.settle(null)
    this.lru.clear()
    const unsub = await this.#unsubscribe
    if (unsub !== null) await unsub().catch(() => undefined)
  }
}

// ---- tier-2 serialization: one JSON line of metadata, then the body in base64 ----

function serialize(e: Entry): string {
  const { body, ...meta } = e
  return JSON.stringify(meta) + '\n' + body.toString('base64')
}

function deserialize(raw: string): Item | undefined {
  try {
    const nl = raw.indexOf('\n')
    if (nl === -1) {
      const m = JSON.parse(raw) as { kind?: string; names?: unknown }
      return m.kind === 'vary' && Array.isArray(m.names) ? { kind: 'vary', names: m.names as string[], size: 64 } : undefined
    }
    const meta = JSON.parse(raw.slice(0, nl)) as Omit<Entry, 'body'>
    if (meta.kind !== 'entry') return undefined
    return { ...meta, body: Buffer.from(raw.slice(nl + 1), 'base64') }
  } catch {
    return undefined
  }
}

// ---- the process's zones: reused across reloads, reachable for purges ----

interface Registered {
  configKey: string
  zone: Zone
  refs: number
}

const zones = new Map<string, Registered>()

/** The zone for a plugin use: the existing one when the same use reloads with the same config. */
export function acquireZone(id: string, configKey: string, make: () => Zone): Zone {
  const r = zones.get(id)
  if (r !== undefined && r.configKey === configKey) {
    r.refs++
    return r.zone
  }
  const zone = make()
  // A changed config replaces the registration; the old zone lives on until its Snapshot retires.
  zones.set(id, { configKey, zone, refs: 1 })
  return zone
}

/** A plugin instance holding `zone` was retired. */
export async function releaseZone(id: string, zone: Zone): Promise<void> {
  const r = zones.get(id)
  if (r !== undefined && r.zone === zone) {
    if (--r.refs > 0) return
    zones.delete(id)
  }
  await zone.close()
}

export interface PurgeResult {
  /** Keys removed from this process's memory tiers. */
  memory: number
  /** Keys removed from tier 2 (only when `tier2` was asked). */
  tier2: number
}

/**
 * Purges every zone of this process. `tier2`: also purge the shared second tier and broadcast the
 * purge to other instances (done by one process per purge).
 */
export async function purgeZones(p: PurgeRequest, tier2: boolean): Promise<PurgeResult> {
  let memory = 0
  let shared = 0
  const done = new Set<Zone>()
  for (const { zone } of zones.values()) {
    if (done.has(zone)) continue
    done.add(zone)
    memory += zone.purgeLocal(p)
    if (tier2 && zone.tier2 !== null) shared += await zone.purgeTier2(p)
  }
  return { memory, tier2: shared }
}
