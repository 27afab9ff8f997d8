// `cache`: a shared HTTP cache (RFC 9111) in front of the upstream. A hit is answered in the
// beforeUpstream phase as a LocalReply and never reaches the cluster; a miss goes upstream with the
// request registered as the one "flight" for its key, so concurrent misses wait for it instead of
// stampeding the origin; the response phase decides whether the response may be stored, and an
// ExchangeTap collects the body as it streams to the client. Lookups run after every access plugin
// (auth, rate limits), so a stored response is only ever served to a request that was let in.
import { definePlugin, type PluginInstance } from '../contract.js'
import { type ExchangeTap, type LocalReply, type UpstreamHead, type Verdict } from '../../core/verdict.js'
import type { RequestContext } from '../../core/context.js'
import { parseDuration, parseSize } from '../../config/units.js'
import { degradedCounter, registry } from '../../observability/metrics.js'
import { FastCounter } from '../../observability/series.js'
import type { Store } from '../../state/store.js'
import { CacheSchema, type CacheConfig } from './schema.js'
import { compileBaseKey, compileKey, KEY_SEP, type BaseKeyFn, type KeyFn } from './key.js'
import {
  freshnessLifetime,
  initialAgeMs,
  mayStore,
  notModified,
  NOT_MODIFIED_FIELDS,
  NOT_UPDATED_BY_304,
  parseCacheControl,
  varyNames,
  varySignature,
  type CacheControl,
  type HeuristicPolicy,
  type StoreRules,
} from './rfc9111.js'
import { acquireZone, entrySize, purgeZones, releaseZone, Zone, type Entry, type Flight, type FlightResult } from './zone.js'

const NAME = 'cache'

export type CacheResult = 'HIT' | 'MISS' | 'STALE' | 'BYPASS' | 'REVALIDATED'
const RESULTS: readonly CacheResult[] = ['HIT', 'MISS', 'STALE', 'BYPASS', 'REVALIDATED']

export const cacheResponses = new FastCounter(
  'portico_cache_results_total',
  'Requests on cache routes by route and x-cache result (HIT, MISS, STALE, BYPASS, REVALIDATED).',
  registry,
)

/** RFC 9111 §4.4: a non-error response to one of these invalidates the stored response for the URI. */
const UNSAFE = new Set(['POST', 'PUT', 'DELETE', 'PATCH'])

/** Per-request headers the gateway adds, never replayed from the cache. */
const NOT_STORED = new Set(['x-request-id', 'x-cache', 'age', 'content-length', 'transfer-encoding', 'connection', 'keep-alive'])

const NO_CC: CacheControl = parseCacheControl(undefined)
const ONLY_IF_CACHED: LocalReply = Object.freeze({
  status: 504,
  error: 'not_cached',
  message: 'the request says only-if-cached and no stored response can answer it',
  headers: Object.freeze({ 'x-cache': 'MISS' }) as Record<string, string>,
})
const REQ_NO_CACHE: CacheControl = parseCacheControl('no-cache')

/** Everything create() resolves from the config; shared by every request of the instance. */
interface Compiled {
  zone: Zone
  key: KeyFn
  baseKey: BaseKeyFn
  methods: ReadonlySet<string>
  rules: StoreRules
  heuristic: HeuristicPolicy
  honorRequest: boolean
  maxObject: number
  lockTimeoutMs: number
  failClosed: boolean
  /** key.consumer: entries are per consumer, so authorized responses are stored and served to their own consumer. */
  perConsumer: boolean
  counters: Record<CacheResult, { value: number }>
  /** portico_plugin_degraded_total{plugin="cache"} by route (a second-tier failure). */
  degraded: (route: string) => { value: number }
}

type Mode = 'invalidate' | 'pass' | 'fetch'

/**
 * RFC 9111 §3.5 treats a request with Authorization as one whose response may be personal. The
 * gateway's auth plugins take credentials from elsewhere too (a key in a header or the query, a
 * token in a cookie, an hmac signature): every request an auth plugin identified (a consumer, or
 * verified claims) counts as authorized, whatever carried the credential. The cache runs after
 * every access plugin, so ctx already says who the request is.
 */
