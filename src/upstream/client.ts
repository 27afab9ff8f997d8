// A small request/response client over one Cluster, for plugins that call upstreams themselves
// (aggregate): picks a target through the cluster's balancer and health state, dispatches on the
// target's pool (the same keep-alive connections the proxy uses), buffers a bounded body and
// reports the outcome to passive health / latency-aware balancers. Not the proxy's hot path: a
// request through here is a buffered sub-request, with its own deadline.
//
// It keeps the upstream's own promises as the proxy does: the circuit breaker and the bulkhead
// (guards.ts) admit the call before its first try and hear its outcome after the last, and the
// upstream's `retries` policy (retry.ts: statuses, connect failures, resets, per-try timeout,
// methods, backoff, the shared budget) retries it on another target, within the call's deadline.
// The proxy's Exchange drives the same pieces as undici callbacks for a streamed body; a buffered
// call can simply await each try.
import { performance } from 'node:perf_hooks'
import type { Dispatcher } from 'undici'
import type { Cluster } from './cluster.js'
import type { Target } from './target.js'
import { REJECTED, type Ticket } from './breaker.js'
import { ADMITTED_NOW, QUEUED, admit, releaseGuards, type GuardHolder } from './guards.js'
import { FailureKind, failureKind, failureReply, TryTimeout } from './failure.js'
import { backoffMs, isRetryable, type RetryPolicy } from './retry.js'
import { UpstreamCallError, type UpstreamCall, type UpstreamCaller, type UpstreamResult } from '../core/upstream-call.js'

class CallTimeout extends Error {}

/** A bulkhead place for one buffered call: admitted() wakes it when a slot frees up. */
class GuardSlot implements GuardHolder {
  ticket: Ticket = REJECTED
  holdsSlot = false
  done = false
  #wake: (() => void) | null = null

  wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.done = true // the bulkhead skips a waiter that gave up
        resolve(false)
      }, ms)
      this.#wake = () => {
        clearTimeout(timer)
        resolve(true)
      }
    })
  }

  admitted(): void {
    this.holdsSlot = true
    this.#wake?.()
  }
}

