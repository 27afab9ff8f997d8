// Retry policy, backoff and budget. The retry loop is upstream/tries.ts's (driven by the proxy's Exchange):
// a retry must pick another target of the cluster through its balancer and health state, and must
// know whether response bytes already reached the client, which an undici interceptor wrapped
// around one target's Pool can see neither of. So retries are a policy object resolved at compile
// time (null when off: a route without retries pays one null check) plus this budget.
import type { RetriesConfig } from '../config/schema/index.js'
import { parseDuration, parseSize } from '../config/units.js'
import { FailureKind } from './failure.js'
import { GRPC_STATUS_NAMES } from '../core/grpc-codes.js'

export interface RetryPolicy {
  /** Retries after the first try (≥ 1; a policy with 0 is null). */
  readonly attempts: number
  readonly statuses: ReadonlySet<number>
  /** gRPC: grpc-status values (decimal strings, as the header carries them) retried in a trailers-only answer. */
  readonly grpcStatuses: ReadonlySet<string>
  readonly onConnectFailure: boolean
  readonly onReset: boolean
  /** 0 = no per-try deadline. */
  readonly perTryMs: number
  readonly baseMs: number
  readonly maxMs: number
  readonly methods: ReadonlySet<string>
  readonly maxBufferedBody: number
  readonly budget: RetryBudget
}

export const DEFAULT_RETRY_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']

/** null when retries are off (absent, or attempts: 0). */
export function resolveRetries(c: RetriesConfig | undefined): RetryPolicy | null {
  if (c === undefined) return null
  const attempts = c.attempts ?? 2
  if (attempts === 0) return null
  const baseMs = parseDuration(c.backoff?.base ?? '25ms')
  return {
    attempts,
    statuses: new Set(c.on_statuses ?? [502, 503, 504]),
    grpcStatuses: new Set((c.on_grpc_statuses ?? ['UNAVAILABLE']).map((n) => String(GRPC_STATUS_NAMES.indexOf(n)))),
    onConnectFailure: c.on_connect_failure ?? true,
    onReset: c.on_reset ?? true,
    perTryMs: parseDuration(c.per_try_timeout ?? 0),
    baseMs,
    maxMs: Math.max(baseMs, parseDuration(c.backoff?.max ?? '250ms')),
    methods: new Set(c.methods ?? DEFAULT_RETRY_METHODS),
    maxBufferedBody: parseSize(c.max_buffered_body ?? '64kb'),
    budget: new RetryBudget(c.budget?.ratio ?? 0.2, c.budget?.min_per_second ?? 10, c.budget?.min_retry_concurrency ?? 3),
  }
}

/** Full-jitter exponential backoff (AWS architecture blog): random in [0, min(max, base·2^(n-1))]. */
export function backoffMs(p: RetryPolicy, retry: number): number {
  const cap = Math.min(p.maxMs, p.baseMs * 2 ** (retry - 1))
  return Math.random() * cap
}

const WINDOW_S = 10

/**
 * Finagle/Linkerd-style retry budget over the last 10 s: retries are allowed while
 *   retries < min_per_second × 10 + ratio × requests
 * so at steady load retries add at most `ratio` extra requests (plus a small floor that lets a
 * quiet upstream still be retried). Ten one-second buckets, advanced lazily.
 *
 * On top of it, as Envoy's min_retry_concurrency: a retry is always allowed while fewer than
 * `minConcurrency` retried requests are in progress. With one of two targets refusing connections,
 * half the requests need a retry, which the rate alone refuses past its 20%; but such retries
 * fail fast and succeed on the other target, so few are ever in progress at once (159 of 776
 * requests were 502 retry_budget before). A storm against a slow, failing upstream still piles
 * retries up in progress and meets the rate.
 */
export class RetryBudget {
  readonly ratio: number
  readonly minPerSecond: number
  readonly minConcurrency: number
  readonly #requests = new Float64Array(WINDOW_S)
  readonly #retries = new Float64Array(WINDOW_S)
  #second = 0
  #sumRequests = 0
  #sumRetries = 0
  /** Requests that were retried and have not finished. */
  active = 0

  constructor(ratio: number, minPerSecond: number, minConcurrency = 3) {
    this.ratio = ratio
    this.minPerSecond = minPerSecond
    this.minConcurrency = minConcurrency
  }

  /** One request that may be retried started. */
  deposit(nowMs: number): void {
    const s = this.#advance(nowMs)
    this.#requests[s]!++
    this.#sumRequests++
  }

  /**
   * Takes one retry from the budget; false when it is spent. `holding`: the request already counts
   * in `active` (its second retry); else a granted retry adds it, and `finished()` takes it out.
   */
  withdraw(nowMs: number, holding = false): boolean {
    const s = this.#advance(nowMs)
    const inProgress = holding ? this.active - 1 : this.active
    if (inProgress >= this.minConcurrency && this.#sumRetries >= this.minPerSecond * WINDOW_S + this.ratio * this.#sumRequests) return false
    this.#retries[s]!++
    this.#sumRetries++
    if (!holding) this.active++
    return true
  }

  /** A request that `withdraw` counted in `active` finished. */
  finished(): void {
    this.active--
  }

  #advance(nowMs: number): number {
    const sec = Math.floor(nowMs / 1000)
    const steps = sec - this.#second
    if (steps !== 0) {
      if (steps >= WINDOW_S || steps < 0) {
        this.#requests.fill(0)
        this.#retries.fill(0)
        this.#sumRequests = 0
        this.#sumRetries = 0
      } else {
        for (let k = 1; k <= steps; k++) {
          const b = (this.#second + k) % WINDOW_S
          this.#sumRequests -= this.#requests[b]!
          this.#sumRetries -= this.#retries[b]!
          this.#requests[b] = 0
          this.#retries[b] = 0
        }
      }
      this.#second = sec
    }
    return sec % WINDOW_S
  }
}

export function isRetryable(p: RetryPolicy, kind: FailureKind): boolean {
  switch (kind) {
    case FailureKind.Connect:
      return p.onConnectFailure
    case FailureKind.Reset:
      return p.onReset
    case FailureKind.TryTimeout:
      return true
    default:
      return false
  }
}