function authorized(ctx: RequestContext): boolean {
  return ctx.req.headers.authorization !== undefined || ctx.consumer !== undefined || ctx.claims !== undefined
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/**
 * Per-request state of a request on a cache route; for a request that goes upstream it is also the
 * ExchangeTap that collects the body.
 */
class CacheRequest implements ExchangeTap {
  readonly c: Compiled
  readonly ctx: RequestContext
  mode: Mode = 'fetch'
  readonly key: string
  readonly reqCc: CacheControl
  readonly hasAuth: boolean
  readonly clientConditional: boolean
  /** A stored (stale, or to-be-revalidated) entry: for the 304 refresh and stale-if-error. */
  entry: Entry | undefined = undefined
  /** The flight this request leads (concurrent misses wait on it), or null. */
  flight: Flight | null = null
  /** The client already has a stale answer; this exchange only refreshes the entry. */
  background = false
  /** Our validators went upstream (If-None-Match / If-Modified-Since from `entry`). */
  conditional = false
  triedTier2 = false
  requestTime = 0
  /** zone.mark() when the fetch started: it stores only if nothing invalidated its key since. */
  generation = 0
  // set by the response phase when the response will be stored
  collect = false
  head: UpstreamHead | null = null
  extraNames: string[] | null = null
  cc: CacheControl = NO_CC
  /** The response's header fields as the response phase saw them (freshness is computed from them). */
  originHeaders: Record<string, string | string[]> = {}
  responseTime = 0
  chunks: Buffer[] = []
  size = 0

  constructor(c: Compiled, ctx: RequestContext, key: string, reqCc: CacheControl) {
    this.c = c
    this.ctx = ctx
    this.key = key
    this.reqCc = reqCc
    const h = ctx.req.headers
    this.hasAuth = !c.perConsumer && authorized(ctx)
    this.clientConditional = h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined
  }

  /** Ends the flight (waiters are answered from `r`, or go upstream on null). */
  finish(r: FlightResult): void {
    const f = this.flight
    if (f !== null) {
      this.flight = null
      f.settle(r)
    }
  }

  // ---- ExchangeTap ----

  onData(chunk: Buffer): void {
    if (!this.collect) return
    this.size += chunk.length
    if (this.size > this.c.maxObject) {
      // Too big to store: it streams on to the client; waiters go to the origin themselves.
      this.collect = false
      this.chunks = []
      this.finish(null)
      return
    }
    this.chunks.push(chunk)
  }

  onEnd(): void {
    if (!this.collect) return this.finish(null)
    this.collect = false
    const entry = buildEntry(this)
    this.chunks = []
    if (entry === null) return this.finish(null)
    const zone = this.c.zone
    if (zone.stillValid(this.key, this.generation)) zone.put(this.key, entry)
    this.finish({ entry, stale: false })
  }

  onError(): Verdict {
    this.collect = false
    this.chunks = []
    const e = this.entry
    if (e !== undefined && staleIfError(e, Date.now())) {
      this.finish({ entry: e, stale: true })
      return this.background ? undefined : hitReply(this, e, Date.now(), 'STALE')
    }
    this.finish(null)
    return undefined
  }
}

/** Current age of an entry, ms (RFC 9111 §4.2.3). */
function ageOf(e: Entry, now: number): number {
  return e.initialAge + (now - e.responseTime)
}

function staleIfError(e: Entry, now: number): boolean {
  return !e.mustRevalidate && e.sie > 0 && ageOf(e, now) < e.lifetime + e.sie
}

function count(c: Compiled, r: CacheResult): void {
  c.counters[r].value++
}

/** The answer from a stored entry: the stored status, headers and body, or a 304 to a matching conditional. */
function hitReply(r: CacheRequest, e: Entry, now: number, label: CacheResult): LocalReply {
  count(r.c, label)
  const age = String(Math.floor(Math.max(0, ageOf(e, now)) / 1000))
  if (r.clientConditional && e.status === 200 && notModified(r.ctx.req.headers, e.headers)) {
    const headers: Record<string, string | string[]> = { age, 'x-cache': label }
    for (const f of NOT_MODIFIED_FIELDS) {
      const v = e.headers[f]
      if (v !== undefined) headers[f] = v
    }
    return { status: 304, headers }
  }
  const headers: Record<string, string | string[]> = { ...e.headers, age, 'x-cache': label }
  return { status: e.status, headers, body: e.body }
}

/** Sends our validators upstream in place of the client's (we answer the client's ourselves). */
function prepareUpstream(r: CacheRequest, e: Entry | undefined): void {
  const uh = r.ctx.upstreamHeaders
  if (r.clientConditional) {
    delete uh['if-none-match']
    delete uh['if-modified-since']
  }
  if (e !== undefined) {
    if (e.etag !== undefined) uh['if-none-match'] = e.etag
    if (e.lastModified !== undefined) uh['if-modified-since'] = e.lastModified
    r.conditional = e.etag !== undefined || e.lastModified !== undefined
  }
  r.requestTime = Date.now()
  r.generation = r.c.zone.mark()
  r.ctx.tap = r
}

/**
 * RFC 9111 §4.4: a non-error response to an unsafe request invalidates the target URI and the
 * URIs in its Location and Content-Location when they have the same host (another host's entries
 * are not this request's to touch). Each is one keyed removal in this process's memory tier, never
 * a scan; a fetch in flight for another URI still stores.
 */
function invalidateAfter(r: CacheRequest, headers: Record<string, string | string[]>): void {
  const zone = r.c.zone
  const ctx = r.ctx
  zone.invalidate(r.key.split(KEY_SEP, 1)[0]!)
  for (const name of ['location', 'content-location'] as const) {
    const v = firstValue(headers[name])
    if (v === undefined || v === '') continue
    let u: URL
    try {
      u = new URL(v, `http://${ctx.host}${ctx.path}`)
    } catch {
      continue
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname.toLowerCase() !== ctx.host) continue
    // WHATWG URL resolution removes dot segments, as the router's normalization does.
    zone.invalidate(r.c.baseKey(ctx.host, u.pathname, u.search.slice(1)))
  }
}

/** Freshness and flags of a response, from the origin's header fields. */
function policyOf(c: Compiled, status: number, headers: Record<string, string | string[] | undefined>, cc: CacheControl, requestTime: number, responseTime: number) {
  return {
    lifetime: freshnessLifetime(status, headers, cc, responseTime, c.heuristic).lifetimeMs,
    initialAge: initialAgeMs(headers, requestTime, responseTime),
    noCache: cc.noCache,
    mustRevalidate: cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge >= 0,
    swr: cc.staleWhileRevalidate > 0 ? cc.staleWhileRevalidate * 1000 : 0,
    sie: cc.staleIfError > 0 ? cc.staleIfError * 1000 : 0,
    authOk: cc.public || cc.sMaxAge >= 0 || cc.mustRevalidate,
    etag: firstValue(headers.etag),
    lastModified: firstValue(headers['last-modified']),
  }
}

/** The headers a hit replays: the response as the client got it, minus per-request fields. */
function storedHeaders(h: Record<string, string | string[]>, extra: string[] | null): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const k in h) {
    if (NOT_STORED.has(k) || (extra !== null && extra.includes(k))) continue
    out[k] = h[k]!
  }
  return out
}

