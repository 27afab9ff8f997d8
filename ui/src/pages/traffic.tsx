// Live traffic per route from the primary's aggregated /metrics (summed over workers), sampled
// every 2 s into the last 5 minutes: requests/s and 5xx ratio (portico_requests_total), p50/p99
// latency (portico_request_duration_seconds buckets), rate-limit decisions
// (portico_ratelimit_decisions_total) and cache results (portico_cache_results_total) as rates.
// Every rate is the difference of two samples' counters over the time between them.
// The figures are this instance's only: /metrics is the primary's sum over its own workers, and no
// instance holds another's counters (fleet-wide figures are Prometheus's job: scrape every
// instance and sum). With a fleet, the page says so and names this instance.
import { useEffect, useRef, useState } from 'preact/hooks'
import { text } from '../api'
import { Chart, MultiChart } from '../chart'
import { loadFleet, type Loaded } from '../fleet'
import { href, usePoll } from '../hooks'
import { advance, KEEP, parseSample, type RouteSeries, type Sample } from '../traffic-metrics'

const SAMPLE_MS = 2000

const ms = (v: number) => (v * 1000 < 10 ? `${(v * 1000).toFixed(2)} ms` : `${(v * 1000).toFixed(0)} ms`)
const perSecond = (v: number) => `${v.toFixed(1)}/s`
const lines = (m: Map<string, number[]>) => [...m].map(([name, values]) => ({ name, values }))

/** Whose traffic this is: this instance's, and with a fleet, not the other instances'. */
function Scope({ fleet }: { fleet: Loaded | null }) {
  const f = fleet !== null && 'fleet' in fleet ? fleet.fleet : null
  const self = f?.data.find((r) => r.self)
  const others = f === null ? 0 : f.data.filter((r) => !r.self).length
  return (
    <p class="panel" role="note" data-testid="traffic-scope">
      <strong>This instance only</strong>
      {self !== undefined ? (
        <>
          {' '}
          (<code>{self.id}</code>, admin <code>{self.admin ?? '—'}</code>)
        </>
      ) : null}
      : the figures are the sum over this instance's workers.{' '}
      {f !== null && others > 0 ? (
        <>
          The {others} other instance{others === 1 ? '' : 's'} of the <a href={href('fleet')}>fleet</a> serve{others === 1 ? 's' : ''} traffic not counted here: open {others === 1 ? 'its' : 'each one\'s'} console, or scrape
          every instance's /metrics with Prometheus and sum them for fleet-wide figures.
        </>
      ) : (
        <>Fleet-wide figures: scrape every instance's /metrics with Prometheus and sum them.</>
      )}
    </p>
  )
}

export function Traffic() {
  const [series, setSeries] = useState<Map<string, RouteSeries>>(new Map())
  const [error, setError] = useState<string | null>(null)
  const last = useRef<{ at: number; sample: Sample } | null>(null)
  useEffect(() => {
    let live = true
    let timer: ReturnType<typeof setTimeout> | undefined
    const sample = async () => {
      try {
        const now = parseSample(await text('/metrics'))
        const at = Date.now()
        const prev = last.current
        last.current = { at, sample: now }
        if (prev !== null && live) {
          const dt = (at - prev.at) / 1000
          setSeries((old) => advance(old, prev.sample, now, dt))
        }
        setError(null)
      } catch (e) {
        setError((e as Error).message)
      } finally {
        if (live) timer = setTimeout(() => void sample(), SAMPLE_MS)
      }
    }
    void sample()
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [])
  // The fleet changes slowly; its size is enough for the scope note.
  const { data: fleet } = usePoll(loadFleet, 10_000)
  const routes = [...series.keys()].sort()
  return (
    <>
      <h1>Live traffic</h1>
      <p class="muted">
        Per route, sampled every {SAMPLE_MS / 1000} s from /metrics (all workers), the last {Math.round((KEEP * SAMPLE_MS) / 60000)} minutes. Latency quantiles are estimated from the request-duration
        histogram's buckets between two samples (linear within a bucket, as Prometheus's histogram_quantile); a gap is an interval without requests.
      </p>
      <Scope fleet={fleet} />
      {error !== null && <p role="alert" class="error">{error}</p>}
      {routes.length === 0 && <p class="muted">Waiting for two samples of traffic…</p>}
      <div class="charts">
        {routes.map((r) => {
          const s = series.get(r)!
          return (
            <section key={r} class="card" aria-label={`Traffic of route ${r}`} data-route={r}>
              <h2>{r === '' ? '(no route)' : r}</h2>
              <Chart label="requests/s" values={s.rate} format={(v) => v.toFixed(1)} />
              <Chart label="error ratio (5xx)" values={s.errors} max={1} format={(v) => `${(v * 100).toFixed(0)}%`} tone="bad" />
              <MultiChart label="latency p50 / p99" testid="latency" format={ms} lines={[{ name: 'p50', values: s.p50 }, { name: 'p99', values: s.p99 }]} />
              {s.rateLimit.size > 0 && <MultiChart label="rate-limit decisions/s" testid="rate-limit" format={perSecond} lines={lines(s.rateLimit)} />}
              {s.cache.size > 0 && <MultiChart label="cache results/s" testid="cache" format={perSecond} lines={lines(s.cache)} />}
              {s.degraded.size > 0 && (
                // Requests a plugin handled without its dependency (Redis, an IdP): rate-limit on local counters, for example.
                <MultiChart label="degraded mode requests/s by plugin (a dependency failed)" testid="degraded" format={perSecond} lines={lines(s.degraded)} />
              )}
            </section>
          )
        })}
      </div>
    </>
  )
}
