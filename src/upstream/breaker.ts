// Circuit breaker and bulkhead, both per upstream and per worker.
//
// Breaker: closed → open when `consecutive_failures` requests in a row failed, or when the failure
// share over a rolling window (ten buckets) reaches `error_percent` with at least `min_requests`
// seen. Open answers at once (503 circuit_open + Retry-After). After `open_duration` the next
// request finds it half-open: up to `half_open_requests` requests go through; when all of them
// succeed it closes, any failure reopens it. Outcomes are per client request (after retries), so
// a retried-and-recovered request is a success.
//
// Bulkhead: at most `max_concurrent_requests` in flight, then a FIFO queue of `queue_size`, then
// 503 upstream_overloaded.
import type { Logger } from 'pino'
import type { CircuitBreakerConfig } from '../config/schema/index.js'
import { parseDuration } from '../config/units.js'
import { upstreamBreakerState } from '../observability/metrics.js'

export const CLOSED = 0
export const HALF_OPEN = 1
export const OPEN = 2
export type BreakerState = typeof CLOSED | typeof HALF_OPEN | typeof OPEN
const STATE_NAMES = ['closed', 'half-open', 'open'] as const

/** What allow() hands out; the request returns it to record()/release(). */
export const REJECTED = 0
export const ADMITTED = 1
export const PROBE = 2
export type Ticket = typeof REJECTED | typeof ADMITTED | typeof PROBE

export interface BreakerPolicy {
  consecutiveFailures: number
  errorPercent: number
  windowMs: number
  minRequests: number
  openMs: number
  halfOpenRequests: number
  statuses: ReadonlySet<number>
}

export function resolveBreaker(c: CircuitBreakerConfig): BreakerPolicy {
  return {
    consecutiveFailures: c.consecutive_failures ?? 5,
    errorPercent: c.error_percent ?? 50,
    windowMs: Math.max(10, parseDuration(c.window ?? '10s')),
    minRequests: c.min_requests ?? 20,
    openMs: parseDuration(c.open_duration ?? '10s'),
    halfOpenRequests: c.half_open_requests ?? 1,
    statuses: new Set(c.statuses ?? [500, 502, 503, 504]),
  }
}

const BUCKETS = 10

export class CircuitBreaker {
  readonly policy: BreakerPolicy
  readonly #upstream: string
  readonly #logger: Logger | undefined
  #state: BreakerState = CLOSED
  #openUntil = 0
  #streak = 0
  #probesOut = 0
  #probesOk = 0
  // Rolling window: BUCKETS buckets of windowMs / BUCKETS each, advanced lazily.
  readonly #bucketMs: number
  readonly #total = new Uint32Array(BUCKETS)
  readonly #failed = new Uint32Array(BUCKETS)
  #bucket = 0
  #sumTotal = 0
  #sumFailed = 0

  constructor(policy: BreakerPolicy, upstream: string, logger?: Logger) {
    this.policy = policy
    this.#upstream = upstream
    this.#logger = logger
    this.#bucketMs = policy.windowMs / BUCKETS
    upstreamBreakerState.set({ upstream }, CLOSED)
  }

  get state(): BreakerState {
    return this.#state
  }

