// The request handler: the hot path. Reads the current Snapshot once, normalizes and routes,
// runs the route's pipeline, picks a target and streams the exchange through undici.
// Everything config-derived was computed when the Snapshot was compiled.
import { performance } from 'node:perf_hooks'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { Dispatcher } from 'undici'
import type { Logger } from 'pino'
import { normalizePath } from '../router/normalize.js'
import type { CompiledRoute, Snapshot } from '../snapshot/compile.js'
import type { Target } from '../upstream/target.js'
import { RequestContext } from './context.js'
import { newRequestId } from './request-id.js'
import { clientAddress, headerObject, plainAddress, responseHeaderList, upstreamRequestHeaders, validRequestId, type HeaderList } from './forward.js'
import { sendError, sendLocalReply } from './errors-reply.js'
import type { ErrorCode } from './errors.js'
import { PluginFailure, runAccessSwitching, runLogPhase, runRequestPhase, runResponsePhase, type Pipeline } from '../plugins/pipeline.js'
import type { BodyRewrite, UpstreamHead, Verdict } from '../plugins/contract.js'
import { BodyLimit, PayloadTooLarge } from './body-limit.js'
import type { DeadlineItem, DeadlineList, Deadlines } from './deadlines.js'
import type { Tracing } from '../observability/tracing.js'
import type { ListenerHooks } from './listeners/hooks.js'
import { authFailures, recordRequest, upstreamDuration, upstreamSeries } from '../observability/metrics.js'
import { REJECTED, type Ticket } from '../upstream/breaker.js'
import { FailureKind, backoffMs, failureKind, isRetryable, type RetryPolicy } from '../upstream/retry.js'
import type { AccessLog } from '../observability/access-log.js'
import { UPSTREAM_ERRORS, warnUpstreamError } from '../observability/upstream-errors.js'

/** What the handler needs from its owner (the data plane). */
export interface HandlerHost {
  snapshot: Snapshot | undefined
  draining: boolean
  inFlight: number
  readonly logger: Logger
  readonly accessLog: AccessLog
  /** https listeners pass 'https' once TLS lands. */
  readonly proto: 'http' | 'https'
  readonly deadlines: Deadlines
  /** OpenTelemetry tracing, or null when off (one null check per request). */
  readonly tracing: Tracing | null
}

class UpstreamTimeout extends Error {
  readonly code = 'PORTICO_TOTAL_TIMEOUT'
}
class ClientGone extends Error {
  readonly code = 'PORTICO_CLIENT_GONE'
}
class TryTimeout extends Error {
  readonly code = 'PORTICO_TRY_TIMEOUT'
}
/** Aborts a try that was superseded (its per-try deadline passed while it was still queued). */
class StaleTry extends Error {
  readonly code = 'PORTICO_STALE_TRY'
}

const REQUEST_PHASES = ['rewrite', 'access', 'beforeUpstream'] as const
const EMPTY_BODY = Buffer.alloc(0)

/** Host header → host name without port, lower-cased ('' when absent). */
function hostName(h: string | undefined): string {
  if (h === undefined || h === '') return ''
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']')
    return (end === -1 ? h : h.slice(0, end + 1)).toLowerCase()
  }
  const colon = h.indexOf(':')
  return (colon === -1 ? h : h.slice(0, colon)).toLowerCase()
}

/** RFC 9112 §3.2: more than one Host field is a 400. Node keeps only the first, so count raw ones. */
function hasDuplicateHost(raw: string[]): boolean {
  let seen = false
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!
    if (k.length === 4 && k.toLowerCase() === 'host') {
      if (seen) return true
      seen = true
    }
  }
  return false
}

/** A cleartext listener with nothing before routing. */
const CLEARTEXT: ListenerHooks = { proto: 'http', front: null, tls: null }

