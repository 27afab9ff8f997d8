// One proxied exchange: from the end of the request's front half (proxy/front.ts, routed, context
// built) to the last byte of the response. Runs the route's request phases, then the upstream call
// (guards, tries and failure classes are upstream/'s), streams the response through the response
// phase, and completes once (proxy/completion.ts). The request body (request-body.ts) and a held
// response body (held-body.ts) are their own modules.
import { performance } from 'node:perf_hooks'
import type { ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import type { CompiledRoute, Snapshot } from '../snapshot/compile.js'
import type { Target } from '../upstream/target.js'
import { grpcHttpEquivalent } from '../core/grpc-codes.js'
import type { RequestContext } from '../core/context.js'
import type { ErrorCode } from '../core/errors.js'
import type { UpstreamHead, Verdict } from '../core/verdict.js'
import { headerObject, responseHeaderList, VIA_HTTP1, VIA_HTTP2, type HeaderList } from './forward.js'
import { sendError, sendLocalReply } from './errors-reply.js'
import { PluginFailure, runRequestPhases, runResponsePhase, type Pipeline } from '../plugins/pipeline.js'
import { PayloadTooLarge, type ReplayableBody } from './body-limit.js'
import type { Readable } from 'node:stream'
import type { DeadlineItem, DeadlineList } from './deadlines.js'
import { recordAuthFailure, upstreamDuration, upstreamSeries } from '../observability/metrics.js'
import { REJECTED, type Ticket } from '../upstream/breaker.js'
import { backoffMs, isRetryable, type RetryPolicy } from '../upstream/retry.js'
import { ClientGone, FailureKind, MAX_UPSTREAM_HEADERS, UpstreamProtocolError, UpstreamTimeout, failureKind, failureReply } from '../upstream/failure.js'
import { ADMITTED_NOW, QUEUED, admit, releaseGuards, type GuardHolder } from '../upstream/guards.js'
import { Attempt, onRetry, onTryTimeout, type TryOwner } from '../upstream/tries.js'
import { complete, type Outcome } from './completion.js'
import { prepareBody, readBody } from './request-body.js'
import { HeldBody, holdChunk, releaseHeld } from './held-body.js'
import type { ProxyEnv } from './env.js'
import { constants as h2constants } from 'node:http2'
import { GRPC_STATUS_OF } from './grpc-status.js'
import { armGrpcDeadline, endWithStatus, isTrailersOnly, propagateGrpcTimeout, relayTrailers, stageHead } from './grpc.js'
import { GrpcWeb, InvalidGrpcWebText, WebTextHandler, endWeb, responseType, webHead, type Base64Encoder } from './grpc-web.js'
import { grpcErrorTrailers } from './grpc-status.js'

const NGHTTP2_NO_ERROR = h2constants.NGHTTP2_NO_ERROR

/**
 * One proxied exchange: the per-request object that is also the undici dispatch handler.
 * Fixed shape, methods on the prototype; no closure is allocated per request.
 */
export class Exchange implements Dispatcher.DispatchHandler, DeadlineItem, GuardHolder, TryOwner, Outcome {
  readonly env: ProxyEnv
  readonly snap: Snapshot
  /** The matched route; on a split route, replaced by the chosen branch when proxy() starts. */
  route: CompiledRoute
  readonly ctx: RequestContext
  readonly res: ServerResponse
  controller: Dispatcher.DispatchController | null = null
  target: Target | null = null
  // DeadlineItem (total timeout; see deadlines.ts)
  deadlineAt = 0
  dlPrev: DeadlineItem | null = null
  dlNext: DeadlineItem | null = null
  dlList: DeadlineList | null = null
  /** Set when the exchange must stop (client gone, total timeout) before undici handed us a controller. */
  abortReason: Error | null = null
  status = 0
  bytes = 0
  error: string | undefined = undefined
  /** The low-level cause of an upstream failure (ECONNREFUSED, …), for its warn line. */
  cause: string | undefined = undefined
  done = false
  /** The route's pipeline, or its consumer's once an auth plugin identified one (runAccessSwitching). */
  pipeline: Pipeline | null
  consumerResolved = false
  /** The body was buffered into ctx.body (routes whose pipeline has a bodyLimit). */
  bodyRead = false
  /**
   * The client already has its answer while the upstream exchange goes on: a `background` LocalReply
   * (detached: the client side may end first) or a response plugin's `head.reply`. Nothing more is
   * written to the client; ctx.tap still sees the upstream body.
   */
  quiet = false
  detached = false
  /** A try is dispatched and not finished: its target's inFlight counts it. */
  attemptOpen = false
  /** Tries dispatched so far (1 + retries). */
  tries = 0
  /** The budget granted this request a retry: it counts in the budget's in-progress retries until it finishes. */
  retried = false
  /** route.retry when this request may be retried (method allowed, body replayable); else null. */
  policy: RetryPolicy | null = null
  /** The try in progress when `policy` is set (null between tries). */
  current: Attempt | null = null
  /** The request body to send: streamed (the request, through BodyLimit or a gRPC-Web decoder) or a buffer (replayable). */
  body: Readable | Buffer | null = null
  retryTimer: NodeJS.Timeout | null = null
  tryTimer: NodeJS.Timeout | null = null
  /** Circuit-breaker admission; REJECTED (0) = no breaker involved. */
  ticket: Ticket = REJECTED
  /** Holds a bulkhead slot of the cluster. */
  holdsSlot = false
  /** A response plugin set head.rewriteBody: the head waits while the body is collected (else null). */
  held: HeldBody | null = null
  /**
   * A 204/304 head waits for the end of its (empty) response: a framing error undici finds after the
   * head (a body length on a 204) then still gets a 502 instead of an empty reply the client cannot
   * tell from success.
   */
  bodiless: { status: number; headers: Record<string, string | string[]> | HeaderList } | null = null
  /** gRPC: performance.now() the call's deadline falls at, when the client sent a grpc-timeout (else 0). */
  grpcDeadlineAt = 0
  /** gRPC: grpc-status of the trailers sent to the client (relayed, or the gateway's after the head), for metrics. */
  grpcStatus: string | undefined = undefined
  /** A gRPC try whose outcome for passive health waits for its trailers (onResponseStart). */
  grpcPending: { target: Target; ms: number; status: number } | null = null
  /** gRPC: the timer of a grpc-timeout shorter than the route's total timeout (grpc.ts). */
  grpcTimer: NodeJS.Timeout | null = null
  /** gRPC on a retrying route: the streamed body with the copy a retry replays (else null). */
  replay: ReplayableBody | null = null
  /** gRPC-Web -text: the base64 encoder of the try whose response the client gets (grpc-web.ts). */
  webEnc: Base64Encoder | null = null

  constructor(env: ProxyEnv, snap: Snapshot, route: CompiledRoute, ctx: RequestContext) {
    this.env = env
    this.snap = snap
    this.route = route
    this.ctx = ctx
    this.res = ctx.res
    this.pipeline = route.pipeline
  }

  /** Runs rewrite → access → beforeUpstream from phase index `i` (plugins/pipeline.ts runRequestPhases). */
  runPhases(i: number): void {
    runRequestPhases(this, i)
  }

  // PhaseHost (plugins/pipeline.ts): what the shared phase runner asks of the exchange.
  waiting(): boolean {
    return !this.done && !this.res.destroyed
  }

  /** Before the access phase, a pipeline that declared a body limit reads the body first. */
  pauseBefore(i: number): boolean {
    if (i !== 1 || this.bodyRead) return false
    const pipeline = this.pipeline!
    if (pipeline.bodyLimit === null) return false
    readBody(this, Math.min(pipeline.bodyLimit, this.route.maxBodySize, this.ctx.bodyLimit))
    return true
  }

  phasesPassed(): void {
    this.proxy()
  }

  localReply(v: Exclude<Verdict, undefined>): void {
    this.error = v.error
    recordAuthFailure(this.route.name, v.status, v.error)
    sendLocalReply(this.res, this.ctx.id, v, this.ctx.responseHeaders)
    if (v.background === true && this.target === null && !this.quiet) {
      // Answered now; the upstream exchange still runs for the plugins (contract: LocalReply.background).
      this.quiet = this.detached = true
      this.proxy()
    }
  }

  /** Ends ctx.tap, once: onEnd when `err` is undefined, else onError, whose LocalReply is returned. */
  endTap(err: Error | undefined): Verdict {
    const tap = this.ctx.tap
    if (tap === null) return undefined
    this.ctx.tap = null
    try {
      if (err === undefined) tap.onEnd()
      else return tap.onError(err)
    } catch (e) {
      this.env.logger.error({ err: e, request_id: this.ctx.id, route: this.route.name }, 'exchange tap failed')
    }
    return undefined
  }

  pluginFailed(err: unknown): void {
    const plugin = err instanceof PluginFailure ? err.plugin : 'unknown'
    this.env.logger.error({ err, plugin, request_id: this.ctx.id, route: this.route.name }, 'plugin failed')
    this.fail('plugin_error', `plugin ${plugin} failed`)
  }

  fail(code: ErrorCode, message?: string, close = false): void {
    this.error = code
    sendError(this.res, this.ctx.id, code, message, this.ctx.responseHeaders, close)
  }

  /**
   * After the request phases: total deadline, then the cluster's guards (breaker, bulkhead) when it
   * has any, then the body and the first try.
   */
  proxy(): void {
    // Traffic split: choose the upstream now (after the request phases, before its guards and
    // pick). A single-upstream route pays one null check.
    const split = this.route.split
    if (split !== null) this.route = split.choose(this.ctx)
    const t = this.route.timeouts
    if (this.ctx.grpc) {
      if (!armGrpcDeadline(this, t.total)) return
    } else if (t.total > 0) this.env.deadlines.add(this, t.total)
    const cluster = this.route.cluster
    if (cluster.guarded) {
      const r = admit(cluster, this)
      if (r === QUEUED) return // admitted() goes on
      if (r !== ADMITTED_NOW) {
        if (r.retryAfter !== undefined) this.res.setHeader('retry-after', String(r.retryAfter))
        return this.fail(r.code, r.message)
      }
    }
    prepareBody(this)
  }

  /** Bulkhead: a slot was handed to this queued request. */
  admitted(): void {
    this.holdsSlot = true
    prepareBody(this)
  }

  /** TryOwner: no more tries once the exchange ended or bytes reached the client. */
  settled(): boolean {
    return this.done || this.res.headersSent
  }

  startTries(): void {
    if (this.policy !== null) this.policy.budget.deposit(Date.now())
    this.attempt()
  }

  /** One try: pick a target (another one than last time on a retry) and dispatch. */
  attempt(): void {
    const cluster = this.route.cluster
    const target = this.tries === 0 ? cluster.pick(this.ctx) : cluster.pickOther(this.ctx, this.target)
    if (target === undefined) {
      const fallback = this.ctx.tap === null ? undefined : this.endTap(new Error('no healthy target'))
      return fallback === undefined || this.quiet ? this.fail('no_healthy_target') : this.localReply(fallback)
    }
    if (this.tries > 0 && this.replay !== null) this.body = this.replay.replay() // mayRetry checked it is there
    this.tries++
    this.target = target
    this.ctx.target = target.origin
    target.inFlight++
    this.attemptOpen = true
    const req = this.ctx.req
    const t = this.route.timeouts
    const q = this.ctx.query
    // Retries on: each try gets its own small handler, so callbacks of an abandoned try are told
    // apart. Retries off: the Exchange itself is the handler, as before (no allocation).
    const policy = this.policy
    const at = policy === null ? null : new Attempt(this)
    if (at !== null) {
      this.current = at
      if (policy!.perTryMs > 0) this.tryTimer = setTimeout(onTryTimeout, policy!.perTryMs, at)
    }
    let handler: Dispatcher.DispatchHandler = at ?? this
    if (this.ctx.grpc) {
      if (this.grpcDeadlineAt !== 0) propagateGrpcTimeout(this, policy?.perTryMs ?? 0)
      if (this.ctx.grpcWeb === GrpcWeb.Text) handler = new WebTextHandler(handler, this)
    }
    this.ctx.upstreamStart = performance.now()
    const path = target.basePath + this.ctx.upstreamPath + (q === '' ? '' : '?' + q)
    if (this.ctx.trace !== null) this.ctx.trace.startAttempt(this.ctx.upstreamHeaders, req.method ?? 'GET', target.origin, path)
    target.pool(t.connect).dispatch(
      {
        path,
        method: req.method as Dispatcher.HttpMethod,
        headers: this.ctx.upstreamHeaders as Record<string, string | string[]>,
        body: this.body,
        headersTimeout: t.read,
        bodyTimeout: t.read,
      },
      handler,
    )
  }

  /** The current try is over: its target no longer counts it, its per-try deadline is off. */
  endAttempt(): void {
    if (this.attemptOpen) {
      this.attemptOpen = false
      this.target!.inFlight--
    }
    if (this.tryTimer !== null) {
      clearTimeout(this.tryTimer)
      this.tryTimer = null
    }
    if (this.ctx.trace !== null) this.ctx.trace.endAttempt(this.error)
  }

  /** May the failed try be retried? Takes one retry from the budget when it may. */
  mayRetry(): boolean {
    const p = this.policy!
    if (this.tries > p.attempts || this.done || this.quiet || this.res.headersSent) return false
    if (this.replay !== null && this.replay.replay() === null) return false
    if (!p.budget.withdraw(Date.now(), this.retried)) {
      this.route.cluster.countRejected('retry_budget')
      return false
    }
    this.retried = true
    return true
  }

  scheduleRetry(): void {
    this.current = null
    this.controller = null
    this.route.cluster.countRetry()
    this.retryTimer = setTimeout(onRetry, backoffMs(this.policy!, this.tries), this)
  }

  // ---- undici DispatchHandler ----

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.abortReason !== null) controller.abort(this.abortReason)
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>): void {
    if (statusCode < 200) return // 1xx informational: not relayed
    const now = performance.now()
    const ms = now - this.ctx.upstreamStart
    this.ctx.upstreamDurationMs = ms
    if (this.ctx.trace !== null) this.ctx.trace.attemptStatus(statusCode)
    const target = this.target!
    upstreamDuration.observe((target.latency ??= upstreamSeries(this.route.cluster.name, target.url)), ms / 1000)
    const cluster = this.route.cluster
    if (cluster.observed) {
      if (!this.ctx.grpc) cluster.observeStatus(target, statusCode, ms, now)
      else {
        // A gRPC call is judged by its grpc-status: in the head when trailers-only, else at the
        // trailers (its latency is still the head's).
        const gs = headers['grpc-status']
        if (typeof gs === 'string') cluster.observeStatus(target, grpcHttpEquivalent(gs), ms, now)
        else this.grpcPending = { target, ms, status: statusCode }
      }
    }
    const at = this.current
    if (at !== null) {
      // gRPC: a trailers-only answer (no message yet) with a listed grpc-status is retried too.
      if ((this.policy!.statuses.has(statusCode) || (this.ctx.grpc && this.policy!.grpcStatuses.has(headers['grpc-status'] as string))) && this.mayRetry()) {
        at.discard = true // its body is read and dropped; the retry starts when it ends
        return
      }
      if (this.tryTimer !== null) {
        clearTimeout(this.tryTimer)
        this.tryTimer = null
      }
    }
    if (statusCode === 204 && headers['content-length'] !== undefined && headers['content-length'] !== '0') {
      controller.abort(new UpstreamProtocolError('the upstream sent a 204 with a body length'))
      return
    }
    const list = responseHeaderList(headers, this.ctx.id, this.ctx.responseHeaders, this.route.cluster.http2 ? VIA_HTTP2 : VIA_HTTP1)
    // Two entries per field; a few are the gateway's own (via, x-request-id, plugins' headers).
    if (list.length > 2 * MAX_UPSTREAM_HEADERS + 16) {
      controller.abort(new UpstreamProtocolError(`the upstream sent more than ${MAX_UPSTREAM_HEADERS} header fields`))
      return
    }
    const steps = this.pipeline?.response ?? null
    if (steps === null) {
      this.writeUpstreamHead(statusCode, list)
      return
    }
    // Response plugins see (and may change) the head as an object.
    const head: UpstreamHead = { status: statusCode, headers: headerObject(list) }
    let r: void | Promise<void>
    try {
      r = runResponsePhase(steps, this.ctx, head)
    } catch (err) {
      controller.abort(err as Error)
      return
    }
    if (r instanceof Promise) {
      // Hold the body until the response plugins have decided the head.
      controller.pause()
      r.then(
        () => {
          this.writeResponseHead(head)
          controller.resume()
        },
        (err: unknown) => controller.abort(err as Error),
      )
      return
    }
    this.writeResponseHead(head)
  }

  /** After the response phase: the head as the plugins left it, or the reply one of them chose instead. */
  writeResponseHead(head: UpstreamHead): void {
    if (head.reply !== undefined && !this.quiet) {
      this.quiet = true
      this.localReply(head.reply)
      return
    }
    if (head.rewriteBody !== undefined) {
      this.held = new HeldBody(head.status, head.headers, head.rewriteBody)
      return
    }
    this.writeUpstreamHead(head.status, head.headers)
  }

  /** The upstream's head as it goes on to the client; a 204/304 waits for its response's end (`bodiless`). */
  writeUpstreamHead(status: number, headers: Record<string, string | string[]> | HeaderList): void {
    if (this.ctx.grpc) {
      // gRPC-Web: the head says grpc-web again (grpc-web.ts).
      if (this.ctx.grpcWeb !== GrpcWeb.None) webHead(headers, responseType(this.ctx.req.headers['content-type']!, this.ctx.grpcWeb as GrpcWeb))
      // A gRPC trailers-only response (grpc-status in the head) waits too: it must reach the client
      // as one HEADERS frame that ends the stream (grpc.ts stageHead).
      if (isTrailersOnly(headers)) {
        this.bodiless = { status, headers }
        return
      }
    }
    if (status === 204 || status === 304) this.bodiless = { status, headers }
    else this.writeHead(status, headers)
  }

  writeHead(status: number, headers: Record<string, string | string[]> | HeaderList): void {
    if (this.res.destroyed || this.quiet) return
    this.status = status
    if (this.env.draining) {
      if (Array.isArray(headers)) headers.push('connection', 'close')
      else headers.connection = 'close'
    }
    this.res.writeHead(status, headers)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.held !== null) return holdChunk(this, controller, chunk)
    if (this.bodiless !== null) {
      // A body after a head that said there would be none (grpc-status in it, an h2 204): the
      // head goes now, so it is not lost under the body's implicit one.
      this.writeHead(this.bodiless.status, this.bodiless.headers)
      this.bodiless = null
    }
    const tap = this.ctx.tap
    if (tap !== null) tap.onData(chunk)
    if (this.quiet) return
    this.bytes += chunk.length
    if (!this.res.write(chunk)) {
      controller.pause()
      this.res.once('drain', () => controller.resume())
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController | null, trailers?: Record<string, string | string[] | undefined>): void {
    this.endAttempt()
    this.clearTimer()
    if (this.grpcPending !== null) {
      const p = this.grpcPending
      this.grpcPending = null
      const gs = trailers?.['grpc-status']
      this.route.cluster.observeStatus(p.target, typeof gs === 'string' ? grpcHttpEquivalent(gs) : p.status, p.ms, performance.now())
    }
    if (this.bodiless !== null) {
      const b = this.bodiless
      this.bodiless = null
      if (!this.ctx.grpc) this.writeHead(b.status, b.headers)
      else if (!this.res.destroyed && !this.quiet) {
        this.status = b.status
        stageHead(this.res, b.status, b.headers)
      }
    }
    if (this.held !== null) releaseHeld(this)
    if (this.ctx.tap !== null) this.endTap(undefined)
    if (this.quiet) return
    if (this.ctx.grpc && trailers !== undefined) {
      if (this.ctx.grpcWeb !== GrpcWeb.None) return endWeb(this, this.ctx.grpcWeb === GrpcWeb.Text, trailers)
      relayTrailers(this.res, trailers)
      const st = trailers['grpc-status']
      if (typeof st === 'string') this.grpcStatus = st
    }
    this.res.end()
  }

  /** The breaker judges a gRPC call by its grpc-status (trailers, else the head), as passive health does. */
  grpcOutcome(): number {
    const gs = this.grpcStatus ?? this.res.getHeader('grpc-status')
    return typeof gs === 'string' || typeof gs === 'number' ? grpcHttpEquivalent(String(gs)) : this.status
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    // A 304 may carry the Content-Length its 200 would have (RFC 9110 §8.6) and never a body
    // (RFC 9112 §6.3); undici counts the missing body as a mismatch. The response is complete.
    if (this.bodiless?.status === 304 && (err as { code?: string }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return this.onResponseEnd(null)
    this.bodiless = null
    this.grpcPending = null // a failure instead of trailers: observed as one below
    this.held = null // a held head was never sent: the error (or a retry) answers instead
    const wasOpen = this.attemptOpen
    this.endAttempt()
    const res = this.res
    const cluster = this.route.cluster
    if (wasOpen && (cluster.observed || this.current !== null) && !(err instanceof ClientGone)) {
      const kind = failureKind(err)
      if (kind !== FailureKind.None) {
        if (cluster.observed) {
          const now = performance.now()
          cluster.observeFailure(this.target!, now - this.ctx.upstreamStart, now, err)
        }
        // A gRPC call (POST) that may have reached the upstream is retried only when POST is listed in `methods`.
        if (this.current !== null && !res.headersSent && isRetryable(this.policy!, kind) && (kind === FailureKind.Connect || this.policy!.methods.has(this.ctx.method)) && this.mayRetry()) {
          return this.scheduleRetry()
        }
      }
    }
    this.clearTimer()
    const fallback = this.ctx.tap === null ? undefined : this.endTap(err)
    // Already answered (e.g. a total timeout replied while the request was still queued).
    if (err instanceof ClientGone || res.writableEnded || this.quiet) return
    this.cause = (err as { code?: string }).code ?? err.name
    if (res.headersSent) {
      this.error = 'upstream_bad_response'
      if (this.ctx.grpc) {
        // A gRPC call still ends with a status, in trailers (HTTP/2).
        const t = this.route.timeouts
        const r = failureReply(err, { total: t.total, read: t.read, perTry: this.policy?.perTryMs }, false)
        const code = r?.code ?? 'upstream_bad_response'
        this.error = code
        if (this.ctx.grpcWeb !== GrpcWeb.None) {
          // gRPC-Web: the status goes in a trailer frame, over HTTP/1.1 too.
          return endWeb(this, this.ctx.grpcWeb === GrpcWeb.Text, grpcErrorTrailers(code, r?.message ?? 'the upstream response broke off'))
        }
        if (endWithStatus(res, code, r?.message ?? 'the upstream response broke off')) {
          this.grpcStatus = String(GRPC_STATUS_OF[code])
          return
        }
      }
      // Bytes already reached the client: all we can do is cut the response so it sees a truncation.
      res.destroy()
      return
    }
    if (err instanceof PluginFailure) return this.pluginFailed(err)
    if (err instanceof PayloadTooLarge) return this.fail('payload_too_large', err.message, true)
    if (err instanceof InvalidGrpcWebText) return this.fail('bad_request', err.message, true)
    // A plugin answers for the failed upstream (e.g. the cache's stale-if-error).
    if (fallback !== undefined) return this.localReply(fallback)
    const t = this.route.timeouts
    const reply = failureReply(err, { total: t.total, read: t.read, perTry: this.policy?.perTryMs }, this.ctx.req.destroyed || (this.ctx.req as { aborted?: boolean }).aborted === true)
    if (reply === null) return // client went away mid-upload
    if (reply.code === 'upstream_unreachable') this.env.logger.debug({ err, request_id: this.ctx.id }, 'upstream error')
    this.fail(reply.code, reply.message, reply.close)
  }

  clearTimer(): void {
    if (this.dlList !== null) this.env.deadlines.remove(this)
    if (this.grpcTimer !== null) {
      clearTimeout(this.grpcTimer)
      this.grpcTimer = null
    }
  }

  /** The route's total timeout passed. */
  onDeadline(): void {
    this.expire(new UpstreamTimeout('total timeout'))
  }

  /** A deadline of the exchange passed (the total timeout, a gRPC call's grpc-timeout): stop, and answer with `reason`. */
  expire(reason: Error): void {
    this.abort(reason)
    // Still queued for a connection: answer now; the abort reaches undici when it starts the request.
    if (this.controller === null) this.onResponseError(null, reason)
  }

  abort(reason: Error): void {
    if (this.controller !== null) this.controller.abort(reason)
    else this.abortReason = reason
  }

  /** res 'close': the response ended or the client went away. Metrics, access log, log phase. */
  finish(): void {
    if (this.done) return
    this.done = true
    const res = this.res
    if (this.detached) {
      // Answered by a background LocalReply: the upstream exchange goes on and ends the tap itself.
    } else {
      this.clearTimer()
      if (this.ctx.tap !== null) this.endTap(new ClientGone('the exchange ended before the upstream response did'))
    }
    // An HTTP/2 stream the client reset (RST_STREAM: a gRPC cancel, a browser navigating away)
    // reports writableFinished like a finished one does; its reset code tells them apart.
    const gone = !res.writableFinished || (this.ctx.req.httpVersionMajor === 2 && (res as unknown as { stream: { rstCode?: number } }).stream.rstCode !== NGHTTP2_NO_ERROR)
    if (gone) {
      // The client went away first: stop the upstream exchange too.
      this.abort(new ClientGone('client closed the connection'))
      if (this.error === undefined) this.error = 'client_closed'
    }
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer)
      this.retryTimer = null
    }
    if (this.route.cluster.guarded) releaseGuards(this.route.cluster, this, this.error, this.ctx.grpc ? this.grpcOutcome() : this.status)
    if (this.retried) this.policy!.budget.finished()
    this.snap.inFlight--
    this.env.requestEnded()
    complete(this.env, this.snap, gone ? 499 : res.statusCode, this)
  }
}