  get stateName(): string {
    return STATE_NAMES[this.#state]
  }

  /** Seconds until an open breaker lets a probe through (for Retry-After), at least 1. */
  retryAfter(now: number): number {
    return Math.max(1, Math.ceil((this.#openUntil - now) / 1000))
  }

  allow(now: number): Ticket {
    if (this.#state === CLOSED) return ADMITTED
    if (this.#state === OPEN) {
      if (now < this.#openUntil) return REJECTED
      this.#probesOut = 0
      this.#probesOk = 0
      this.#set(HALF_OPEN, 'open_duration elapsed; letting probes through')
    }
    if (this.#probesOut + this.#probesOk >= this.policy.halfOpenRequests) return REJECTED
    this.#probesOut++
    return PROBE
  }

  /** The outcome of an admitted request. */
  record(ticket: Ticket, ok: boolean, now: number): void {
    if (ticket === PROBE) {
      if (this.#state !== HALF_OPEN) return
      this.#probesOut--
      if (!ok) return this.#open(now, 'a half-open probe failed')
      if (++this.#probesOk >= this.policy.halfOpenRequests) {
        this.#streak = 0
        this.#clearWindow()
        this.#set(CLOSED, 'half-open probes succeeded')
      }
      return
    }
    if (this.#state !== CLOSED) return
    const slot = this.#advance(now)
    this.#total[slot]!++
    this.#sumTotal++
    if (ok) {
      this.#streak = 0
      return
    }
    this.#failed[slot]!++
    this.#sumFailed++
    this.#streak++
    const p = this.policy
    if (p.consecutiveFailures > 0 && this.#streak >= p.consecutiveFailures) return this.#open(now, `${this.#streak} consecutive failures`)
    if (p.errorPercent > 0 && this.#sumTotal >= p.minRequests && this.#sumFailed * 100 >= p.errorPercent * this.#sumTotal) {
      this.#open(now, `${Math.round((this.#sumFailed * 100) / this.#sumTotal)}% of ${this.#sumTotal} requests failed`)
    }
  }

  /** An admitted request ended without an upstream outcome (client left, no target): give its slot back. */
  release(ticket: Ticket): void {
    if (ticket === PROBE && this.#state === HALF_OPEN && this.#probesOut > 0) this.#probesOut--
  }

  #open(now: number, why: string): void {
    this.#openUntil = now + this.policy.openMs
    this.#streak = 0
    this.#set(OPEN, why)
  }

  #set(state: BreakerState, why: string): void {
    if (state === this.#state) return
    const from = this.#state
    this.#state = state
    upstreamBreakerState.set({ upstream: this.#upstream }, state)
    const log = { upstream: this.#upstream, from: STATE_NAMES[from], to: STATE_NAMES[state], reason: why }
    if (state === OPEN) this.#logger?.warn(log, 'circuit breaker opened')
    else this.#logger?.info(log, `circuit breaker ${STATE_NAMES[state]}`)
  }

  /** Moves the window to `now` (expiring old buckets) and returns the current bucket's slot. */
  #advance(now: number): number {
    const idx = Math.floor(now / this.#bucketMs)
    const steps = idx - this.#bucket
    if (steps !== 0) {
      if (steps >= BUCKETS || steps < 0) {
        this.#clearWindow()
      } else {
        for (let k = 1; k <= steps; k++) {
          const b = (this.#bucket + k) % BUCKETS
          this.#sumTotal -= this.#total[b]!
          this.#sumFailed -= this.#failed[b]!
          this.#total[b] = 0
          this.#failed[b] = 0
        }
      }
      this.#bucket = idx
    }
    return idx % BUCKETS
  }

  #clearWindow(): void {
    this.#total.fill(0)
    this.#failed.fill(0)
    this.#sumTotal = 0
    this.#sumFailed = 0
  }
}

/** A request waiting in a bulkhead queue. */
export interface Waiter {
  /** The request already ended (client left, total timeout): skip it. */
  readonly done: boolean
  /** A slot is now held for this request: go on. */
  admitted(): void
}

export class Bulkhead {
  readonly max: number
  readonly queueSize: number
  active = 0
  readonly #queue: Waiter[] = []

  constructor(max: number, queueSize: number) {
    this.max = max
    this.queueSize = queueSize
  }

  get queued(): number {
    return this.#queue.length
  }

  /** 1: slot held; 0: queued (admitted() follows); -1: full. */
  acquire(w: Waiter): 1 | 0 | -1 {
    if (this.active < this.max) {
      this.active++
      return 1
    }
    if (this.#queue.length < this.queueSize) {
      this.#queue.push(w)
      return 0
    }
    return -1
  }

  /** The holder of a slot is done: hand the slot to the next live waiter. */
  release(): void {
    for (;;) {
      const next = this.#queue.shift()
      if (next === undefined) break
      if (next.done) continue
      next.admitted()
      return
    }
    this.active--
  }
}
