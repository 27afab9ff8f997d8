// The console's live traffic arithmetic (ui/src/traffic-metrics.ts): /metrics text parsed into
// counters, latency quantiles from the duration histogram's bucket deltas between two samples
// (Prometheus's histogram_quantile interpolation), rate-limit and cache results and degraded-mode
// requests per route as rates.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import { FastCounter, FastHistogram } from '../../../src/observability/series.js'
import { advance, bucketDeltas, histogramQuantile, parseCache, parseDurations, parseRateLimit, parseSample, type Buckets } from '../../../ui/src/traffic-metrics.js'

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} ≈ ${b}`)

test('histogramQuantile interpolates linearly inside the bucket the rank falls in, as histogram_quantile does', () => {
  // 10 observations ≤ 0.1, 10 more in (0.1, 0.2], none above.
  const h: Buckets = { le: [0.1, 0.2, 0.4, Infinity], counts: [10, 20, 20, 20] }
  close(histogramQuantile(0.5, h), 0.1) // rank 10: the top of the first bucket
  close(histogramQuantile(0.25, h), 0.05) // rank 5 in [0, 0.1]: the first bucket's lower bound is 0
  close(histogramQuantile(0.75, h), 0.15) // rank 15: halfway through (0.1, 0.2]
  close(histogramQuantile(0.99, h), 0.198)
  // A rank in the +Inf bucket answers the highest finite bound.
  close(histogramQuantile(0.99, { le: [0.1, 0.2, Infinity], counts: [1, 1, 100] }), 0.2)
  // Nothing observed: no answer (a gap in the chart), not 0 s.
  assert.ok(Number.isNaN(histogramQuantile(0.5, { le: [0.1, Infinity], counts: [0, 0] })))
  assert.ok(Number.isNaN(histogramQuantile(0.5, { le: [], counts: [] })))
})

test('the quantiles of an interval come from the bucket deltas between two samples, not the totals since start', () => {
  const before: Buckets = { le: [0.01, 0.1, 1, Infinity], counts: [1000, 1000, 1000, 1000] } // fast requests earlier
  const after: Buckets = { le: [0.01, 0.1, 1, Infinity], counts: [1000, 1000, 1010, 1010] } // 10 slow ones since
  const d = bucketDeltas(after, before)
  assert.deepEqual(d.counts, [0, 0, 10, 10])
  close(histogramQuantile(0.5, d), 0.55)
  assert.ok(histogramQuantile(0.5, after) <= 0.01, 'over the totals the slow interval would not show')
  // A counter reset (a restarted worker) counts as nothing observed, never as negative.
  assert.deepEqual(bucketDeltas({ le: [0.1, Infinity], counts: [1, 2] }, { le: [0.1, Infinity], counts: [5, 9] }).counts, [0, 0])
  assert.deepEqual(bucketDeltas(after, undefined).counts, after.counts)
})

test('the exposition of the gateway series parses per route: buckets summed over methods, rate-limit and cache results by result', async () => {
  // The same series classes and names the data plane registers (src/observability/metrics.ts, the plugins).
  const registry = new Registry()
  const duration = new FastHistogram('portico_request_duration_seconds', 'h', [0.005, 0.05, 0.5], registry)
  const decisions = new FastCounter('portico_ratelimit_decisions_total', 'c', registry)
  const cache = new FastCounter('portico_cache_results_total', 'c', registry)
  const get = duration.series('a\0GET', { route: 'a', method: 'GET' })
  const post = duration.series('a\0POST', { route: 'a', method: 'POST' })
  for (const v of [0.001, 0.01, 0.01, 1]) duration.observe(get, v)
  duration.observe(post, 0.1)
  duration.observe(duration.series('we"ird\0GET', { route: 'we"ird', method: 'GET' }), 0.001)
  for (const [policy, result, n] of [['local', 'allowed', 7], ['redis', 'allowed', 3], ['local', 'limited', 2], ['local', 'failed', 0]] as const) {
    decisions.series(`a\0${policy}\0${result}`, { route: 'a', policy, result }).value = n
  }
  cache.series('c\0HIT', { route: 'c', result: 'HIT' }).value = 9
  cache.series('c\0MISS', { route: 'c', result: 'MISS' }).value = 1
  const text = await registry.metrics()

  const d = parseDurations(text)
  assert.deepEqual(d.get('a'), { le: [0.005, 0.05, 0.5, Infinity], counts: [1, 3, 4, 5] })
  assert.deepEqual(d.get('we"ird')?.counts, [1, 1, 1, 1], 'escaped quotes in a label value')
  assert.deepEqual(Object.fromEntries(parseRateLimit(text).get('a')!), { allowed: 10, limited: 2, failed: 0 })
  assert.deepEqual(Object.fromEntries(parseCache(text).get('c')!), { HIT: 9, MISS: 1 })
  assert.equal(parseRateLimit(text).has('c'), false)
  assert.equal(parseCache(text).size, 1)
})

test('advance adds one interval per route: rates per second, p50/p99, rate-limit and cache lines only where the gateway has those series', () => {
  const scrape = (n: number, hits: number, slow: number) =>
    [
      `portico_requests_total{route="a",method="GET",status="2xx"} ${n}`,
      `portico_requests_total{route="b",method="GET",status="2xx"} ${n}`,
      `portico_request_duration_seconds_bucket{le="0.1",route="a",method="GET"} ${n - slow}`,
      `portico_request_duration_seconds_bucket{le="1",route="a",method="GET"} ${n}`,
      `portico_request_duration_seconds_bucket{le="+Inf",route="a",method="GET"} ${n}`,
      `portico_ratelimit_decisions_total{route="a",policy="local",result="allowed"} ${n}`,
      `portico_ratelimit_decisions_total{route="a",policy="local",result="limited"} ${2 * n}`,
      `portico_cache_results_total{route="a",result="HIT"} ${hits}`,
      `portico_cache_results_total{route="a",result="MISS"} ${n === 0 ? 0 : 1}`,
    ].join('\n')
  const s0 = parseSample(scrape(0, 0, 0))
  const s1 = parseSample(scrape(20, 10, 0))
  const s2 = parseSample(scrape(20, 10, 0))
  const s3 = parseSample(scrape(40, 30, 20))
  let series = advance(new Map(), s0, s1, 2)
  series = advance(series, s1, s2, 2)
  series = advance(series, s2, s3, 2)
  const a = series.get('a')!
  assert.deepEqual(a.rate, [10, 0, 10])
  close(a.p50[0]!, 0.05)
  assert.ok(Number.isNaN(a.p50[1]!), 'no request in the interval: a gap')
  close(a.p50[2]!, 0.55) // the 20 requests of the last interval were all in (0.1, 1]
  close(a.p99[2]!, 0.991)
  assert.deepEqual([...a.rateLimit.keys()], ['allowed', 'limited'])
  assert.deepEqual(a.rateLimit.get('limited'), [20, 0, 20])
  assert.deepEqual([...a.cache.keys()], ['HIT', 'MISS'])
  assert.deepEqual(a.cache.get('HIT'), [5, 0, 10])
  assert.deepEqual(a.cache.get('MISS'), [0.5, 0, 0])
  const b = series.get('b')!
  assert.equal(b.rateLimit.size, 0)
  assert.equal(b.cache.size, 0)
  assert.ok(b.p50.every(Number.isNaN), 'no histogram series for b')
})

test('degraded-mode requests parse per route and plugin, and chart only on the routes that had them', async () => {
  // The data plane's series: portico_plugin_degraded_total{plugin, route} (src/observability/metrics.ts).
  const registry = new Registry()
  const degraded = new FastCounter('portico_plugin_degraded_total', 'c', registry)
  const requests = new FastCounter('portico_requests_total', 'c', registry)
  const rl = degraded.series('rate-limit\0a', { plugin: 'rate-limit', route: 'a' })
  const jwt = degraded.series('jwt\0a', { plugin: 'jwt', route: 'a' })
  requests.series('a', { route: 'a', method: 'GET', status: '2xx' }).value = 10
  requests.series('b', { route: 'b', method: 'GET', status: '2xx' }).value = 10
  const s0 = parseSample(await registry.metrics())
  rl.value = 6
  jwt.value = 2
  const s1 = parseSample(await registry.metrics())
  assert.deepEqual(Object.fromEntries(s1.degraded.get('a')!), { 'rate-limit': 6, jwt: 2 })
  assert.equal(s1.degraded.has('b'), false)
  const series = advance(new Map(), s0, s1, 2)
  assert.deepEqual(Object.fromEntries(series.get('a')!.degraded), { 'rate-limit': [3], jwt: [1] })
  assert.equal(series.get('b')!.degraded.size, 0, 'no degraded line on a route without one')
})
