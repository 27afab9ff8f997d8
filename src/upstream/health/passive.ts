// Passive health checks (outlier detection, as Envoy's): real exchanges are counted per target;
// `consecutive_failures` failures in a row (connect failures, resets, timeouts, or a status in
// `statuses`) eject the target for base_ejection_time × (number of times it was ejected in a row),
// capped at max_ejection_time. A target that then stays in for max_ejection_time starts again from
// the base time. At most floor(targets × max_ejected_percent / 100) targets are out at once, so a
// single target is never ejected and a bad day cannot empty the pool. Readmission is by timer:
// the target goes back into rotation and is ejected again if it still fails.
import { performance } from 'node:perf_hooks'
import type { PassiveHealthCheckConfig } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { upstreamEjections } from '../../observability/metrics.js'
import type { Target } from '../target.js'
import type { HealthHost } from './host.js'

export interface PassivePolicy {
  failures: number
  statuses: ReadonlySet<number>
  baseMs: number
  maxMs: number
  maxPercent: number
}

export function resolvePassive(c: PassiveHealthCheckConfig): PassivePolicy {
  const baseMs = parseDuration(c.base_ejection_time ?? '30s')
  return {
    failures: c.consecutive_failures ?? 5,
    statuses: new Set(c.statuses ?? [500, 502, 503, 504]),
    baseMs,
    maxMs: Math.max(baseMs, parseDuration(c.max_ejection_time ?? '5m')),
    maxPercent: c.max_ejected_percent ?? 50,
  }
}

interface TargetState {
  streak: number
  /** Ejections in a row (reset after staying in for maxMs). */
  ejections: number
  readmittedAt: number
  timer: NodeJS.Timeout | null
}

export class OutlierDetector {
  readonly policy: PassivePolicy
  readonly #host: HealthHost
  readonly #state = new Map<Target, TargetState>()
  #maxEjected: number
  #ejected = 0
  #closed = false

  constructor(policy: PassivePolicy, host: HealthHost) {
    this.policy = policy
    this.#host = host
    for (const t of host.targets) this.#state.set(t, { streak: 0, ejections: 0, readmittedAt: 0, timer: null })
    this.#maxEjected = Math.floor((host.targets.length * policy.maxPercent) / 100)
  }

  /** The target answered with `status`. */
  status(t: Target, status: number, now: number): void {
    if (this.policy.statuses.has(status)) this.failure(t, now)
    else {
      const s = this.#state.get(t)
      if (s !== undefined) s.streak = 0
    }
  }

  /** The exchange with the target failed (connect, reset, timeout, bad response); `refused`: the connection was refused, which ejects at once. */
  failure(t: Target, now: number, refused = false): void {
    const s = this.#state.get(t)
    if (s === undefined || t.ejectedUntil !== 0 || this.#closed) return
    if (++s.streak < this.policy.failures && !refused) return
    if (this.#ejected >= this.#maxEjected) return // keep counting; it is ejected once there is room
    if (s.readmittedAt !== 0 && now - s.readmittedAt >= this.policy.maxMs) s.ejections = 0
    s.ejections++
    const ms = Math.min(this.policy.maxMs, this.policy.baseMs * s.ejections)
    t.ejectedUntil = now + ms
    this.#ejected++
    s.streak = 0
    s.timer = setTimeout(() => this.#readmit(t, s), ms)
    s.timer.unref()
    upstreamEjections.inc({ upstream: this.#host.name, target: t.url })
    this.#host.logger?.warn({ upstream: this.#host.name, target: t.url, ejection_ms: ms, ejections: s.ejections }, 'target ejected (passive health check)')
    this.#host.availabilityChanged()
  }

  #readmit(t: Target, s: TargetState): void {
    s.timer = null
    if (this.#closed) return
    t.ejectedUntil = 0
    this.#ejected--
    s.readmittedAt = performance.now()
    this.#host.logger?.info({ upstream: this.#host.name, target: t.url }, 'target readmitted after ejection')
    this.#host.availabilityChanged()
  }

  /** A target joined (discovery). */
  add(t: Target): void {
    if (!this.#state.has(t)) this.#state.set(t, { streak: 0, ejections: 0, readmittedAt: 0, timer: null })
    this.#resize()
  }

  /** A target left (discovery): forget it, and free its ejection slot. */
  remove(t: Target): void {
    const s = this.#state.get(t)
    if (s === undefined) return
    if (s.timer !== null) {
      clearTimeout(s.timer)
      this.#ejected--
    }
    this.#state.delete(t)
    this.#resize()
  }

  #resize(): void {
    this.#maxEjected = Math.floor((this.#state.size * this.policy.maxPercent) / 100)
  }

  close(): void {
    this.#closed = true
    for (const s of this.#state.values()) if (s.timer !== null) clearTimeout(s.timer)
  }
}