/** The catalogue code the breaker hears for a failed call (guards.ts isUpstreamFailure). */
function breakerCode(err: unknown): string | undefined {
  if (!(err instanceof UpstreamCallError)) return 'internal_error'
  if (err.code === 'timeout') return 'upstream_timeout'
  if (err.code === 'unreachable') return 'upstream_unreachable'
  return undefined // no_healthy_target, too_large, refused by a guard: not the upstream's answer
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export class UpstreamClient implements UpstreamCaller {
  readonly #cluster: Cluster

  constructor(cluster: Cluster) {
    this.#cluster = cluster
  }

  get name(): string {
    return this.#cluster.name
  }

  async request(call: UpstreamCall): Promise<UpstreamResult> {
    const cluster = this.#cluster
    const deadline = performance.now() + call.timeoutMs
    if (!cluster.guarded) return this.#tries(call, deadline)
    const slot = new GuardSlot()
    let error: string | undefined
    let status = 0
    try {
      const r = admit(cluster, slot)
      if (r === QUEUED) {
        if (!(await slot.wait(call.timeoutMs))) throw new UpstreamCallError('overloaded', `upstream ${cluster.name}: no free slot within ${call.timeoutMs}ms`)
      } else if (r !== ADMITTED_NOW) {
        throw new UpstreamCallError(r.code === 'circuit_open' ? 'circuit_open' : 'overloaded', r.code === 'circuit_open' ? `upstream ${cluster.name}: circuit open` : `upstream ${cluster.name}: ${r.message ?? 'overloaded'}`)
      }
      const result = await this.#tries(call, deadline)
      status = result.status
      return result
    } catch (err) {
      error = breakerCode(err)
      throw err
    } finally {
      releaseGuards(cluster, slot, error, status)
    }
  }

  /** The first try, then retries on other targets as the upstream's policy allows, until the deadline. */
  async #tries(call: UpstreamCall, deadline: number): Promise<UpstreamResult> {
    const cluster = this.#cluster
    const policy: RetryPolicy | null = cluster.retry !== null && cluster.retry.methods.has(call.method) ? cluster.retry : null
    if (policy !== null) policy.budget.deposit(Date.now())
    let retried = false
    let tried: Target | null = null
    try {
      for (let tries = 1; ; tries++) {
        const target: Target | undefined = tried === null ? cluster.pick(call.ctx) : cluster.pickOther(call.ctx, tried)
        if (target === undefined) throw new UpstreamCallError('no_healthy_target', `no healthy target in upstream ${cluster.name}`)
        tried = target
        const remaining = deadline - performance.now()
        if (remaining <= 0) throw new UpstreamCallError('timeout', `no complete response within ${call.timeoutMs}ms`)
        const perTry = policy !== null && policy.perTryMs > 0 && policy.perTryMs < remaining ? policy.perTryMs : 0
        try {
          const r = await this.#try(target, call, perTry === 0 ? remaining : perTry, perTry !== 0)
          // A retried status is answered as is when no retry is left (as the proxy relays it).
          if (policy === null || !policy.statuses.has(r.status) || !this.#mayRetry(policy, tries, retried, deadline)) return r
        } catch (err) {
          if (!(err instanceof TryFailure)) throw err
          if (policy === null || !isRetryable(policy, err.kind) || !this.#mayRetry(policy, tries, retried, deadline)) throw err.reply
        }
        retried = true
        cluster.countRetry()
        const wait = Math.min(backoffMs(policy!, tries), Math.max(0, deadline - performance.now()))
        if (wait > 0) await sleep(wait)
      }
    } finally {
      if (retried) policy!.budget.finished()
    }
  }

  #mayRetry(policy: RetryPolicy, tries: number, retried: boolean, deadline: number): boolean {
    if (tries > policy.attempts || performance.now() >= deadline) return false
    if (!policy.budget.withdraw(Date.now(), retried)) {
      this.#cluster.countRejected('retry_budget')
      return false
    }
    return true
  }

  /** One try on `target` within `ms`; a failure the upstream caused comes out as a TryFailure. */
  async #try(target: Target, call: UpstreamCall, ms: number, perTry: boolean): Promise<UpstreamResult> {
    const cluster = this.#cluster
    const ac = new AbortController()
    const timer = setTimeout(() => ac.abort(perTry ? new TryTimeout('per-try timeout') : new CallTimeout('timeout')), ms)
    const start = performance.now()
    target.inFlight++
    let headed = false
    try {
      const res = await target.pool(cluster.timeouts.connect).request({
        path: target.basePath + call.path,
        method: call.method as Dispatcher.HttpMethod,
        headers: { ...call.headers, host: target.hostHeader },
        signal: ac.signal,
        headersTimeout: ms,
        bodyTimeout: ms,
      })
      headed = true
      const now = performance.now()
      if (cluster.observed) cluster.observeStatus(target, res.statusCode, now - start, now)
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > call.maxBytes) {
          res.body.destroy()
          throw new UpstreamCallError('too_large', `response body larger than ${call.maxBytes} bytes`)
        }
        chunks.push(chunk)
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, size) }
    } catch (err) {
      if (err instanceof UpstreamCallError) throw err
      const reason = ac.signal.aborted ? (ac.signal.reason as Error) : (err as Error)
      if (!headed && cluster.observed) {
        const now = performance.now()
        cluster.observeFailure(target, now - start, now, reason)
      }
      const kind = reason instanceof TryTimeout ? FailureKind.TryTimeout : headed ? FailureKind.None : failureKind(reason)
      const code = (reason as { code?: string }).code
      // The same classification as the proxy's exchange (failure.ts), folded into this API's codes.
      const reply = failureReply(reason, { total: call.timeoutMs, read: ms, perTry: undefined }, false)
      const failure =
        reason instanceof CallTimeout || reason instanceof TryTimeout || reply?.code === 'upstream_timeout'
          ? new UpstreamCallError('timeout', reason instanceof TryTimeout ? `no response within the per-try timeout (${ms}ms)` : `no complete response within ${call.timeoutMs}ms`)
          : new UpstreamCallError('unreachable', code === undefined ? 'the upstream could not be reached' : `the upstream could not be reached (${code})`)
      throw new TryFailure(failure, kind)
    } finally {
      clearTimeout(timer)
      target.inFlight--
    }
  }
}

/** A try that failed because of the upstream: the error for the caller, and how it failed (retry.ts). */
class TryFailure extends Error {
  readonly reply: UpstreamCallError
  readonly kind: FailureKind
  constructor(reply: UpstreamCallError, kind: FailureKind) {
    super(reply.message)
    this.reply = reply
    this.kind = kind
  }
}
