// The live traffic page's arithmetic, pure (no DOM, no fetch; unit-tested in test/unit/ui/):
// parse the primary's aggregated /metrics text into counters, and turn two samples into one more
// interval of per-route series (rates, ratios, latency quantiles).
/** Intervals kept per line: 5 minutes at one sample every 2 s. */
export const KEEP = 150

export type Totals = Map<string, { all: number; errors: number }>

/** One exposition line of `name` (exactly: not name_bucket when asking for name): its labels and value. */
function series(line: string, name: string): { labels: Record<string, string>; value: number } | null {
  if (!line.startsWith(`${name}{`)) return null
  const close = line.lastIndexOf('}')
  const body = line.slice(name.length + 1, close)
  const labels: Record<string, string> = {}
  for (const m of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
  const value = Number(line.slice(close + 1).trim().split(' ')[0])
  return Number.isNaN(value) ? null : { labels, value }
}

export function parseRequests(metrics: string): Totals {
  const out: Totals = new Map()
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('portico_requests_total{')) continue
    const close = line.lastIndexOf('}')
    const labels = line.slice('portico_requests_total{'.length, close)
    const value = Number(line.slice(close + 1).trim().split(' ')[0])
    const route = /(?:^|,)route="((?:[^"\\]|\\.)*)"/.exec(labels)?.[1] ?? ''
    const status = /(?:^|,)status="([^"]*)"/.exec(labels)?.[1] ?? ''
    const t = out.get(route) ?? { all: 0, errors: 0 }
    t.all += value
    if (status.startsWith('5')) t.errors += value
    out.set(route, t)
  }
  return out
}

/** A cumulative histogram: upper bounds (ascending, the last +Inf) and the count at or below each. */
export interface Buckets {
  le: number[]
  counts: number[]
}

/** portico_request_duration_seconds_bucket{route,method,le} per route, summed over methods. */
export function parseDurations(metrics: string): Map<string, Buckets> {
  const acc = new Map<string, Map<number, number>>()
  for (const line of metrics.split('\n')) {
    const s = series(line, 'portico_request_duration_seconds_bucket')
    if (s === null || s.labels.le === undefined) continue
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)
    if (Number.isNaN(le)) continue
    const route = s.labels.route ?? ''
    const m = acc.get(route) ?? new Map<number, number>()
    m.set(le, (m.get(le) ?? 0) + s.value)
    acc.set(route, m)
  }
  const out = new Map<string, Buckets>()
  for (const [route, m] of acc) {
    const le = [...m.keys()].sort((a, b) => a - b)
    out.set(route, { le, counts: le.map((b) => m.get(b)!) })
  }
  return out
}

/** The observations between two samples of one cumulative histogram (a counter reset counts as 0). */
export function bucketDeltas(now: Buckets, prev: Buckets | undefined): Buckets {
  const before = new Map<number, number>()
  if (prev !== undefined) prev.le.forEach((b, i) => before.set(b, prev.counts[i]!))
  return { le: now.le, counts: now.le.map((b, i) => Math.max(0, now.counts[i]! - (before.get(b) ?? 0))) }
}

/**
 * The q-quantile (0..1) of a cumulative histogram, as Prometheus's histogram_quantile computes it:
 * find the bucket the rank q × count falls in and interpolate linearly between its lower and upper
 * bound (the first bucket's lower bound is 0); a rank in the +Inf bucket answers the highest finite
 * bound. NaN when the histogram holds no observation (nothing to say, not 0 s).
 */
export function histogramQuantile(q: number, h: Buckets): number {
  const n = h.counts.length
  if (n === 0) return NaN
  const total = h.counts[n - 1]!
  if (total <= 0 || h.le[n - 1] !== Infinity) return NaN
  const rank = q * total
  let i = 0
  while (i < n - 1 && h.counts[i]! < rank) i++
  if (h.le[i] === Infinity) return n >= 2 ? h.le[n - 2]! : NaN
  const lower = i === 0 ? 0 : h.le[i - 1]!
  const below = i === 0 ? 0 : h.counts[i - 1]!
  const inBucket = h.counts[i]! - below
  if (inBucket <= 0) return h.le[i]!
  return lower + (h.le[i]! - lower) * ((rank - below) / inBucket)
}

/** Counter totals of `name` per route and per value of label `by` (summed over the other labels). */
export function parseCounterBy(metrics: string, name: string, by: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>()
  for (const line of metrics.split('\n')) {
    const s = series(line, name)
    if (s === null) continue
    const route = s.labels.route ?? ''
    const key = s.labels[by] ?? ''
    const m = out.get(route) ?? new Map<string, number>()
    m.set(key, (m.get(key) ?? 0) + s.value)
    out.set(route, m)
  }
  return out
}

