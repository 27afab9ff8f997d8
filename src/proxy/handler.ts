// The request handler: the hot path. Reads the current Snapshot once, normalizes and routes,
// runs the route's pipeline, picks a target and streams the exchange through undici.
// Everything config-derived was computed when the Snapshot was compiled.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import type { Logger } from 'pino'
import { normalizePath } from '../router/normalize.js'
import type { CompiledRoute, Snapshot } from '../snapshot/compile.js'
import type { Target } from '../upstream/target.js'
import { RequestContext } from './context.js'
import { clientAddress, cleanResponseHeaders, plainAddress, upstreamRequestHeaders, validRequestId } from './forward.js'
import { sendError, sendLocalReply } from './errors-reply.js'
import type { ErrorCode } from './errors.js'
import { PluginFailure, runLogPhase, runRequestPhase, runResponsePhase } from '../plugins/pipeline.js'
import type { UpstreamHead, Verdict } from '../plugins/contract.js'
import { BodyLimit, PayloadTooLarge } from './body-limit.js'
import { recordRequest } from '../observability/metrics.js'
import type { AccessLog } from '../observability/access-log.js'

/** What the handler needs from its owner (the data plane). */
export interface HandlerHost {
  snapshot: Snapshot | undefined
  draining: boolean
  inFlight: number
  readonly logger: Logger
  readonly accessLog: AccessLog
  /** https listeners pass 'https' once TLS lands. */
  readonly proto: 'http' | 'https'
}

class UpstreamTimeout extends Error {
  readonly code = 'PORTICO_TOTAL_TIMEOUT'
}
class ClientGone extends Error {
  readonly code = 'PORTICO_CLIENT_GONE'
}

const REQUEST_PHASES = ['rewrite', 'access', 'beforeUpstream'] as const

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

