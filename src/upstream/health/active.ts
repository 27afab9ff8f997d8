// Active health checks: each target is probed on its own timer (interval ± jitter), HTTP(S) GET
// through the target's own connection pool, a grpc.health.v1 Check call through it (grpc-health.ts),
// or a bare TCP connect. `unhealthy.failures` failed
// probes in a row take a healthy target out; `healthy.successes` passed probes in a row bring it
// back. The thresholds are what keeps a flapping target from flapping traffic: each transition is
// logged once and counted in portico_upstream_target_healthy. Timers belong to the Cluster; they
// start with Cluster.start() and stop with Cluster.close().
import net from 'node:net'
import type { ActiveHealthCheckConfig } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import type { Target } from '../target.js'
import type { HealthHost } from './host.js'
import { grpcHealthCheck } from './grpc-health.js'

export interface ActivePolicy {
  type: 'http' | 'tcp' | 'grpc'
  path: string
  /** grpc checks: HealthCheckRequest.service ('' = the whole server). */
  service: string
  host: string | undefined
  intervalMs: number
  /** Fraction of the interval, 0..1. */
  jitter: number
  timeoutMs: number
  /** null = any 2xx or 3xx. */
  expected: ReadonlySet<number> | null
  successes: number
  failures: number
}

export function resolveActive(c: ActiveHealthCheckConfig): ActivePolicy {
  return {
    type: c.type ?? 'http',
    path: c.path ?? '/',
    service: c.service ?? '',
    host: c.host,
    intervalMs: Math.max(10, parseDuration(c.interval ?? '5s')),
    jitter: (c.jitter ?? 10) / 100,
    timeoutMs: Math.max(1, parseDuration(c.timeout ?? '1s')),
    expected: c.expected_statuses === undefined ? null : new Set(c.expected_statuses),
    successes: c.healthy?.successes ?? 2,
    failures: c.unhealthy?.failures ?? 3,
  }
}

interface ProbeState {
  ok: number
  failed: number
  timer: NodeJS.Timeout | null
}

export class ActiveChecker {
  readonly policy: ActivePolicy
  readonly #host: HealthHost
  readonly #connectTimeout: number
  readonly #state = new Map<Target, ProbeState>()
  #running = false

  constructor(policy: ActivePolicy, host: HealthHost, connectTimeoutMs: number) {
    this.policy = policy
    this.#host = host
    this.#connectTimeout = connectTimeoutMs
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    for (const t of this.#host.targets) {
      const s: ProbeState = { ok: 0, failed: 0, timer: null }
      this.#state.set(t, s)
      // The first probe comes within one interval, spread so targets are not probed in step.
      this.#schedule(t, s, Math.random() * this.policy.intervalMs)
    }
  }

  /** A target joined (discovery): probe it too, starting within one interval. */
  add(t: Target): void {
    if (!this.#running || this.#state.has(t)) return
    const s: ProbeState = { ok: 0, failed: 0, timer: null }
    this.#state.set(t, s)
    this.#schedule(t, s, Math.random() * this.policy.intervalMs)
  }

  /** A target left (discovery): stop probing it; a probe in flight is ignored when it returns. */
  remove(t: Target): void {
    const s = this.#state.get(t)
    if (s === undefined) return
    if (s.timer !== null) clearTimeout(s.timer)
    this.#state.delete(t)
  }

  close(): void {
    this.#running = false
    for (const s of this.#state.values()) if (s.timer !== null) clearTimeout(s.timer)
    this.#state.clear()
  }

  #schedule(t: Target, s: ProbeState, delay?: number): void {
    const p = this.policy
    const wait = delay ?? p.intervalMs * (1 + p.jitter * (2 * Math.random() - 1))
    s.timer = setTimeout(() => {
      s.timer = null
      this.#probe(t).then((ok) => {
        if (!this.#running || this.#state.get(t) !== s) return
        this.#record(t, s, ok)
        this.#schedule(t, s)
      })
    }, wait)
    s.timer.unref()
  }

  #record(t: Target, s: ProbeState, ok: boolean): void {
    const p = this.policy
    const log = this.#host.logger
    if (ok) {
      s.failed = 0
      s.ok++
      if (!t.healthy && s.ok >= p.successes) {
        t.healthy = true
        log?.info({ upstream: this.#host.name, target: t.url, successes: s.ok }, 'target healthy (active health check)')
        this.#host.availabilityChanged()
      }
    } else {
      s.ok = 0
      s.failed++
      if (t.healthy && s.failed >= p.failures) {
        t.healthy = false
        log?.warn({ upstream: this.#host.name, target: t.url, failures: s.failed }, 'target unhealthy (active health check)')
        this.#host.availabilityChanged()
      }
    }
  }

  /** Resolves true when the probe passed; never rejects. */
  #probe(t: Target): Promise<boolean> {
    const p = this.policy
    if (p.type === 'grpc') return grpcHealthCheck(t.pool(this.#connectTimeout), p.host ?? t.hostHeader, p.service, p.timeoutMs)
    return p.type === 'tcp' ? this.#tcp(t) : this.#http(t)
  }

  async #http(t: Target): Promise<boolean> {
    const p = this.policy
    try {
      const res = await t.pool(this.#connectTimeout).request({
        path: p.path,
        method: 'GET',
        headers: { host: p.host ?? t.hostHeader, 'user-agent': 'portico-health-check' },
        headersTimeout: p.timeoutMs,
        bodyTimeout: p.timeoutMs,
        signal: AbortSignal.timeout(p.timeoutMs),
      })
      await res.body.dump()
      const st = res.statusCode
      return p.expected === null ? st >= 200 && st < 400 : p.expected.has(st)
    } catch {
      return false
    }
  }

  #tcp(t: Target): Promise<boolean> {
    const u = new URL(t.origin)
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80))
    return new Promise((resolve) => {
      const sock = net.connect({ host, port })
      const done = (ok: boolean) => {
        clearTimeout(timer)
        sock.destroy()
        resolve(ok)
      }
      const timer = setTimeout(() => done(false), this.policy.timeoutMs)
      sock.once('connect', () => done(true))
      sock.once('error', () => done(false))
    })
  }
}
