// What the registry-backed sources (Consul, Nacos, ZooKeeper, Kubernetes) share: the failure
// policy and the small helpers around it. The policy, for every source: a failed request, a
// dropped watch, an auth failure or an unparsable answer never changes the targets; the last good
// set keeps serving. Each failure counts in portico_discovery_errors_total{upstream,source,reason};
// a failure streak logs one warning when it starts and one info line when the source answers
// again; retries back off (doubling, capped, with jitter so a fleet does not retry in step).
import { discoveryErrors } from '../../observability/metrics.js'
import type { DiscoverySink } from './source.js'

export type FailureReason = 'unreachable' | 'http_status' | 'auth' | 'bad_answer' | 'watch_lost'

/** Tracks a failure streak of one source: metric per failure, one log line per streak. */
export class Streak {
  failures = 0
  readonly #sink: DiscoverySink
  readonly #source: string
  readonly #what: Record<string, unknown>

  constructor(sink: DiscoverySink, source: string, what: Record<string, unknown>) {
    this.#sink = sink
    this.#source = source
    this.#what = what
  }

  fail(reason: FailureReason, err: unknown): void {
    discoveryErrors.inc({ upstream: this.#sink.name, source: this.#source, reason })
    if (this.failures++ > 0) return
    this.#sink.logger?.warn(
      { upstream: this.#sink.name, source: this.#source, ...this.#what, reason, err: errText(err) },
      `${this.#source} discovery failed; keeping the last known targets`,
    )
  }

  ok(): void {
    if (this.failures === 0) return
    this.#sink.logger?.info({ upstream: this.#sink.name, source: this.#source, ...this.#what, failures: this.failures }, `${this.#source} discovery recovered`)
    this.failures = 0
  }
}

/** Retry delay: min doubling to max, ±20% jitter. */
export function backoff(failures: number, minMs: number, maxMs: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures - 1, 0), 20))
  return Math.round(base * (0.8 + Math.random() * 0.4))
}

/** Sleeps `ms`, or less when `signal` aborts (resolves either way; the timer never holds the process). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    timer.unref()
    signal.addEventListener('abort', done, { once: true })
  })
}

/** scheme://host:port with an IPv6 literal bracketed. */
export function targetUrl(scheme: string, host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return `${scheme}://${h}:${port}`
}

export function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536
}

/** A host that can go into a target URL (an address or a DNS name; nothing that changes the URL's shape). */
export function validHost(h: unknown): h is string {
  return typeof h === 'string' && h.length > 0 && h.length <= 253 && /^[A-Za-z0-9.:_-]+$/.test(h)
}

/** An HTTP failure with its status (auth failures are told apart for the metric and the log). */
export class StatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
  get reason(): FailureReason {
    return this.status === 401 || this.status === 403 ? 'auth' : 'http_status'
  }
}

export function reasonOf(err: unknown): FailureReason {
  if (err instanceof StatusError) return err.reason
  if (err instanceof SyntaxError || (err as { badAnswer?: boolean }).badAnswer === true) return 'bad_answer'
  return 'unreachable'
}

export function badAnswer(message: string): Error {
  return Object.assign(new Error(message), { badAnswer: true })
}

function errText(err: unknown): string {
  const e = err as { code?: string; message?: string }
  return e?.code !== undefined ? `${e.code}: ${e.message ?? ''}` : String(e?.message ?? err)
}

/** Stable order, so an unchanged answer is recognised as unchanged. */
export function byUrl<T extends { url: string }>(list: T[]): T[] {
  return list.sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0))
}