export function createHandler(host: HandlerHost, listener: ListenerHooks = CLEARTEXT): (req: IncomingMessage, res: ServerResponse) => void {
  const proto = listener.proto
  const tls = listener.tls
  return function handle(req, res) {
    const snap = host.snapshot!
    const start = performance.now()
    const headers = req.headers
    const id = validRequestId(headers['x-request-id']) ?? newRequestId()
    if (host.draining) res.setHeader('connection', 'close')

    // Defense in depth: llhttp already refuses CL+TE and conflicting Content-Length; a request
    // that still carries both never reaches an upstream.
    if (headers['transfer-encoding'] !== undefined && headers['content-length'] !== undefined) {
      return earlyReply(host, snap, req, res, id, start, 'bad_request', 'both Content-Length and Transfer-Encoding')
    }
    if (hasDuplicateHost(req.rawHeaders)) return earlyReply(host, snap, req, res, id, start, 'bad_request', 'more than one Host header')

    const url = req.url ?? '/'
    const q = url.indexOf('?')
    let rawPath = q === -1 ? url : url.slice(0, q)
    if (rawPath.charCodeAt(0) !== 47 /* / */) {
      // absolute-form (RFC 9112 §3.2.2) is legal towards a proxy; anything else (e.g. "*") is not routable.
      const m = /^https?:\/\/[^/?#]*(\/[^?#]*)?/i.exec(rawPath)
      if (m === null) return earlyReply(host, snap, req, res, id, start, 'invalid_path')
      rawPath = m[1] ?? '/'
    }
    const path = normalizePath(rawPath)
    if (path === undefined) return earlyReply(host, snap, req, res, id, start, 'invalid_path')

    const method = req.method ?? 'GET'
    const hostHeader = headers.host ?? ''
    const hostOnly = hostName(hostHeader)
    if (listener.front !== null && listener.front(req, res, hostOnly, path)) return
    let sni = ''
    if (tls !== null) {
      // SNI and Host bound together: a connection is only good for the names its certificate covers.
      if (!tls.checkHost(req, hostOnly)) return earlyReply(host, snap, req, res, id, start, 'misdirected_request', `this connection's certificate does not cover ${hostOnly}`)
      if (tls.hsts !== null) res.setHeader('strict-transport-security', tls.hsts)
      sni = (req.socket as TLSSocket).servername || ''
    }
    let match = snap.router.match(hostOnly, method, path, headers, sni)
    if (match.kind === 'method_not_allowed' && method === 'OPTIONS') match = preflightMatch(snap, hostOnly, path, headers, sni) ?? match
    if (match.kind !== 'found') {
      if (match.kind === 'not_found') return earlyReply(host, snap, req, res, id, start, 'route_not_found', `no route for ${method} ${path}`)
      res.setHeader('allow', match.allow)
      return earlyReply(host, snap, req, res, id, start, 'method_not_allowed', `${method} is not allowed on ${path}`)
    }
    const route = match.data

    const ctx = new RequestContext(req, res, id, start)
    ctx.host = hostOnly
    ctx.path = path
    ctx.query = q === -1 ? '' : url.slice(q + 1)
    ctx.params = match.params
    ctx.routeName = route.name
    const peer = plainAddress(req.socket.remoteAddress)
    const trustedPeer = snap.trustedProxies.has(peer)
    ctx.clientIp = trustedPeer ? clientAddress(peer, headers['x-forwarded-for'], snap.trustedProxies) : peer
    ctx.upstreamHeaders = upstreamRequestHeaders(headers, { peer, proto, host: hostHeader, requestId: id, trustedPeer })
    if (tls !== null) {
      ctx.clientCert = tls.identity(req)
      tls.forward(req, ctx.upstreamHeaders)
    }
    if (route.preserveHost && hostHeader !== '') ctx.upstreamHeaders.host = hostHeader
    ctx.upstreamPath = upstreamPath(route, path)
    if (host.tracing !== null) {
      ctx.trace = host.tracing.start(headers, method, path, proto, ctx.clientIp)
      ctx.trace.setRoute(method, route.name)
    }

    // Body limit: a declared length is checked now; a chunked body is counted as it streams.
    const cl = headers['content-length']
    if (cl !== undefined && Number(cl) > route.maxBodySize) {
      return earlyReply(host, snap, req, res, id, start, 'payload_too_large', `request body exceeds ${route.maxBodySize} bytes`, ctx, true)
    }

    snap.inFlight++
    host.inFlight++
    const exchange = new Exchange(host, snap, route, ctx)
    ;(res as ResWithExchange)[kExchange] = exchange
    res.on('close', onResClose)

    const pipeline = route.pipeline
    if (pipeline === null) return exchange.proxy()
    exchange.runPhases(0)
  }
}

/**
 * A CORS preflight (OPTIONS + Origin + Access-Control-Request-Method) asks about another method:
 * route it as that method, to a route whose cors plugin answers it, so users need not list OPTIONS
 * in every route's `methods`. Any other OPTIONS request keeps its 405.
 */
function preflightMatch(snap: Snapshot, host: string, path: string, headers: IncomingMessage['headers'], sni: string) {
  const wanted = headers['access-control-request-method']
  if (headers.origin === undefined || typeof wanted !== 'string' || wanted === '') return undefined
  const m = snap.router.match(host, wanted, path, headers, sni)
  return m.kind === 'found' && m.data.answersPreflight ? m : undefined
}

const kExchange = Symbol('portico.exchange')
type ResWithExchange = ServerResponse & { [kExchange]?: Exchange }
/** One shared 'close' listener: `this` is the response, which carries its exchange. */
function onResClose(this: ServerResponse): void {
  ;(this as ResWithExchange)[kExchange]!.finish()
}

function upstreamPath(route: CompiledRoute, path: string): string {
  let p = path
  const prefix = route.stripPrefix
  if (prefix !== null) {
    if (p === prefix) p = '/'
    else if (p.startsWith(prefix) && p.charCodeAt(prefix.length) === 47) p = p.slice(prefix.length)
  }
  if (route.rewrite !== null) {
    p = p.replace(route.rewrite.re, route.rewrite.replacement)
    if (p.charCodeAt(0) !== 47) p = '/' + p
  }
  return p
}

/**
 * Replies before a route's exchange starts (400/404/405/413): no pipeline, counted and logged.
 * 413 and 400 close the connection, since the unread body makes it unusable.
 */
function earlyReply(
  host: HandlerHost,
  snap: Snapshot,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  start: number,
  code: ErrorCode,
  message?: string,
  ctx?: RequestContext,
  close = false,
): void {
  sendError(res, id, code, message, ctx?.responseHeaders ?? null, close || code === 'bad_request' || code === 'invalid_path')
  const status = res.statusCode
  const ms = performance.now() - start
  recordRequest(ctx?.routeName ?? '', req.method ?? 'GET', status, ms / 1000)
  const log = snap.accessLog
  if (log !== null) {
    // Before routing there is no ctx: the raw target, split so its query never lands in `path`.
    const url = req.url ?? ''
    const q = url.indexOf('?')
    host.accessLog.write({
      requestId: id,
      clientIp: ctx?.clientIp ?? plainAddress(req.socket.remoteAddress),
      method: req.method ?? 'GET',
      path: ctx?.path ?? (q === -1 ? url : url.slice(0, q)),
      route: ctx?.routeName ?? null,
      upstream: null,
      status,
      bytes: 0,
      durationMs: ms,
      upstreamMs: undefined,
      error: code,
      query: log.redact === null ? undefined : log.query(ctx?.query ?? (q === -1 ? '' : url.slice(q + 1))),
    })
  }
}


/**
 * One proxied exchange: the per-request object that is also the undici dispatch handler.
 * Fixed shape, methods on the prototype; no closure is allocated per request.
 */
class Exchange implements Dispatcher.DispatchHandler, DeadlineItem {
  readonly host: HandlerHost
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
  /** route.retry when this request may be retried (method allowed, body replayable); else null. */
  policy: RetryPolicy | null = null
  /** The try in progress when `policy` is set (null between tries). */
  current: Attempt | null = null
  /** The request body to send: streamed (IncomingMessage / BodyLimit) or a buffer (replayable). */
  body: IncomingMessage | BodyLimit | Buffer | null = null
  retryTimer: NodeJS.Timeout | null = null
  tryTimer: NodeJS.Timeout | null = null
  /** Circuit-breaker admission; REJECTED (0) = no breaker involved. */
  ticket: Ticket = REJECTED
  /** Holds a bulkhead slot of the cluster. */
  holdsSlot = false
  /** A response plugin set head.rewriteBody: the head waits while the body is collected (else null). */
  held: HeldBody | null = null

  constructor(host: HandlerHost, snap: Snapshot, route: CompiledRoute, ctx: RequestContext) {
    this.host = host
    this.snap = snap
    this.route = route
    this.ctx = ctx
    this.res = ctx.res
    this.pipeline = route.pipeline
  }

  /** Runs rewrite → access → beforeUpstream from phase index `i`, going async only when a plugin does. */
  runPhases(i: number): void {
    for (; i < REQUEST_PHASES.length; i++) {
      // Re-read per phase: the access phase may switch to the consumer's pipeline.
      const pipeline = this.pipeline!
      // i === 1: the access phase. A pipeline that declared a body limit reads the body first.
      if (i === 1 && pipeline.bodyLimit !== null && !this.bodyRead) return this.readBody(Math.min(pipeline.bodyLimit, this.route.maxBodySize, this.ctx.bodyLimit))
      const steps = pipeline[REQUEST_PHASES[i]!]
      if (steps === null) continue
      const trace = this.ctx.trace
      if (trace !== null && trace.pluginEvents) trace.event(`plugins.${REQUEST_PHASES[i]!}`, { plugins: steps.map((st) => st.name).join(',') })
      let v: Verdict | Promise<Verdict>
      try {
        v = i === 1 && pipeline.consumers !== null ? runAccessSwitching(this, this.ctx, steps) : runRequestPhase(steps, REQUEST_PHASES[i]!, this.ctx)
      } catch (err) {
        return this.pluginFailed(err)
      }
      if (v === undefined) continue
      if (v instanceof Promise) {
        const next = i + 1
        v.then(
          (verdict) => {
            if (this.done || this.res.destroyed) return
            if (verdict === undefined) this.runPhases(next)
            else this.localReply(verdict)
          },
          (err: unknown) => this.pluginFailed(err),
        )
        return
      }
      return this.localReply(v)
    }
    this.proxy()
  }

  /**
   * Buffers the request body into ctx.body (at most `limit` bytes: 413 and close beyond), then
   * resumes at the access phase. Only routes whose pipeline declared a body limit get here.
   */
  readBody(limit: number): void {
    const req = this.ctx.req
    const headers = req.headers
    const cl = headers['content-length']
    if (cl !== undefined && Number(cl) > limit) return this.fail('payload_too_large', `request body exceeds ${limit} bytes`, true)
    if (req.readableEnded || (headers['transfer-encoding'] === undefined && (cl === undefined || cl === '0'))) {
      this.ctx.body = EMPTY_BODY
      this.bodyRead = true
      return this.runPhases(1)
    }
    const chunks: Buffer[] = []
    let size = 0
    const idle = setTimeout(() => {
      stop()
      if (!this.done) this.fail('request_timeout', `no request body data for ${this.route.timeouts.read}ms`, true)
    }, this.route.timeouts.read)
    const stop = (): void => {
      clearTimeout(idle)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', stop)
      req.off('close', stop)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        stop()
        req.resume() // discard the rest; the reply closes the connection
        return this.fail('payload_too_large', `request body exceeds ${limit} bytes`, true)
      }
      chunks.push(chunk)
      idle.refresh()
    }
    const onEnd = (): void => {
      stop()
      if (this.done || this.res.destroyed) return
      this.ctx.body = Buffer.concat(chunks, size)
      this.bodyRead = true
      this.runPhases(1)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', stop)
    // A client that goes away mid-body: the response's close runs finish(); just drop the timer.
    req.on('close', stop)
  }

  localReply(v: Exclude<Verdict, undefined>): void {
    this.error = v.error
    if (v.status === 401 || v.status === 403) {
      const code = v.error ?? String(v.status)
      authFailures.series(`${this.route.name}\u0000${v.status}\u0000${code}`, { route: this.route.name, status: String(v.status), error: code }).value++
    }
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
      this.host.logger.error({ err: e, request_id: this.ctx.id, route: this.route.name }, 'exchange tap failed')
    }
    return undefined
  }

  pluginFailed(err: unknown): void {
    const plugin = err instanceof PluginFailure ? err.plugin : 'unknown'
    this.host.logger.error({ err, plugin, request_id: this.ctx.id, route: this.route.name }, 'plugin failed')
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
    if (t.total > 0) this.host.deadlines.add(this, t.total)
    const cluster = this.route.cluster
    if (cluster.guarded) {
      const breaker = cluster.breaker
      if (breaker !== null) {
        const now = performance.now()
        const ticket = breaker.allow(now)
        if (ticket === REJECTED) {
          cluster.countRejected('circuit_open')
          this.res.setHeader('retry-after', String(breaker.retryAfter(now)))
          return this.fail('circuit_open')
        }
        this.ticket = ticket
      }
      const bulkhead = cluster.bulkhead
      if (bulkhead !== null) {
        const r = bulkhead.acquire(this)
        if (r === -1) {
          cluster.countRejected('upstream_overloaded')
          return this.fail('upstream_overloaded', `${bulkhead.max} requests in flight and ${bulkhead.queueSize} queued`)
        }
        if (r === 0) return // queued: admitted() goes on
        this.holdsSlot = true
      }
    }
    this.prepare()
  }

  /** Bulkhead: a slot was handed to this queued request. */
  admitted(): void {
    this.holdsSlot = true
    this.prepare()
  }

  /**
   * Chooses how the body travels. Streamed by default. When the route retries this method, a body
   * already buffered for a plugin is replayed, and a small one (Content-Length ≤ max_buffered_body)
   * is buffered here; a chunked or larger body is streamed and its request is never retried.
   */
  prepare(): void {
    const req = this.ctx.req
    const headers = req.headers
    const policy = this.route.retry
    const retryable = policy !== null && policy.methods.has(this.ctx.method)
    const buffered = this.ctx.body
    if (buffered !== undefined) {
      // Buffered for a plugin: send the buffer, framed by its length (the client may have sent it chunked).
      if (buffered.length > 0 || headers['content-length'] !== undefined) {
        this.body = buffered
        this.ctx.upstreamHeaders['content-length'] = String(buffered.length)
      }
      if (retryable) this.policy = policy
    } else if (headers['transfer-encoding'] !== undefined) {
      const body = req.pipe(new BodyLimit(Math.min(this.route.maxBodySize, this.ctx.bodyLimit)))
      // A client that aborts mid-upload must not leave the limiter's consumer waiting.
      req.once('error', (e) => body.destroy(e))
      this.body = body
    } else {
      const cl = headers['content-length']
      if (cl !== undefined && cl !== '0') {
        if (retryable && Number(cl) <= policy.maxBufferedBody) {
          this.policy = policy
          return this.bufferBody(Number(cl))
        }
        this.body = req
      } else if (retryable) {
        this.policy = policy
      }
    }
    this.startTries()
  }

  /** Reads a small body (its Content-Length is known) into one buffer, so retries can replay it. */
  bufferBody(length: number): void {
    const buf = Buffer.allocUnsafe(length)
    let off = 0
    const req = this.ctx.req
    req.on('data', (chunk: Buffer) => {
      if (off + chunk.length <= length) chunk.copy(buf, off)
      off += chunk.length
    })
    req.once('end', () => {
      if (this.done || this.res.headersSent) return
      if (off !== length) return this.fail('bad_request', 'request body does not match Content-Length', true)
      this.body = buf
      this.startTries()
    })
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
      at ?? this,
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
    if (!p.budget.withdraw(Date.now())) {
      this.route.cluster.countRejected('retry_budget')
      return false
    }
    return true
  }

  scheduleRetry(): void {
    this.current = null
    this.controller = null
    this.route.cluster.countRetry()
    this.retryTimer = setTimeout(onRetry, backoffMs(this.policy!, this.tries), this)
  }

  /** finish() of a request to a guarded cluster: bulkhead slot back, outcome to the breaker. */
  releaseGuards(): void {
    const cluster = this.route.cluster
    if (this.holdsSlot) {
      this.holdsSlot = false
      cluster.bulkhead!.release()
    }
    const ticket = this.ticket
    if (ticket === REJECTED) return
    this.ticket = REJECTED
    const b = cluster.breaker!
    const e = this.error
    if (e === 'upstream_unreachable' || e === 'upstream_timeout' || e === 'upstream_bad_response') b.record(ticket, false, performance.now())
    else if (this.status !== 0) b.record(ticket, !b.policy.statuses.has(this.status), performance.now())
    else b.release(ticket) // no upstream outcome (client left, no target, plugin reply)
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
    if (cluster.observed) cluster.observeStatus(this.target!, statusCode, ms, now)
    const at = this.current
    if (at !== null) {
      if (this.policy!.statuses.has(statusCode) && this.mayRetry()) {
        at.discard = true // its body is read and dropped; the retry starts when it ends
        return
      }
      if (this.tryTimer !== null) {
        clearTimeout(this.tryTimer)
        this.tryTimer = null
      }
    }
    const list = responseHeaderList(headers, this.ctx.id, this.ctx.responseHeaders)
    const steps = this.pipeline?.response ?? null
    if (steps === null) {
      this.writeHead(statusCode, list)
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
    this.writeHead(head.status, head.headers)
  }

  /** A chunk of a held body (head.rewriteBody): kept, or, past maxBytes, everything sent unchanged from now on. */
  hold(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const h = this.held!
    h.size += chunk.length
    if (h.size <= h.rewrite.maxBytes) {
      h.chunks.push(chunk)
      return
    }
    this.held = null
    this.writeHead(h.status, h.headers)
    h.chunks.push(chunk)
    this.onResponseData(controller, Buffer.concat(h.chunks, h.size))
  }

  /** The held body is complete: rewrite it, frame it by its new length, send head and body. */
  releaseHeld(): void {
    const h = this.held!
    this.held = null
    const body = h.chunks.length === 1 ? h.chunks[0]! : Buffer.concat(h.chunks, h.size)
    let out = body
    try {
      out = h.rewrite.apply(body) ?? body
    } catch (err) {
      this.host.logger.warn({ err, request_id: this.ctx.id, route: this.route.name }, 'response body rewrite failed; sent unchanged')
    }
    delete h.headers['transfer-encoding']
    h.headers['content-length'] = String(out.length)
    this.writeHead(h.status, h.headers)
    if (this.ctx.tap !== null) this.ctx.tap.onData(out)
    if (this.quiet || this.res.destroyed) return
    this.bytes += out.length
    this.res.write(out)
  }

  writeHead(status: number, headers: Record<string, string | string[]> | HeaderList): void {
    if (this.res.destroyed || this.quiet) return
    this.status = status
    if (this.host.draining) {
      if (Array.isArray(headers)) headers.push('connection', 'close')
      else headers.connection = 'close'
    }
    this.res.writeHead(status, headers)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.held !== null) return this.hold(controller, chunk)
    const tap = this.ctx.tap
    if (tap !== null) tap.onData(chunk)
    if (this.quiet) return
    this.bytes += chunk.length
    if (!this.res.write(chunk)) {
      controller.pause()
      this.res.once('drain', () => controller.resume())
    }
  }

  onResponseEnd(): void {
    this.endAttempt()
    this.clearTimer()
    if (this.held !== null) this.releaseHeld()
    if (this.ctx.tap !== null) this.endTap(undefined)
    if (!this.quiet) this.res.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
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
          cluster.observeFailure(this.target!, now - this.ctx.upstreamStart, now)
        }
        if (this.current !== null && !res.headersSent && isRetryable(this.policy!, kind) && this.mayRetry()) return this.scheduleRetry()
      }
    }
    this.clearTimer()
    const fallback = this.ctx.tap === null ? undefined : this.endTap(err)
    // Already answered (e.g. a total timeout replied while the request was still queued).
    if (err instanceof ClientGone || res.writableEnded || this.quiet) return
    this.cause = (err as { code?: string }).code ?? err.name
    if (res.headersSent) {
      // Bytes already reached the client: all we can do is cut the response so it sees a truncation.
      this.error = 'upstream_bad_response'
      res.destroy()
      return
    }
    if (err instanceof PluginFailure) return this.pluginFailed(err)
    if (err instanceof PayloadTooLarge) return this.fail('payload_too_large', err.message, true)
    // A plugin answers for the failed upstream (e.g. the cache's stale-if-error).
    if (fallback !== undefined) return this.localReply(fallback)
    const code = (err as { code?: string }).code
    switch (code) {
      case 'PORTICO_TOTAL_TIMEOUT':
        return this.fail('upstream_timeout', `no complete response within ${this.route.timeouts.total}ms`)
      case 'PORTICO_TRY_TIMEOUT':
        return this.fail('upstream_timeout', `no response head within ${this.policy?.perTryMs}ms (per_try_timeout)`)
      case 'UND_ERR_CONNECT_TIMEOUT':
        return this.fail('upstream_timeout', 'connect timeout')
      case 'UND_ERR_HEADERS_TIMEOUT':
      case 'UND_ERR_BODY_TIMEOUT':
        return this.fail('upstream_timeout', `upstream idle for more than ${this.route.timeouts.read}ms`)
      case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
        return this.fail('bad_request', 'request body does not match Content-Length', true)
      case 'ECONNREFUSED':
      case 'ENOTFOUND':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
      case 'EAI_AGAIN':
        return this.fail('upstream_unreachable')
      default:
        // undici's HTTPParserError has no code for some parser failures; its name is stable.
        if (err.name === 'HTTPParserError' || (typeof code === 'string' && code.startsWith('HPE_'))) return this.fail('upstream_bad_response')
        if (this.ctx.req.destroyed || (this.ctx.req as { aborted?: boolean }).aborted) return // client went away mid-upload
        this.host.logger.debug({ err, request_id: this.ctx.id }, 'upstream error')
        return this.fail('upstream_unreachable', code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'the upstream closed the connection' : undefined)
    }
  }

  clearTimer(): void {
    if (this.dlList !== null) this.host.deadlines.remove(this)
  }

  /** The route's total timeout passed. */
  onDeadline(): void {
    const reason = new UpstreamTimeout('total timeout')
    this.abort(reason)
    // Still queued for a connection: answer now; the abort reaches undici when it starts the request.
    if (this.controller === null) this.onResponseError(null as unknown as Dispatcher.DispatchController, reason)
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
    if (!res.writableFinished) {
      // The client went away first: stop the upstream exchange too.
      this.abort(new ClientGone('client closed the connection'))
      if (this.error === undefined) this.error = 'client_closed'
    }
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer)
      this.retryTimer = null
    }
    if (this.route.cluster.guarded) this.releaseGuards()
    this.snap.inFlight--
    this.host.inFlight--
    const status = res.writableFinished ? res.statusCode : 499
    const ms = performance.now() - this.ctx.start
    const ctx = this.ctx
    const declared = ctx.req.headers['content-length']
    const trace = ctx.trace
    recordRequest(
      this.route.name,
      ctx.method,
      status,
      ms / 1000,
      declared === undefined ? 0 : Number(declared) || 0,
      this.bytes,
      trace !== null && trace.sampled ? trace.traceId : undefined,
    )
    if (trace !== null) trace.end(status, this.error)
    const log = this.snap.accessLog
    if (log !== null && log.keep(status, this.error)) {
      this.host.accessLog.write({
        requestId: ctx.id,
        clientIp: ctx.clientIp,
        method: ctx.method,
        path: ctx.path,
        route: this.route.name,
        upstream: ctx.target === '' ? null : ctx.target,
        status,
        bytes: this.bytes,
        durationMs: ms,
        upstreamMs: ctx.upstreamDurationMs,
        consumer: ctx.consumer,
        error: this.error,
        attempts: this.tries,
        traceId: trace === null ? undefined : trace.traceId,
        spanId: trace === null ? undefined : trace.spanId,
        query: log.redact === null ? undefined : log.query(ctx.query),
      })
    }
    const error = this.error
    if (error !== undefined && UPSTREAM_ERRORS.has(error)) {
      warnUpstreamError(this.host.logger, {
        request_id: ctx.id,
        route: this.route.name,
        upstream: this.route.cluster.name,
        target: ctx.target === '' ? null : ctx.target,
        error,
        cause: this.cause,
        status,
        attempts: this.tries,
      })
    }
    const logSteps = this.pipeline?.log ?? null
    if (logSteps !== null) {
      runLogPhase(logSteps, ctx, { status, bytesSent: this.bytes, durationMs: ms, upstreamDurationMs: ctx.upstreamDurationMs, error: this.error }, (plugin, err) =>
        this.host.logger.warn({ err, plugin, request_id: ctx.id }, 'plugin log handler failed'),
      )
    }
  }
}

