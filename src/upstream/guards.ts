// A cluster's guards around one upstream call: circuit-breaker admission and the bulkhead
// (max in-flight + queue). Admission before the first try, release with the call's outcome after
// the last. The holder (the proxy's Exchange, the buffered client's call) keeps the ticket and slot
// in its own fields, so a guarded call allocates nothing here.
import { performance } from 'node:perf_hooks'
import type { Cluster } from './cluster.js'
import { REJECTED, type Ticket, type Waiter } from './breaker.js'
import { isUpstreamFailure } from './failure.js'

export interface GuardHolder extends Waiter {
  /** Circuit-breaker admission; REJECTED (0) = no breaker involved. */
  ticket: Ticket
  /** Holds a bulkhead slot of the cluster. */
  holdsSlot: boolean
}

/** Why admission was refused: the catalogue code, its message, and Retry-After seconds when known. */
export interface Rejection {
  readonly code: 'circuit_open' | 'upstream_overloaded'
  readonly message: string | undefined
  readonly retryAfter: number | undefined
}

/** admit(): go on now. */
export const ADMITTED_NOW = 1
/** admit(): queued in the bulkhead; the holder's admitted() goes on. */
export const QUEUED = 0

/** Only for `cluster.guarded` clusters. The holder calls releaseGuards() when it is done, admitted or not. */
export function admit(cluster: Cluster, g: GuardHolder): typeof ADMITTED_NOW | typeof QUEUED | Rejection {
  const breaker = cluster.breaker
  if (breaker !== null) {
    const now = performance.now()
    const ticket = breaker.allow(now)
    if (ticket === REJECTED) {
      cluster.countRejected('circuit_open')
      return { code: 'circuit_open', message: undefined, retryAfter: breaker.retryAfter(now) }
    }
    g.ticket = ticket
  }
  const bulkhead = cluster.bulkhead
  if (bulkhead !== null) {
    const r = bulkhead.acquire(g)
    if (r === -1) {
      // A breaker ticket already taken goes back in releaseGuards(), which the holder calls anyway.
      cluster.countRejected('upstream_overloaded')
      return { code: 'upstream_overloaded', message: `${bulkhead.max} requests in flight and ${bulkhead.queueSize} queued`, retryAfter: undefined }
    }
    if (r === 0) return QUEUED
    g.holdsSlot = true
  }
  return ADMITTED_NOW
}

/**
 * The guarded call is over: slot back, outcome to the breaker. `error` is the catalogue code the
 * call ended with (undefined when it succeeded), `status` the upstream's status (0 when none came).
 */
export function releaseGuards(cluster: Cluster, g: GuardHolder, error: string | undefined, status: number): void {
  if (g.holdsSlot) {
    g.holdsSlot = false
    cluster.bulkhead!.release()
  }
  const ticket = g.ticket
  if (ticket === REJECTED) return
  g.ticket = REJECTED
  const b = cluster.breaker!
  if (isUpstreamFailure(error)) b.record(ticket, false, performance.now())
  else if (status !== 0) b.record(ticket, !b.policy.statuses.has(status), performance.now())
  else b.release(ticket) // no upstream outcome (client left, no target, plugin reply)
}