/** The entry for a completely received response. */
function buildEntry(r: CacheRequest): Entry | null {
  const head = r.head!
  const headers = storedHeaders(head.headers, r.extraNames)
  const names = varyNames(headers)
  if (names !== null && names.includes('*')) return null
  const sig = names === null ? '' : varySignature(names, r.ctx.upstreamHeaders as never)
  const body = r.chunks.length === 1 ? r.chunks[0]! : Buffer.concat(r.chunks, r.size)
  const p = policyOf(r.c, head.status, r.originHeaders, r.cc, r.requestTime, r.responseTime)
  const e: Omit<Entry, 'size'> = {
    kind: 'entry',
    status: head.status,
    headers,
    body,
    requestTime: r.requestTime,
    responseTime: r.responseTime,
    ...p,
    varyNames: names,
    varySig: sig,
  }
  return { ...e, size: entrySize(r.key, e) }
}

/** RFC 9111 §4.3.4: a 304 freshens the stored entry's header fields and times. null = no longer storable. */
function refreshed(r: CacheRequest, e: Entry, h304: Record<string, string | string[]>, now: number): Entry | null {
  const headers: Record<string, string | string[]> = { ...e.headers }
  const extra = r.extraNames
  for (const k in h304) {
    if (NOT_UPDATED_BY_304.has(k) || (extra !== null && extra.includes(k))) continue
    headers[k] = h304[k]!
  }
  const cc = parseCacheControl(headers['cache-control'])
  if (cc.noStore || cc.private) return null
  const p = policyOf(r.c, e.status, headers, cc, r.requestTime, now)
  const next: Omit<Entry, 'size'> = { ...e, headers, requestTime: r.requestTime, responseTime: now, ...p }
  return { ...next, size: entrySize(r.key, next) }
}

