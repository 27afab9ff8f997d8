// Prometheus metrics of the data plane (prom-client). Each worker owns its registry; the primary
// aggregates over workers with prom-client's AggregatorRegistry (control/admin). Label values are
// bounded: route names and status classes, never raw paths or client input.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export const registry = new Registry()

export const requestsTotal = new Counter({
  name: 'portico_requests_total',
  help: 'Requests handled, by route, method and status class.',
  labelNames: ['route', 'method', 'status'] as const,
  registers: [registry],
})

export const requestDuration = new Histogram({
  name: 'portico_request_duration_seconds',
  help: 'Time from request arrival to the end of the response, by route and method.',
  labelNames: ['route', 'method'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
})

export const configReloads = new Counter({
  name: 'portico_config_reloads_total',
  help: 'Config loads applied by this process, by result.',
  labelNames: ['result'] as const,
  registers: [registry],
})

let defaultsOn = false
/** Node process metrics (event loop lag, GC, heap), once per process. */
export function enableProcessMetrics(): void {
  if (defaultsOn) return
  defaultsOn = true
  collectDefaultMetrics({ register: registry, prefix: 'portico_process_' })
}

const STATUS_CLASS = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const
export function statusClass(status: number): string {
  return STATUS_CLASS[Math.floor(status / 100) - 1] ?? 'other'
}

interface RequestSeries {
  count: ReturnType<typeof requestsTotal.labels>
  duration: ReturnType<typeof requestDuration.labels>
}
// prom-client hashes label values on every labels() call; the series of a (route, method, class)
// never change, so they are looked up once and kept. Bounded: routes × methods × 5 classes.
const series = new Map<string, RequestSeries>()

/** Counts one finished request. route '' = matched no route. */
export function recordRequest(route: string, method: string, status: number, seconds: number): void {
  const cls = statusClass(status)
  const key = `${route}\u0000${method}\u0000${cls}`
  let s = series.get(key)
  if (s === undefined) {
    const r = route === '' ? '(none)' : route
    s = { count: requestsTotal.labels(r, method, cls), duration: requestDuration.labels(r, method) }
    series.set(key, s)
  }
  s.count.inc()
  s.duration.observe(seconds)
}