/** A response head waiting for its body to be rewritten (UpstreamHead.rewriteBody). */
class HeldBody {
  readonly status: number
  readonly headers: Record<string, string | string[]>
  readonly rewrite: BodyRewrite
  chunks: Buffer[] = []
  size = 0
  constructor(status: number, headers: Record<string, string | string[]>, rewrite: BodyRewrite) {
    this.status = status
    this.headers = headers
    this.rewrite = rewrite
  }
}

/**
 * A retried request's try: forwards undici's callbacks to the Exchange while it is the current
 * try, and drops them once it is not (superseded, or finished by a per-try timeout while queued).
 * A try whose status is retried reads its body to the end (keeping the connection) and discards it.
 */
class Attempt implements Dispatcher.DispatchHandler {
  readonly ex: Exchange
  controller: Dispatcher.DispatchController | null = null
  discard = false
  finished = false

  constructor(ex: Exchange) {
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

  onResponseEnd(): void {
    if (this.stale()) return
    this.finished = true
    if (this.discard) return this.retryNow()
    this.ex.onResponseEnd()
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
    if (ex.done || ex.res.headersSent) return
    ex.scheduleRetry()
  }
}

function onRetry(ex: Exchange): void {
  ex.retryTimer = null
  if (ex.done || ex.res.headersSent) return
  ex.attempt()
}

function onTryTimeout(at: Attempt): void {
  const ex = at.ex
  ex.tryTimer = null
  if (at.stale()) return
  const err = new TryTimeout('per-try timeout')
  if (at.controller !== null) return at.controller.abort(err) // → at.onResponseError
  // Still queued for a connection: give up on this try now; if undici starts it later, it is stale.
  at.finished = true
  ex.onResponseError(null as unknown as Dispatcher.DispatchController, err)
}