export default definePlugin({
  name: NAME,
  phases: ['beforeUpstream', 'response'],
  // Last in both phases. beforeUpstream: lookups see the request as every other plugin left it, and
  // every access plugin (auth, rate limits) already ran. response: the cache stores, and decides
  // on, the response as the client receives it (e.g. with cors's `Vary: Origin`).
  priority: 10,
  schema: CacheSchema,
  status: 'beta',
  commands: {
    /** DELETE /admin/cache: { key } or { prefix } (control/admin/server.ts checks which). */
    async purge(args, first) {
      const r = await purgeZones({ key: typeof args.key === 'string' ? args.key : undefined, prefix: typeof args.prefix === 'string' ? args.prefix : undefined }, first)
      return { memory: r.memory, tier2: r.tier2 }
    },
  },
  create(config: CacheConfig, env) {
    const tier2 = config.tier2 === 'redis'
    if (tier2 && env.store.kind !== 'redis') throw new Error('cache: tier2: redis needs store.redis in the config')
    const id = env.route ?? '(global)'
    const maxSize = parseSize(config.max_size ?? '64mb')
    const zone = acquireZone(id, JSON.stringify(config) + storeId(env.store, tier2), () =>
      new Zone({
        name: id,
        maxSize,
        tier2: tier2 ? env.store : null,
        tier2TimeoutMs: parseDuration(config.timeout ?? '50ms'),
        keepStaleMs: parseDuration(config.keep_stale ?? '10m'),
        logger: env.logger,
      }),
    )
    const route = env.route ?? '(global)'
    const counters = Object.fromEntries(RESULTS.map((r) => [r, cacheResponses.series(`${route}\u0000${r}`, { route, result: r })])) as Compiled['counters']
    const c: Compiled = {
      zone,
      key: compileKey(config.key ?? {}),
      baseKey: compileBaseKey(config.key ?? {}),
      methods: new Set(config.methods ?? ['GET', 'HEAD']),
      rules: { statuses: config.statuses === undefined ? null : new Set(config.statuses), storeSetCookie: config.store_set_cookie ?? false },
      heuristic: { fraction: config.heuristic_fraction ?? 0.1, maxMs: parseDuration(config.heuristic_max ?? '1h') },
      honorRequest: (config.request_cache_control ?? 'honor') === 'honor',
      maxObject: Math.min(parseSize(config.max_object_size ?? '1mb'), maxSize),
      lockTimeoutMs: parseDuration(config.lock_timeout ?? '5s'),
      failClosed: config.failure_mode === 'closed',
      perConsumer: config.key?.consumer ?? false,
      counters,
      degraded: degradedCounter(NAME),
    }
    const logger = env.logger

    const bypass = (ctx: RequestContext): Verdict => {
      ctx.setResponseHeader('x-cache', 'BYPASS')
      count(c, 'BYPASS')
      return undefined
    }

    /** After waiting on another request's flight: its entry if it fits this request, else look again (no more waiting). */
    const afterWait = (r: CacheRequest, res: FlightResult): Verdict | Promise<Verdict> => {
      if (res !== null) {
        const e = res.entry
        if ((!r.hasAuth || e.authOk) && (e.varyNames === null || varySignature(e.varyNames, r.ctx.upstreamHeaders as never) === e.varySig)) {
          return hitReply(r, e, Date.now(), res.stale ? 'STALE' : 'HIT')
        }
      }
      return lookup(r, false)
    }

    const wait = (r: CacheRequest, f: Flight): Promise<Verdict> =>
      new Promise<Verdict>((resolve) => {
        let waiting = true
        const t = setTimeout(() => {
          waiting = false
          resolve(lookup(r, false))
        }, c.lockTimeoutMs)
        void f.promise.then((res) => {
          if (!waiting) return // timed out: this request already went on alone
          waiting = false
          clearTimeout(t)
          resolve(afterWait(r, res))
        })
      })

    /** What to do with the entry found (or not) for this request. */
    const decide = (r: CacheRequest, found: Entry | undefined, mayWait: boolean): Verdict | Promise<Verdict> => {
      const ctx = r.ctx
      const now = Date.now()
      // §3.5: a request with Authorization may use only a response that allowed sharing.
      const e = found !== undefined && r.hasAuth && !found.authOk ? undefined : found
      const rq = r.reqCc
      if (e !== undefined) {
        const age = ageOf(e, now)
        const usable = !e.noCache && !rq.noCache && (rq.maxAge < 0 || age <= rq.maxAge * 1000)
        // min-fresh (§5.2.1.3): fresh for at least that much longer.
        const minFresh = rq.minFresh > 0 ? rq.minFresh * 1000 : 0
        if (usable && age + minFresh < e.lifetime) {
          r.finish({ entry: e, stale: false })
          return hitReply(r, e, now, 'HIT')
        }
        // max-stale (§5.2.1.2): the client accepts a stale answer, unless the response forbade
        // serving it stale (must-revalidate, proxy-revalidate, s-maxage: §4.2.4, §5.2.2.2).
        if (usable && minFresh === 0 && rq.maxStale >= 0 && !e.mustRevalidate && age < e.lifetime + rq.maxStale * 1000) {
          r.finish({ entry: e, stale: true })
          return hitReply(r, e, now, 'STALE')
        }
        if (usable && !e.mustRevalidate && e.swr > 0 && age < e.lifetime + e.swr && ctx.method === 'GET') {
          // stale-while-revalidate: answer now, refresh in the background once per key.
          if (r.flight === null && c.zone.inflight.has(r.key)) return hitReply(r, e, now, 'STALE')
          r.flight ??= c.zone.startFlight(r.key)
          r.entry = e
          r.background = true
          prepareUpstream(r, e)
          return { ...hitReply(r, e, now, 'STALE'), background: true }
        }
        r.entry = e
      }
      if (rq.onlyIfCached) {
        // §5.2.1.7: nothing stored that may answer it, and the client forbade going upstream.
        r.finish(null)
        count(c, 'MISS')
        return ONLY_IF_CACHED
      }
      if (ctx.method !== 'GET') {
        // HEAD without a usable entry: passed through, never stored (it has no body to store).
        r.finish(null)
        r.mode = 'pass'
        return undefined
      }
      if (r.flight === null) {
        const f = c.zone.inflight.get(r.key)
        if (f === undefined) r.flight = c.zone.startFlight(r.key)
        else if (mayWait) return wait(r, f)
        // else: the wait timed out or did not fit; go alone.
      }
      prepareUpstream(r, r.entry)
      return undefined
    }

    const lookup = (r: CacheRequest, mayWait: boolean): Verdict | Promise<Verdict> => {
      const found = c.zone.getLocal(r.key, r.ctx.upstreamHeaders, varySignature)
      if (found !== undefined || c.zone.tier2 === null || r.triedTier2) return decide(r, found, mayWait)
      r.triedTier2 = true
      const f = c.zone.inflight.get(r.key)
      if (f !== undefined && mayWait) return wait(r, f)
      // Lead before the tier-2 read, so concurrent misses wait for one read and one fetch.
      if (f === undefined && r.ctx.method === 'GET') r.flight = c.zone.startFlight(r.key)
      return c.zone.getTier2(r.key, r.ctx.upstreamHeaders, varySignature).then(
        (e) => decide(r, e, mayWait),
        (err: unknown) => {
          c.degraded(r.ctx.routeName).value++
          logger.warn({ err, request_id: r.ctx.id }, 'cache: second tier failed')
          if (c.failClosed) {
            r.finish(null)
            return { status: 503, error: 'cache_unavailable', message: 'the cache is unavailable' }
          }
          return decide(r, undefined, mayWait)
        },
      )
    }

    const instance: PluginInstance = {
      beforeUpstream(ctx) {
        const method = ctx.method
        if (method !== 'GET' && method !== 'HEAD') {
          if (UNSAFE.has(method)) {
            const r = new CacheRequest(c, ctx, c.key(ctx), NO_CC)
            r.mode = 'invalidate'
            ctx.state(NAME, () => r)
          }
          return bypass(ctx)
        }
        if (!c.methods.has(method)) return bypass(ctx)
        const h = ctx.req.headers
        // Range requests are passed through: partial content is neither stored nor assembled.
        if (h.range !== undefined) return bypass(ctx)
        let reqCc = NO_CC
        if (c.honorRequest) {
          const cch = h['cache-control']
          if (cch !== undefined) reqCc = parseCacheControl(cch)
          else if (h.pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(h.pragma)) reqCc = REQ_NO_CACHE
          if (reqCc.noStore) return bypass(ctx)
        }
        const r = new CacheRequest(c, ctx, c.key(ctx), reqCc)
        ctx.state(NAME, () => r)
        return lookup(r, true)
      },

      response(ctx, head) {
        const r = ctx.state<CacheRequest | undefined>(NAME)
        if (r === undefined) return
        const status = head.status
        if (r.mode === 'invalidate') {
          if (status < 400) invalidateAfter(r, head.headers)
          return
        }
        if (r.mode === 'pass') {
          head.headers['x-cache'] = 'MISS'
          count(c, 'MISS')
          return
        }
        const now = Date.now()
        const e = r.entry
        if (status === 304 && e !== undefined && r.conditional) {
          const next = refreshed(r, e, head.headers, now)
          if (next === null) c.zone.purgeLocal({ key: r.key })
          else if (c.zone.stillValid(r.key, r.generation)) c.zone.put(r.key, next)
          const served = next ?? e
          r.finish({ entry: served, stale: false })
          if (!r.background) head.reply = hitReply(r, served, now, 'REVALIDATED')
          return
        }
        if (status >= 500 && e !== undefined && staleIfError(e, now)) {
          r.finish({ entry: e, stale: true })
          if (!r.background) head.reply = hitReply(r, e, now, 'STALE')
          return
        }
        if (!r.background) {
          head.headers['x-cache'] = 'MISS'
          count(c, 'MISS')
        }
        const cc = parseCacheControl(head.headers['cache-control'])
        const d = mayStore(status, head.headers, cc, r.reqCc, r.hasAuth, c.rules)
        const cl = firstValue(head.headers['content-length'])
        if (!d.store || (cl !== undefined && Number(cl) > c.maxObject)) {
          logger.debug({ request_id: ctx.id, reason: d.store ? 'too large' : d.reason }, 'cache: response not stored')
          r.finish(null)
          return
        }
        r.collect = true
        r.head = head
        r.cc = cc
        r.originHeaders = head.headers
        r.responseTime = now
        const extra = ctx.responseHeaders
        r.extraNames = extra === null ? null : Object.keys(extra)
        // The client's own conditional, answered from the response we are about to store.
        if (r.clientConditional && !r.background && status === 200 && notModified(ctx.req.headers, head.headers)) {
          const headers: Record<string, string | string[]> = { 'x-cache': 'MISS' }
          for (const f of NOT_MODIFIED_FIELDS) {
            const v = head.headers[f]
            if (v !== undefined) headers[f] = v
          }
          head.reply = { status: 304, headers }
        }
      },

      close: () => releaseZone(id, zone),
    }
    return Object.freeze(instance)
  },
})

const storeIds = new WeakMap<Store, number>()
let nextStoreId = 0
function storeId(store: Store, used: boolean): string {
  if (!used) return ''
  let n = storeIds.get(store)
  if (n === undefined) storeIds.set(store, (n = ++nextStoreId))
  return `#${n}`
}