/** Rate-limit decisions per route by result (allowed, limited, failed = 503 on fail_closed), over both policies. */
export const parseRateLimit = (metrics: string) => parseCounterBy(metrics, 'portico_ratelimit_decisions_total', 'result')
/** Cache results per route (HIT, MISS, STALE, BYPASS, REVALIDATED: the x-cache header sent). */
export const parseCache = (metrics: string) => parseCounterBy(metrics, 'portico_cache_results_total', 'result')
/** Requests plugins handled in their degraded mode (a dependency failed), per route and plugin. */
export const parseDegraded = (metrics: string) => parseCounterBy(metrics, 'portico_plugin_degraded_total', 'plugin')

/** Per-second rates of each key of `now` between two samples of counters `dt` seconds apart (a reset counts as 0). */
export function rates(now: Map<string, number>, prev: Map<string, number> | undefined, dt: number): Map<string, number> {
  const out = new Map<string, number>()
  for (const [k, v] of now) out.set(k, dt <= 0 ? 0 : Math.max(0, v - (prev?.get(k) ?? 0)) / dt)
  return out
}

/** What one scrape of /metrics says, as counters (rates come from two of them). */
export interface Sample {
  requests: Totals
  durations: Map<string, Buckets>
  rateLimit: Map<string, Map<string, number>>
  cache: Map<string, Map<string, number>>
  degraded: Map<string, Map<string, number>>
}

export function parseSample(metrics: string): Sample {
  return { requests: parseRequests(metrics), durations: parseDurations(metrics), rateLimit: parseRateLimit(metrics), cache: parseCache(metrics), degraded: parseDegraded(metrics) }
}

/** One route's charts: one value per interval between samples, the newest last. */
export interface RouteSeries {
  rate: number[]
  errors: number[]
  /** Seconds; NaN for an interval without a request. */
  p50: number[]
  p99: number[]
  /** Result → decisions/s; only routes with rate-limit (resp. cache) series have any. */
  rateLimit: Map<string, number[]>
  cache: Map<string, number[]>
  /** Plugin → requests/s it handled in its degraded mode on this route; only routes where one was. */
  degraded: Map<string, number[]>
}

const RL_ORDER = ['allowed', 'limited', 'failed']
const CACHE_ORDER = ['HIT', 'MISS', 'STALE', 'REVALIDATED', 'BYPASS']

/** Appends one interval's value per key; a key seen for the first time is padded with gaps so every line spans the same intervals. */
export function appendKeyed(old: Map<string, number[]>, values: Map<string, number> | undefined, length: number, order: string[]): Map<string, number[]> {
  const out = new Map<string, number[]>()
  const keys = [...new Set([...order.filter((k) => values?.has(k) === true || old.has(k)), ...(values?.keys() ?? []), ...old.keys()])]
  for (const k of keys) {
    const prev = old.get(k) ?? new Array<number>(length).fill(NaN)
    out.set(k, [...prev, values?.get(k) ?? NaN].slice(-KEEP))
  }
  return out
}

/** The series after one more interval: `prev` and `now` are two samples `dt` seconds apart. */
export function advance(old: Map<string, RouteSeries>, prev: Sample, now: Sample, dt: number): Map<string, RouteSeries> {
  const next = new Map(old)
  const routes = new Set([...now.requests.keys(), ...now.rateLimit.keys(), ...now.cache.keys(), ...now.degraded.keys()])
  for (const route of routes) {
    const t = now.requests.get(route) ?? { all: 0, errors: 0 }
    const p = prev.requests.get(route) ?? { all: 0, errors: 0 }
    const d = Math.max(0, t.all - p.all)
    const de = Math.max(0, t.errors - p.errors)
    const s = next.get(route) ?? { rate: [], errors: [], p50: [], p99: [], rateLimit: new Map(), cache: new Map(), degraded: new Map() }
    const h = now.durations.get(route)
    const delta = h === undefined ? undefined : bucketDeltas(h, prev.durations.get(route))
    const rl = now.rateLimit.get(route)
    const cache = now.cache.get(route)
    const degraded = now.degraded.get(route)
    next.set(route, {
      rate: [...s.rate, d / dt].slice(-KEEP),
      errors: [...s.errors, d === 0 ? 0 : de / d].slice(-KEEP),
      p50: [...s.p50, delta === undefined ? NaN : histogramQuantile(0.5, delta)].slice(-KEEP),
      p99: [...s.p99, delta === undefined ? NaN : histogramQuantile(0.99, delta)].slice(-KEEP),
      rateLimit: rl === undefined && s.rateLimit.size === 0 ? s.rateLimit : appendKeyed(s.rateLimit, rl === undefined ? undefined : rates(rl, prev.rateLimit.get(route), dt), s.rate.length, RL_ORDER),
      cache: cache === undefined && s.cache.size === 0 ? s.cache : appendKeyed(s.cache, cache === undefined ? undefined : rates(cache, prev.cache.get(route), dt), s.rate.length, CACHE_ORDER),
      degraded: degraded === undefined && s.degraded.size === 0 ? s.degraded : appendKeyed(s.degraded, degraded === undefined ? undefined : rates(degraded, prev.degraded.get(route), dt), s.rate.length, []),
    })
  }
  return next
}

