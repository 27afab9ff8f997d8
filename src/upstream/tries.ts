// The tries of one upstream call when its route retries: each try gets its own small dispatch
// handler (Attempt), so callbacks of an abandoned try are told apart from the current one's; plus
// the two timers (backoff before a retry, per-try deadline). The owner (the proxy's Exchange) picks
// targets, decides whether a failure may be retried (retry.ts policy and budget) and streams the
// response; a route without retries dispatches with the owner itself as the handler (no allocation).
import type { Dispatcher } from 'undici'
import { StaleTry, TryTimeout } from './failure.js'

/** What a try needs of the call it belongs to. */
export interface TryOwner {
  /** The try in progress (null between tries). */
  current: Attempt | null
  tryTimer: NodeJS.Timeout | null
  retryTimer: NodeJS.Timeout | null
  /** The call ended, or bytes already reached the client: no more tries. */
  settled(): boolean
  /** Dispatches the next try. */
  attempt(): void
  /** The current try is over (target's in-flight count, per-try deadline, trace). */
  endAttempt(): void
  /** Waits the backoff, then attempt(). */
  scheduleRetry(): void
  onRequestStart(controller: Dispatcher.DispatchController): void
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>): void
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void
  onResponseEnd(controller: Dispatcher.DispatchController | null, trailers?: Record<string, string | string[] | undefined>): void
  onResponseError(controller: Dispatcher.DispatchController | null, err: Error): void
}

/**
 * A retried request's try: forwards undici's callbacks to the owner while it is the current try,
 * and drops them once it is not (superseded, or finished by a per-try timeout while queued). A try
 * whose status is retried reads its body to the end (keeping the connection) and discards it.
 */
export class Attempt implements Dispatcher.DispatchHandler {
  readonly ex: TryOwner
  controller: Dispatcher.DispatchController | null = null
  discard = false
  finished = false

  constructor(ex: TryOwner) {
    this.ex = ex
  }

  stale(): boolean {
    return this.finished || this.ex.current !== this
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.stale()) return controller.abort(new StaleTry('superseded'))
    this.controller = controller
    this.ex.onRequestStart(controller)
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>): void {
    if (this.stale()) return controller.abort(new StaleTry('superseded'))
    this.ex.onResponseStart(controller, statusCode, headers)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discard || this.stale()) return
    this.ex.onResponseData(controller, chunk)
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers?: Record<string, string | string[] | undefined>): void {
    if (this.stale()) return
    this.finished = true
    if (this.discard) return this.retryNow()
    this.ex.onResponseEnd(controller, trailers)
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    if (this.stale()) return
    this.finished = true
    if (this.discard) return this.retryNow()
    this.ex.onResponseError(controller, err)
  }

  /** The discarded try is over: retry unless the request ended meanwhile. */
  retryNow(): void {
    const ex = this.ex
    ex.endAttempt()
    if (ex.settled()) return
    ex.scheduleRetry()
  }
}

/** setTimeout callback of the backoff timer. */
export function onRetry(ex: TryOwner): void {
  ex.retryTimer = null
  if (ex.settled()) return
  ex.attempt()
}

/** setTimeout callback of the per-try deadline. */
export function onTryTimeout(at: Attempt): void {
  const ex = at.ex
  ex.tryTimer = null
  if (at.stale()) return
  const err = new TryTimeout('per-try timeout')
  if (at.controller !== null) return at.controller.abort(err) // → at.onResponseError
  // Still queued for a connection: give up on this try now; if undici starts it later, it is stale.
  at.finished = true
  ex.onResponseError(null, err)
}