export function createHandler(host: HandlerHost): (req: IncomingMessage, res: ServerResponse) => void {
  return function handle(req, res) {
    const snap = host.snapshot!
    const start = performance.now()
    const headers = req.headers
    const id = validRequestId(headers['x-request-id']) ?? randomUUID()
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
    let match = snap.router.match(hostName(hostHeader), method, path, headers)
    if (match.kind === 'method_not_allowed' && method === 'OPTIONS') match = preflightMatch(snap, hostName(hostHeader), path, headers) ?? match
    if (match.kind !== 'found') {
      if (match.kind === 'not_found') return earlyReply(host, snap, req, res, id, start, 'route_not_found', `no route for ${method} ${path}`)
      res.setHeader('allow', match.allow)
      return earlyReply(host, snap, req, res, id, start, 'method_not_allowed', `${method} is not allowed on ${path}`)
    }
    const route = match.data

    const ctx = new RequestContext(req, res, id, start)
    ctx.host = hostName(hostHeader)
    ctx.path = path
    ctx.query = q === -1 ? '' : url.slice(q + 1)
    ctx.params = match.params
    ctx.routeName = route.name
    const peer = plainAddress(req.socket.remoteAddress)
    const trustedPeer = snap.trustedProxies.has(peer)
    ctx.clientIp = trustedPeer ? clientAddress(peer, headers['x-forwarded-for'], snap.trustedProxies) : peer
    ctx.upstreamHeaders = upstreamRequestHeaders(headers, { peer, clientIp: ctx.clientIp, proto: host.proto, host: hostHeader, requestId: id, trustedPeer })
    if (route.preserveHost && hostHeader !== '') ctx.upstreamHeaders.host = hostHeader
    ctx.upstreamPath = upstreamPath(route, path)

    // Body limit: a declared length is checked now; a chunked body is counted as it streams.
    const cl = headers['content-length']
    if (cl !== undefined && Number(cl) > route.maxBodySize) {
      return earlyReply(host, snap, req, res, id, start, 'payload_too_large', `request body exceeds ${route.maxBodySize} bytes`, ctx, true)
    }

    snap.inFlight++
    host.inFlight++
    const exchange = new Exchange(host, snap, route, ctx)
    res.on('close', exchange.onClose)

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
function preflightMatch(snap: Snapshot, host: string, path: string, headers: IncomingMessage['headers']) {
  const wanted = headers['access-control-request-method']
  if (headers.origin === undefined || typeof wanted !== 'string' || wanted === '') return undefined
  const m = snap.router.match(host, wanted, path, headers)
  return m.kind === 'found' && m.data.answersPreflight ? m : undefined
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
  if (snap.accessLog) {
    host.accessLog.write({
      requestId: id,
      clientIp: ctx?.clientIp ?? plainAddress(req.socket.remoteAddress),
      method: req.method ?? 'GET',
      path: ctx?.path ?? req.url ?? '',
      route: ctx?.routeName ?? null,
      upstream: null,
      status,
      bytes: 0,
      durationMs: ms,
      upstreamMs: undefined,
      error: code,
    })
  }
}


/**
 * One proxied exchange: the per-request object that is also the undici dispatch handler.
 * Fixed shape, methods on the prototype; `onClose` is the one bound function per request.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly host: HandlerHost
  readonly snap: Snapshot
  readonly route: CompiledRoute
  readonly ctx: RequestContext
  readonly res: ServerResponse
  controller: Dispatcher.DispatchController | null = null
  target: Target | null = null
  timer: NodeJS.Timeout | null = null
  /** Set when the exchange must stop (client gone, total timeout) before undici handed us a controller. */
  abortReason: Error | null = null
  status = 0
  bytes = 0
  error: string | undefined = undefined
  done = false
  readonly onClose: () => void

  constructor(host: HandlerHost, snap: Snapshot, route: CompiledRoute, ctx: RequestContext) {
    this.host = host
    this.snap = snap
    this.route = route
    this.ctx = ctx
    this.res = ctx.res
    this.onClose = () => this.finish()
  }

  /** Runs rewrite → access → beforeUpstream from phase index `i`, going async only when a plugin does. */
  runPhases(i: number): void {
    const pipeline = this.route.pipeline!
    for (; i < REQUEST_PHASES.length; i++) {
      const steps = pipeline[REQUEST_PHASES[i]!]
      if (steps === null) continue
      let v: Verdict | Promise<Verdict>
      try {
        v = runRequestPhase(steps, REQUEST_PHASES[i]!, this.ctx)
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

  localReply(v: Exclude<Verdict, undefined>): void {
    this.error = v.error
    sendLocalReply(this.res, this.ctx.id, v, this.ctx.responseHeaders)
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

  proxy(): void {
    const target = this.route.cluster.pick(this.ctx)
    if (target === undefined) return this.fail('no_healthy_target')
    this.target = target
    this.ctx.target = target.origin
    const req = this.ctx.req
    const headers = req.headers
    let body: IncomingMessage | BodyLimit | null = null
    if (headers['transfer-encoding'] !== undefined) {
      body = req.pipe(new BodyLimit(this.route.maxBodySize))
      // A client that aborts mid-upload must not leave the limiter's consumer waiting.
      req.once('error', (e) => (body as BodyLimit).destroy(e))
    } else if (headers['content-length'] !== undefined && headers['content-length'] !== '0') {
      body = req
    }
    const t = this.route.timeouts
    if (t.total > 0) this.timer = setTimeout(onTotalTimeout, t.total, this)
    const q = this.ctx.query
    this.ctx.upstreamStart = performance.now()
    target.pool(t.connect).dispatch(
      {
        path: target.basePath + this.ctx.upstreamPath + (q === '' ? '' : '?' + q),
        method: req.method as Dispatcher.HttpMethod,
        headers: this.ctx.upstreamHeaders as Record<string, string | string[]>,
        body,
        headersTimeout: t.read,
        bodyTimeout: t.read,
      },
      this,
    )
  }

  // ---- undici DispatchHandler ----

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.abortReason !== null) controller.abort(this.abortReason)
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>): void {
    if (statusCode < 200) return // 1xx informational: not relayed
    this.ctx.upstreamDurationMs = performance.now() - this.ctx.upstreamStart
    cleanResponseHeaders(headers)
    headers.via = headers.via === undefined ? '1.1 portico' : `${String(headers.via)}, 1.1 portico`
    headers['x-request-id'] = this.ctx.id
    const extra = this.ctx.responseHeaders
    if (extra !== null) for (const k in extra) headers[k] = extra[k]!
    const steps = this.route.pipeline?.response ?? null
    if (steps === null) {
      this.writeHead(statusCode, headers)
      return
    }
    const head: UpstreamHead = { status: statusCode, headers }
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
          this.writeHead(head.status, head.headers)
          controller.resume()
        },
        (err: unknown) => controller.abort(err as Error),
      )
      return
    }
    this.writeHead(head.status, head.headers)
  }

  writeHead(status: number, headers: Record<string, string | string[]>): void {
    if (this.res.destroyed) return
    this.status = status
    if (this.host.draining) headers.connection = 'close'
    this.res.writeHead(status, headers)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytes += chunk.length
    if (!this.res.write(chunk)) {
      controller.pause()
      this.res.once('drain', () => controller.resume())
    }
  }

  onResponseEnd(): void {
    this.clearTimer()
    this.res.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.clearTimer()
    const res = this.res
    // Already answered (e.g. a total timeout replied while the request was still queued).
    if (err instanceof ClientGone || res.writableEnded) return
    if (res.headersSent) {
      // Bytes already reached the client: all we can do is cut the response so it sees a truncation.
      this.error = 'upstream_bad_response'
      res.destroy()
      return
    }
    if (err instanceof PluginFailure) return this.pluginFailed(err)
    if (err instanceof PayloadTooLarge) return this.fail('payload_too_large', `request body exceeds ${this.route.maxBodySize} bytes`, true)
    const code = (err as { code?: string }).code
    switch (code) {
      case 'PORTICO_TOTAL_TIMEOUT':
        return this.fail('upstream_timeout', `no complete response within ${this.route.timeouts.total}ms`)
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
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
  }

  abort(reason: Error): void {
    if (this.controller !== null) this.controller.abort(reason)
    else this.abortReason = reason
  }

  /** res 'close': the response ended or the client went away. Metrics, access log, log phase. */
  finish(): void {
    if (this.done) return
    this.done = true
    this.clearTimer()
    const res = this.res
    if (!res.writableFinished) {
      // The client went away first: stop the upstream exchange too.
      this.abort(new ClientGone('client closed the connection'))
      if (this.error === undefined) this.error = 'client_closed'
    }
    this.snap.inFlight--
    this.host.inFlight--
    const status = res.writableFinished ? res.statusCode : 499
    const ms = performance.now() - this.ctx.start
    const ctx = this.ctx
    recordRequest(this.route.name, ctx.method, status, ms / 1000)
    if (this.snap.accessLog) {
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
      })
    }
    const logSteps = this.route.pipeline?.log ?? null
    if (logSteps !== null) {
      runLogPhase(logSteps, ctx, { status, bytesSent: this.bytes, durationMs: ms, upstreamDurationMs: ctx.upstreamDurationMs, error: this.error }, (plugin, err) =>
        this.host.logger.warn({ err, plugin, request_id: ctx.id }, 'plugin log handler failed'),
      )
    }
  }
}

function onTotalTimeout(ex: Exchange): void {
  ex.timer = null
  ex.abort(new UpstreamTimeout('total timeout'))
  if (ex.controller === null) {
    // Still queued for a connection: answer now; the abort reaches undici when it starts the request.
    ex.onResponseError(null as unknown as Dispatcher.DispatchController, new UpstreamTimeout('total timeout'))
  }
}
