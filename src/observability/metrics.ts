// Prometheus metrics of the data plane (prom-client). Each worker owns its registry; the primary
// aggregates over workers with prom-client's AggregatorRegistry (control/admin). Label values are
// bounded: route names and status classes, never raw paths or client input.
import { subscribe } from 'node:diagnostics_channel'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Gauge as PromGauge } from 'prom-client'
import { Counter, Registry } from 'prom-client'
import { FastCounter, FastHistogram, type HistogramSeries } from './series.js'

export const registry = new Registry()

export const requestsTotal = new FastCounter('portico_requests_total', 'Requests handled, by route, method and status class.', registry)

export const requestDuration = new FastHistogram(
  'portico_request_duration_seconds',
  'Time from request arrival to the end of the response, by route and method.',
  [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registry,
)

/** rate-limit decisions; labels route, policy (local|redis: what decided), result (allowed|limited|failed). Bounded. */
export const ratelimitDecisions = new FastCounter(
  'portico_ratelimit_decisions_total',
  'rate-limit decisions by route, policy that decided (local or redis) and result (allowed, limited, failed = 503 on fail_closed).',
  registry,
)

/** A plugin fell back to its degraded mode (e.g. rate-limit to local counters while Redis fails). */
export const pluginDegraded = new FastCounter(
  'portico_plugin_degraded_total',
  'Requests a plugin handled in its degraded mode because a dependency (Redis, an IdP) failed, by plugin and route.',
  registry,
)

/**
 * One plugin's degraded-mode counter, by route: `degraded(ctx.routeName).value++`. The series is
 * looked up only when a request is degraded (a dependency just failed), never on the healthy path,
 * and resolved once per route (a global instance serves many routes). Routes are configured
 * names, so the label stays bounded.
 */
export function degradedCounter(plugin: string): (route: string) => { value: number } {
  const byRoute = new Map<string, { value: number }>()
  return (route) => {
    let s = byRoute.get(route)
    if (s === undefined) {
      const r = route === '' ? '(none)' : route
      s = pluginDegraded.series(`${plugin}\u0000${r}`, { plugin, route: r })
      byRoute.set(route, s)
    }
    return s
  }
}

export const configReloads = new Counter({
  name: 'portico_config_reloads_total',
  help: 'Config loads applied by this process, by result.',
  labelNames: ['result'] as const,
  registers: [registry],
})

// Upstream resilience (src/upstream). Label values are upstream names and configured target URLs.
// Gauges carry an aggregator for the primary's cross-worker sum: a target counts as healthy only
// if every worker sees it healthy (min); the breaker shows the worst worker's state (max).
export const upstreamTargetHealthy = new PromGauge({
  name: 'portico_upstream_target_healthy',
  help: '1 when the target is in rotation (active checks pass and not ejected), else 0.',
  labelNames: ['upstream', 'target'] as const,
  aggregator: 'min',
  registers: [registry],
})

export const upstreamBreakerState = new PromGauge({
  name: 'portico_upstream_breaker_state',
  help: 'Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.',
  labelNames: ['upstream'] as const,
  aggregator: 'max',
  registers: [registry],
})

export const upstreamRetries = new Counter({
  name: 'portico_upstream_retries_total',
  help: 'Retries sent to an upstream (tries after the first).',
  labelNames: ['upstream'] as const,
  registers: [registry],
})

export const upstreamEjections = new Counter({
  name: 'portico_upstream_ejections_total',
  help: 'Targets ejected by passive health checks (outlier detection).',
  labelNames: ['upstream', 'target'] as const,
  registers: [registry],
})

export const upstreamRejected = new Counter({
  name: 'portico_upstream_rejected_total',
  help: 'Requests refused before reaching a target, by reason: circuit_open, upstream_overloaded, retry_budget.',
  labelNames: ['upstream', 'reason'] as const,
  registers: [registry],
})

/** Client connections the listener closed at accept because the worker had server.max_connections open. */
export const connectionsClosed = new Counter({
  name: 'portico_connections_closed_total',
  help: 'Client connections closed by the gateway, by reason: max_connections (at accept: the worker had server.max_connections open), h2_rapid_reset and h2_control_flood (an HTTP/2 connection past its reset or SETTINGS/PING rate).',
  labelNames: ['reason'] as const,
  registers: [registry],
})

let defaultsOn = false

// prom-client's default process metrics, one module each, minus two kinds:
// - eventLoopLag: its monitorEventLoopDelay histogram samples every 10 ms for the life of the
//   process, 100 wake-ups a second on an idle worker (issue 12: ~8 of an idle instance's 18 ms of
//   CPU per second on the bench host); eventLoopMetrics() below keeps its series, sampled only while
//   the process holds a client connection;
// - processHandles / processRequests / processResources: gauges named `*_total`, which Prometheus'
//   naming rules reserve for counters (promtool rejects the exposition).
// These are prom-client's own files (lib/metrics/*.js, pinned by package-lock); a renamed one fails
// loudly here, and test/integration/observability/promtool.test.ts checks the exposition.
const DEFAULT_METRICS = ['processCpuTotal', 'processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors', 'heapSizeAndUsed', 'heapSpacesSizeAndUsed', 'version', 'gc']

/** Node process metrics (event loop lag, GC, heap), once per process. */
export function enableProcessMetrics(): void {
  if (defaultsOn) return
  defaultsOn = true
  const require = createRequire(import.meta.url)
  const config = { register: registry, prefix: 'portico_process_' }
  for (const name of DEFAULT_METRICS) {
    ;(require(`prom-client/lib/metrics/${name}.js`) as (r: Registry, c: typeof config) => void)(registry, config)
  }
  eventLoopMetrics(config.prefix)
}

/**
 * prom-client's event-loop lag series (same names, same meaning), with the delay histogram
 * enabled only while the process has a client connection open on any of its servers (a socket
 * accepted: diagnostics channel net.server.socket, until it closes). An idle process samples
 * nothing and wakes for nothing; a scrape of /metrics is itself a connection, so the figures are
 * never empty when asked for, and describe the loop while it was serving.
 */
function eventLoopMetrics(prefix: string): void {
  const h = monitorEventLoopDelay({ resolution: 10 })
  let open = 0
  const closed = (): void => {
    if (--open === 0) h.disable()
  }
  subscribe('net.server.socket', (message) => {
    const socket = (message as { socket: Socket }).socket
    if (open++ === 0) h.enable()
    socket.once('close', closed)
  })
  const value = (v: number): number => (h.count > 0 ? v / 1e9 : 0)
  const gauge = (suffix: string, help: string, read: () => number, aggregator: 'min' | 'max' | 'average') =>
    new PromGauge({ name: `${prefix}nodejs_eventloop_lag_${suffix}`, help, registers: [registry], aggregator, collect() {
      this.set(read())
    } })
  // The lag of one setImmediate, measured at scrape time (prom-client's nodejs_eventloop_lag_seconds).
  new PromGauge({
    name: `${prefix}nodejs_eventloop_lag_seconds`,
    help: 'Lag of event loop in seconds.',
    registers: [registry],
    aggregator: 'average',
    async collect() {
      const start = process.hrtime.bigint()
      await new Promise<void>((r) => setImmediate(r))
      this.set(Number(process.hrtime.bigint() - start) / 1e9)
    },
  })
  gauge('min_seconds', 'The minimum recorded event loop delay.', () => value(h.min), 'min')
  gauge('max_seconds', 'The maximum recorded event loop delay.', () => value(h.max), 'max')
  gauge('mean_seconds', 'The mean of the recorded event loop delays.', () => value(h.mean), 'average')
  gauge('stddev_seconds', 'The standard deviation of the recorded event loop delays.', () => value(h.stddev), 'average')
  gauge('p50_seconds', 'The 50th percentile of the recorded event loop delays.', () => value(h.percentile(50)), 'average')
  gauge('p90_seconds', 'The 90th percentile of the recorded event loop delays.', () => value(h.percentile(90)), 'average')
  // The last gauge collected resets the histogram, as prom-client does after each scrape.
  gauge('p99_seconds', 'The 99th percentile of the recorded event loop delays.', () => {
    const v = value(h.percentile(99))
    h.reset()
    return v
  }, 'average')
}

const STATUS_CLASS = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const
export function statusClass(status: number): string {
  return STATUS_CLASS[Math.floor(status / 100) - 1] ?? 'other'
}

export const upstreamDuration = new FastHistogram(
  'portico_upstream_duration_seconds',
  'Time from sending a request upstream to its response head, by upstream and target.',
  [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registry,
)
/** The latency series of one target; the caller keeps it (Target.latency) so lookups happen once. */
export function upstreamSeries(upstream: string, target: string): HistogramSeries {
  return upstreamDuration.series(`${upstream}\u0000${target}`, { upstream, target })
}

export const requestBytes = new FastCounter('portico_request_bytes_total', 'Request body bytes received (declared Content-Length), by route.', registry)
export const responseBytes = new FastCounter('portico_response_bytes_total', 'Response body bytes sent to clients, by route.', registry)

/** Requests in flight and open client connections, read at scrape time from the data plane. */
let liveCounts: (() => { inFlight: number; connections: number }) | null = null
new PromGauge({
  name: 'portico_requests_in_flight',
  help: 'Requests being handled right now.',
  registers: [registry],
  collect() {
    this.set(liveCounts?.().inFlight ?? 0)
  },
})
new PromGauge({
  name: 'portico_open_connections',
  help: 'Client connections open to the data plane.',
  registers: [registry],
  collect() {
    this.set(liveCounts?.().connections ?? 0)
  },
})
export function reportLiveCounts(fn: () => { inFlight: number; connections: number }): void {
  liveCounts = fn
}

interface RequestSeries {
  count: { value: number }
  duration: HistogramSeries
  bytesIn: { value: number }
  bytesOut: { value: number }
}
// route → method → status class index → series. Nested lookups instead of a joined string key:
// nothing is allocated per request once a series exists. Bounded: routes × methods × 5 classes.
const series = new Map<string, Map<string, Array<RequestSeries | undefined>>>()

/** Counts one finished request. route '' = matched no route. */
/** `traceId` (a sampled trace's id) becomes the latency bucket's OpenMetrics exemplar. */
export function recordRequest(route: string, method: string, status: number, seconds: number, bytesIn = 0, bytesOut = 0, traceId?: string): void {
  const cls = (status / 100) | 0
  let byMethod = series.get(route)
  if (byMethod === undefined) series.set(route, (byMethod = new Map()))
  let byClass = byMethod.get(method)
  if (byClass === undefined) byMethod.set(method, (byClass = []))
  let s = byClass[cls]
  if (s === undefined) {
    const r = route === '' ? '(none)' : route
    const statusLabel = statusClass(status)
    s = {
      count: requestsTotal.series(`${r}\u0000${method}\u0000${statusLabel}`, { route: r, method, status: statusLabel }),
      duration: requestDuration.series(`${r}\u0000${method}`, { route: r, method }),
      bytesIn: requestBytes.series(r, { route: r }),
      bytesOut: responseBytes.series(r, { route: r }),
    }
    byClass[cls] = s
  }
  s.count.value++
  s.bytesIn.value += bytesIn
  s.bytesOut.value += bytesOut
  requestDuration.observe(s.duration, seconds, traceId)
}

// Shared-state backend health: 1 while the Store answers. Read at scrape time from the data plane.
interface StoreHealth {
  kind: string
  topology: string
  state: string
  nodes: Array<{ address: string; role: string; state: string }>
}
let storeHealth: (() => StoreHealth) | null = null
new PromGauge({
  name: 'portico_store_up',
  help: 'Whether the shared Store (Redis, or per-process memory) is reachable: 1 up, 0 down.',
  labelNames: ['kind', 'topology'] as const,
  registers: [registry],
  // Across workers: up only if every worker reaches it (a sum would read 2 with two workers).
  aggregator: 'min',
  collect() {
    this.reset()
    if (storeHealth !== null) {
      const h = storeHealth()
      this.set({ kind: h.kind, topology: h.topology }, h.state === 'ready' ? 1 : 0)
    }
  },
})
new PromGauge({
  name: 'portico_store_node_up',
  help: 'Per Redis node this process knows (cluster masters and replicas, the Sentinel-named master, the single node): 1 while its connection is ready.',
  labelNames: ['topology', 'address', 'role'] as const,
  registers: [registry],
  // Across workers: up only if every worker reaches it (a sum would read 2 with two workers).
  aggregator: 'min',
  collect() {
    this.reset()
    const h = storeHealth?.()
    if (h === undefined) return
    for (const n of h.nodes) if (n.role !== 'sentinel') this.set({ topology: h.topology, address: n.address, role: n.role }, n.state === 'ready' ? 1 : 0)
  },
})
export function reportStoreHealth(fn: () => StoreHealth): void {
  storeHealth = fn
}

// Service-discovery sources (DNS, etcd): 1 while the last resolution answered / the watch is up.
let discoveryHealth: (() => Array<{ upstream: string; source: string; up: boolean }>) | null = null
new PromGauge({
  name: 'portico_discovery_up',
  help: 'Whether a service-discovery source (dns, etcd, consul, nacos, zookeeper, kubernetes) is answering: 1 up, 0 down (last known targets keep serving).',
  labelNames: ['upstream', 'source'] as const,
  registers: [registry],
  // Across workers: up only if every worker reaches it (a sum would read 2 with two workers).
  aggregator: 'min',
  collect() {
    this.reset()
    for (const d of discoveryHealth?.() ?? []) this.set({ upstream: d.upstream, source: d.source }, d.up ? 1 : 0)
  },
})
// Failures of a service-discovery source (each one kept the last known targets).
export const discoveryErrors = new Counter({
  name: 'portico_discovery_errors_total',
  help: 'Failed discovery requests or watches (unreachable, http_status, auth, bad_answer, watch_lost); the last known targets keep serving.',
  labelNames: ['upstream', 'source', 'reason'] as const,
  registers: [registry],
})
export function reportDiscoveryHealth(fn: () => Array<{ upstream: string; source: string; up: boolean }>): void {
  discoveryHealth = fn
}

// The config each worker serves: value 1 per worker, so the sum over workers counts the workers on
// each version (mixed versions after a partial reload show up as two series).
const configInfo = new PromGauge({
  name: 'portico_config_info',
  help: 'The config version and hash this process serves (1 per process).',
  labelNames: ['version', 'hash'] as const,
  registers: [registry],
})
export function reportConfigLoaded(version: number, hash: string): void {
  configInfo.reset()
  configInfo.set({ version: String(version), hash: hash.slice(0, 12) }, 1)
}

/** 401/403 answers by route and error code (plugins answer with bounded codes). */
export const authFailures = new FastCounter('portico_auth_failures_total', 'Requests refused with 401 or 403, by route, status and error code.', registry)

/** Counts a 401/403 local reply (any auth plugin, HTTP request or WebSocket handshake). */
export function recordAuthFailure(route: string, status: number, error: string | undefined): void {
  if (status !== 401 && status !== 403) return
  const code = error ?? String(status)
  authFailures.series(`${route}\u0000${status}\u0000${code}`, { route, status: String(status), error: code }).value++
}

// WebSocket sessions (proxy/upgrade.ts). Labels are route names (bounded) and a fixed result set.
export const websocketHandshakes = new FastCounter(
  'portico_websocket_handshakes_total',
  'WebSocket handshakes by route and result: accepted (101 relayed), refused (a plugin or the gateway answered 4xx), limited (max_connections), failed (upstream error or non-101 answer).',
  registry,
)
let websocketCounts: (() => ReadonlyMap<string, number>) | null = null
new PromGauge({
  name: 'portico_websocket_connections',
  help: 'WebSocket sessions open right now, by route.',
  labelNames: ['route'] as const,
  registers: [registry],
  collect() {
    this.reset()
    const counts = websocketCounts?.()
    if (counts !== undefined) for (const [route, n] of counts) this.set({ route }, n)
  },
})
export function reportWebSocketCounts(fn: () => ReadonlyMap<string, number>): void {
  websocketCounts = fn
}

// gRPC calls (proxy/completion.ts). service and method come from the request path, which the client
// chooses: past MAX_GRPC_METHODS distinct (route, service, method) series in a process, new ones are
// counted as service="other", method="other", so a client cannot grow the registry without bound.
// The code label is a gRPC status name (a fixed set of 17; anything else is UNKNOWN).
export const grpcCalls = new FastCounter(
  'portico_grpc_calls_total',
  'gRPC calls by route, service, method and gRPC status name (the upstream\'s, or the one the gateway answered with; CANCELLED when the client went first).',
  registry,
)
export const MAX_GRPC_METHODS = 1000
let grpcMethodSeries = 0
const grpcKnown = new Set<string>()

export function recordGrpcCall(route: string, service: string, method: string, code: string): void {
  let m = `${route}\u0000${service}\u0000${method}`
  if (!grpcKnown.has(m)) {
    if (grpcMethodSeries >= MAX_GRPC_METHODS) {
      service = method = 'other'
      m = `${route}\u0000other\u0000other`
    } else {
      grpcKnown.add(m)
      grpcMethodSeries++
    }
  }
  grpcCalls.series(`${m}\u0000${code}`, { route, service, method, code }).value++
}
