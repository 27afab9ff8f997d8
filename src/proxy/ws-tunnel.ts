// The WebSocket pipeline every downstream protocol shares: a handshake that arrived on an HTTP/1.1
// Upgrade (proxy/upgrade.ts) or an HTTP/2 extended CONNECT stream (proxy/ws-h2.ts, RFC 8441) goes
// through the same front half (proxy/front.ts), routing and the route's rewrite → access →
// beforeUpstream phases as any request, then the route's session limit, the cluster's guards and
// balancer, then one HTTP/1.1 Upgrade handshake with the picked target over its own socket
// (node:http / node:https with the upstream's tls options). The target's 101 is checked, the
// client gets the protocol's "open" answer (a 101, or :status 200 on HTTP/2), then the client's
// duplex (socket or stream) and the upstream socket are piped both ways: frames are never
// buffered, backpressure is the pipes'. Anything refused on the way is a normal HTTP error reply
// (JSON body). Each protocol is an adapter (WsDownstream): its own request checks, the key of the
// upstream handshake, and how the open answer is written.
import http, { type ServerResponse, type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { CompiledRoute, Snapshot } from '../snapshot/compile.js'
import type { Target } from '../upstream/target.js'
import { RequestContext } from '../core/context.js'
import { clientAddress, hostName, plainAddress } from '../core/address.js'
import type { ErrorCode } from '../core/errors.js'
import type { Verdict } from '../core/verdict.js'
import { PluginFailure, runRequestPhases, type Pipeline } from '../plugins/pipeline.js'
import { REJECTED, type Ticket } from '../upstream/breaker.js'
import { ADMITTED_NOW, QUEUED, admit, releaseGuards, type GuardHolder } from '../upstream/guards.js'
import { FailureKind, failureKind, failureReply } from '../upstream/failure.js'
import { recordAuthFailure, recordRequest, upstreamDuration, upstreamSeries, websocketHandshakes } from '../observability/metrics.js'
import { newRequestId } from './request-id.js'
import { requestSkipSet, responseHeaderList, upstreamRequestHeaders, validRequestId, viaOf } from './forward.js'
import { sendError, sendLocalReply } from './errors-reply.js'
import { headProblem, hostValid, targetPath, upstreamPath } from './front.js'
import { complete, completeEarly, type Outcome } from './completion.js'
import { FrameTracker, closeFrame } from './ws-frames.js'
import type { ClosableSession } from './ws-sessions.js'
import type { ProxyEnv } from './env.js'
import type { ListenerHooks } from './listeners/hooks.js'
import type { TLSSocket } from 'node:tls'

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const EMPTY_BODY = Buffer.alloc(0)
/** How long gateway-sent close frames get to reach the peer before the sockets are cut. */
const CLOSE_GRACE_MS = 2000

/** An Upgrade header that asks for WebSocket (a token list; RFC 6455 §4.1 says case-insensitive). */
export function asksWebSocket(v: string | undefined): boolean {
  return v !== undefined && /(^|,)\s*websocket\s*(,|$)/i.test(v)
}

/** The header list of a response, [name, value, …] (proxy/forward.ts responseHeaderList). */
export type HeaderList = ReturnType<typeof responseHeaderList>

/** The bytes of an open session towards the client: a socket, or an HTTP/2 stream. */
export type ClientDuplex = Duplex & { setTimeout(ms: number): unknown }

/** What a downstream protocol brings to the shared pipeline; one per handshake. */
export interface WsDownstream {
  /** Carries the session's frames once open; its 'close' ends the handshake or the session. */
  readonly duplex: ClientDuplex
  /** The connection's socket: the peer address, and on TLS the SNI name. */
  readonly socket: Socket
  /** Routes see the handshake as this method (an HTTP/2 extended CONNECT stands for the GET). */
  readonly routeMethod: string
  /** The status the session is counted with: 101, or 200 on HTTP/2 (RFC 8441 §5). */
  readonly openStatus: number
  /** Frame bytes the client sent with its handshake (HTTP/1.1: after the head, in the same read). */
  readonly head: Buffer
  /** This protocol's handshake rules once the route allows WebSocket: a message makes it a 400. */
  problem(req: IncomingMessage): string | undefined
  /** Sec-WebSocket-Key of the upstream handshake (valid once problem() found none). */
  key(req: IncomingMessage): string
  /** The target accepted: tell the client, with the target's headers (hop-by-hop ones removed). */
  open(res: ServerResponse, list: HeaderList): void
}

/**
 * Runs a WebSocket handshake from the front half to the tunnel. `res` is the reply of the
 * handshake's request until the tunnel opens (errors, plugin replies, the target's non-101).
 */
export function handshake(env: ProxyEnv, hooks: ListenerHooks, req: IncomingMessage, res: ServerResponse, down: WsDownstream): void {
  const proto = hooks.proto
  const tls = hooks.tls
  const snap = env.snapshot!
  const start = performance.now()
  const headers = req.headers
  const id = validRequestId(headers['x-request-id']) ?? newRequestId()
  const refuse = (code: ErrorCode, message?: string, route?: CompiledRoute, ctx?: RequestContext): void => {
    sendError(res, id, code, message, ctx?.responseHeaders ?? null, true)
    completeEarly(env, snap, req, id, start, res.statusCode, code, ctx)
    if (route !== undefined) countHandshake(route.name, 'refused')
  }
  if (env.draining) return refuse('shutting_down')

  const problem = headProblem(headers, req.rawHeaders)
  if (problem !== undefined) return refuse('bad_request', problem)
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = targetPath(url, q)
  if (path === undefined) return refuse('invalid_path')
  const hostHeader = headers.host
  if (hostHeader === undefined) return refuse('bad_request', 'no Host header')
  if (!hostValid(hostHeader)) return refuse('invalid_host')

  const method = down.routeMethod
  const hostOnly = hostName(hostHeader)
  const socket = down.socket
  // The listener's hooks, as in the request handler: fronts (the https redirect, ACME answers),
  // then on https the Host/SNI binding and HSTS.
  if (hooks.front !== null && hooks.front(req, res, hostOnly, path)) return
  let sni = ''
  if (tls !== null) {
    if (!tls.checkHost(req, hostOnly)) return refuse('misdirected_request', `this connection's certificate does not cover ${hostOnly}`)
    if (tls.hsts !== null) res.setHeader('strict-transport-security', tls.hsts)
    sni = (socket as TLSSocket).servername || ''
  }
  const match = snap.router.match(hostOnly, method, path, headers, sni)
  if (match.kind !== 'found') {
    if (match.kind === 'not_found') return refuse('route_not_found', `no route for ${method} ${path}`)
    res.setHeader('allow', match.allow)
    return refuse('method_not_allowed', `${method} is not allowed on ${path}`)
  }
  const route = match.data
  // Opt-in per route: a handshake on any other route never opens a tunnel.
  if (route.websocket === null) return refuse('not_implemented', 'WebSocket is not enabled on this route', route)
  const bad = down.problem(req)
  if (bad !== undefined) return refuse('bad_request', bad, route)
  const key = down.key(req)

  const ctx = new RequestContext(req, res, id, start)
  ctx.host = hostOnly
  ctx.path = path
  ctx.query = q === -1 ? '' : url.slice(q + 1)
  ctx.params = match.params
  ctx.routeName = route.name
  const peer = plainAddress(socket.remoteAddress)
  const trustedPeer = snap.trustedProxies.has(peer)
  ctx.clientIp = trustedPeer ? clientAddress(peer, headers['x-forwarded-for'], snap.trustedProxies) : peer
  ctx.upstreamHeaders = upstreamRequestHeaders(headers, { peer, proto, host: hostHeader, requestId: id, trustedPeer, skip: requestSkipSet(snap.identityHeaders), via: viaOf(req.httpVersion) })
  if (tls !== null) {
    ctx.clientCert = tls.identity(req)
    tls.forward(req, ctx.upstreamHeaders)
  }
  if (route.preserveHost && hostHeader !== '') ctx.upstreamHeaders.host = hostHeader
  ctx.upstreamPath = upstreamPath(route, path)
  if (env.tracing !== null) {
    ctx.trace = env.tracing.start(headers, method, path, proto, ctx.clientIp)
    ctx.trace.setRoute(method, route.name)
  }
  // A handshake has no body; plugins that read one see it empty.
  if (route.pipeline !== null && route.pipeline.bodyLimit !== null) ctx.body = EMPTY_BODY

  const session = new WsSession(env, snap, route, ctx, down, key)
  session.begin()
}

function countHandshake(route: string, result: 'accepted' | 'refused' | 'limited' | 'failed'): void {
  websocketHandshakes.series(`${route}\u0000${result}`, { route, result }).value++
}

/** Handshake phases (Phase.x); the session's lifecycle in one field. */
const Phase = { Handshake: 0, Open: 1, Done: 2 } as const
type Phase = (typeof Phase)[keyof typeof Phase]

/**
 * One WebSocket session, from the routed handshake to the last byte. Counted in env.inFlight for
 * its whole life (so a drain waits for it), in snap.inFlight only during its handshake (its
 * Snapshot may retire under an open session: the session holds its own sockets, nothing of the
 * cluster's pools).
 */
class WsSession implements GuardHolder, Outcome, ClosableSession {
  readonly env: ProxyEnv
  readonly snap: Snapshot
  route: CompiledRoute
  readonly ctx: RequestContext
  readonly res: ServerResponse
  readonly downstream: WsDownstream
  readonly client: ClientDuplex
  readonly key: string
  pipeline: Pipeline | null
  consumerResolved = false
  ticket: Ticket = REJECTED
  holdsSlot = false
  phase: Phase = Phase.Handshake
  /** Counted against route.name in env.websockets (from the limit check on). */
  reserved = false
  target: Target | null = null
  upstreamReq: http.ClientRequest | null = null
  upstream: Socket | null = null
  timer: NodeJS.Timeout | null = null
  status = 0
  error: string | undefined = undefined
  cause: string | undefined = undefined
  tries = 0
  /**
   * Frame bytes sent to the client once open (Outcome.bytes), and received from it: counted as
   * they pass, the same on a socket and on a stream (whose connection carries other streams).
   */
  bytes = 0
  received = 0
  down: FrameTracker | null = null
  up: FrameTracker | null = null
  shutting = false

  constructor(env: ProxyEnv, snap: Snapshot, route: CompiledRoute, ctx: RequestContext, downstream: WsDownstream, key: string) {
    this.env = env
    this.snap = snap
    this.route = route
    this.ctx = ctx
    this.res = ctx.res
    this.downstream = downstream
    this.client = downstream.duplex
    this.key = key
    this.pipeline = route.pipeline
  }

  /** GuardHolder / Waiter: the handshake ended (client gone) while queued. */
  get done(): boolean {
    return this.phase === Phase.Done
  }

  begin(): void {
    this.snap.inFlight++
    this.env.inFlight++
    this.client.once('close', () => this.clientClosed())
    if (this.pipeline === null) return this.connect()
    this.runPhases(0)
  }

  runPhases(i: number): void {
    runRequestPhases(this, i)
  }

  // PhaseHost (plugins/pipeline.ts): what the shared phase runner asks of the handshake.
  waiting(): boolean {
    return this.phase === Phase.Handshake
  }

  /** A handshake has no body to read first. */
  pauseBefore(): boolean {
    return false
  }

  phasesPassed(): void {
    this.connect()
  }

  localReply(v: Exclude<Verdict, undefined>): void {
    if (this.phase !== Phase.Handshake) return
    this.error = v.error
    recordAuthFailure(this.route.name, v.status, v.error)
    // A background reply (the cache's refresh) makes no sense for a tunnel: the reply is the answer.
    sendLocalReply(this.res, this.ctx.id, v, this.ctx.responseHeaders)
    this.handshakeOver(this.res.statusCode, v.status >= 500 ? 'failed' : 'refused')
  }

  pluginFailed(err: unknown): void {
    const plugin = err instanceof PluginFailure ? err.plugin : 'unknown'
    this.env.logger.error({ err, plugin, request_id: this.ctx.id, route: this.route.name }, 'plugin failed')
    this.fail('plugin_error', `plugin ${plugin} failed`, 'failed')
  }

  fail(code: ErrorCode, message: string | undefined, result: 'refused' | 'limited' | 'failed'): void {
    if (this.phase !== Phase.Handshake) return
    this.error = code
    sendError(this.res, this.ctx.id, code, message, this.ctx.responseHeaders, true)
    this.handshakeOver(this.res.statusCode, result)
  }

  /** After the request phases: the route's session limit, then the cluster's guards, then the target. */
  connect(): void {
    if (this.phase !== Phase.Handshake) return
    // A cache plugin may have set a tap; there is no response body for it to see.
    const tap = this.ctx.tap
    if (tap !== null) {
      this.ctx.tap = null
      try {
        tap.onError(new Error('WebSocket handshake: no cacheable response'))
      } catch {
        // a tap's failure must not fail the handshake
      }
    }
    const split = this.route.split
    if (split !== null) this.route = split.choose(this.ctx)
    const limit = this.route.websocket!.maxConnections
    const sessions = this.env.websockets
    if (limit > 0 && sessions.count(this.route.name) >= limit) {
      return this.fail('websocket_limit', `${limit} WebSocket sessions are open on this route`, 'limited')
    }
    sessions.reserve(this.route.name)
    this.reserved = true
    const cluster = this.route.cluster
    if (cluster.guarded) {
      // The guards cover the handshake, not the session: a long-lived tunnel must not hold a
      // bulkhead slot that HTTP requests wait for. The slot and the ticket go back at the 101.
      const r = admit(cluster, this)
      if (r === QUEUED) return
      if (r !== ADMITTED_NOW) {
        if (r.retryAfter !== undefined) this.res.setHeader('retry-after', String(r.retryAfter))
        return this.fail(r.code, r.message, 'failed')
      }
    }
    this.dial()
  }

  /** Waiter: a bulkhead slot was handed to this queued handshake. */
  admitted(): void {
    this.holdsSlot = true
    this.dial()
  }

  dial(): void {
    if (this.phase !== Phase.Handshake) return
    const cluster = this.route.cluster
    const target = cluster.pick(this.ctx)
    if (target === undefined) return this.fail('no_healthy_target', undefined, 'failed')
    this.tries = 1
    this.target = target
    this.ctx.target = target.origin
    target.inFlight++
    const ctx = this.ctx
    const headers = ctx.upstreamHeaders
    headers.connection = 'Upgrade'
    headers.upgrade = 'websocket'
    // The client's key on HTTP/1.1; on HTTP/2 (no key there) the one made for this hop.
    headers['sec-websocket-key'] = this.key
    if (headers.host === undefined) headers.host = target.hostHeader
    const q = ctx.query
    const path = target.basePath + ctx.upstreamPath + (q === '' ? '' : '?' + q)
    if (ctx.trace !== null) ctx.trace.startAttempt(headers, 'GET', target.origin, path)
    const u = new URL(target.origin)
    const tls = u.protocol === 'https:'
    const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    const opts: https.RequestOptions = {
      // The cluster's upstream.tls (CA, server_name, pinned names, client certificate, verify), as
      // its pools use it; the request's own fields below come last and win.
      ...(tls ? cluster.tls : null),
      hostname,
      port: u.port === '' ? (tls ? 443 : 80) : Number(u.port),
      path,
      method: 'GET',
      headers,
      agent: false,
      setHost: false,
    }
    // TLS towards the target is verified unless upstream.tls says `verify: false`; SNI and the
    // name checked are its host unless server_name or pinned_names say otherwise.
    const req = tls ? https.request(opts) : http.request(opts)
    this.upstreamReq = req
    ctx.upstreamStart = performance.now()
    const t = this.route.timeouts
    this.timer = setTimeout(() => req.destroy(codedError('connect timeout', 'UND_ERR_CONNECT_TIMEOUT')), t.connect)
    req.once('socket', (s: Socket) => {
      const connected = (): void => {
        if (this.timer !== null) clearTimeout(this.timer)
        this.timer = setTimeout(() => req.destroy(codedError('no handshake answer', 'UND_ERR_HEADERS_TIMEOUT')), t.read)
      }
      if (s.connecting) s.once(tls ? 'secureConnect' : 'connect', connected)
      else connected()
    })
    req.once('upgrade', (upRes: IncomingMessage, upSocket: Socket, upHead: Buffer) => this.upgraded(upRes, upSocket, upHead))
    req.once('response', (upRes: IncomingMessage) => this.answeredWithout101(upRes))
    req.on('error', (err: Error) => this.upstreamFailed(err))
    req.end()
  }

  clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
  }

  /** The target's head arrived after `ms`: latency metrics and passive health, as for any request. */
  observeHead(status: number): void {
    const now = performance.now()
    const ms = now - this.ctx.upstreamStart
    this.ctx.upstreamDurationMs = ms
    const target = this.target!
    upstreamDuration.observe((target.latency ??= upstreamSeries(this.route.cluster.name, target.url)), ms / 1000)
    if (this.ctx.trace !== null) this.ctx.trace.attemptStatus(status)
    const cluster = this.route.cluster
    if (cluster.observed) cluster.observeStatus(target, status, ms, now)
  }

  upstreamFailed(err: Error): void {
    this.clearTimer()
    if (this.phase !== Phase.Handshake) return
    const cluster = this.route.cluster
    if (cluster.observed && failureKind(err) !== FailureKind.None) {
      const now = performance.now()
      cluster.observeFailure(this.target!, now - this.ctx.upstreamStart, now, err)
    }
    this.cause = (err as { code?: string }).code ?? err.name
    const t = this.route.timeouts
    const reply = failureReply(err, { total: t.total, read: t.read, perTry: undefined }, false) ?? { code: 'upstream_unreachable' as const, message: undefined }
    if (this.ctx.trace !== null) this.ctx.trace.endAttempt(reply.code)
    this.fail(reply.code, reply.message, 'failed')
  }

  /**
   * The target answered the handshake with something else than 101 (401, 404, 426, a plain 200 …):
   * relayed as it is, body included, and the connection closes. No tunnel.
   */
  answeredWithout101(upRes: IncomingMessage): void {
    this.clearTimer()
    if (this.phase !== Phase.Handshake) {
      upRes.destroy()
      return
    }
    const status = upRes.statusCode ?? 502
    this.observeHead(status)
    if (this.ctx.trace !== null) this.ctx.trace.endAttempt(undefined)
    this.status = status
    const res = this.res
    res.writeHead(status, responseHeaderList(upRes.headers as Record<string, string | string[]>, this.ctx.id, this.ctx.responseHeaders))
    upRes.on('data', (c: Buffer) => (this.bytes += c.length))
    upRes.pipe(res)
    upRes.once('end', () => this.handshakeOver(status, 'failed'))
    upRes.once('error', () => {
      res.destroy()
      this.handshakeOver(status, 'failed')
    })
  }

  upgraded(upRes: IncomingMessage, up: Socket, upHead: Buffer): void {
    this.clearTimer()
    if (this.phase !== Phase.Handshake) {
      up.destroy()
      return
    }
    this.observeHead(101)
    const h = upRes.headers
    const expected = createHash('sha1').update(this.key + WS_GUID).digest('base64')
    if (upRes.statusCode !== 101 || !asksWebSocket(h.upgrade) || h['sec-websocket-accept'] !== expected) {
      // A 101 to something else (h2c, a bogus accept): not a WebSocket the client asked for.
      up.destroy()
      if (this.ctx.trace !== null) this.ctx.trace.endAttempt('upstream_bad_response')
      this.cause = 'bad_websocket_accept'
      return this.fail('upstream_bad_response', 'the upstream answered the handshake with an invalid 101', 'failed')
    }
    if (this.ctx.trace !== null) this.ctx.trace.endAttempt(undefined)
    const client = this.client
    this.status = this.downstream.openStatus
    this.phase = Phase.Open
    this.upstream = up
    this.upstreamReq = null
    this.snap.inFlight--
    if (this.route.cluster.guarded) releaseGuards(this.route.cluster, this, undefined, 101)
    recordRequest(this.route.name, 'GET', this.status, (performance.now() - this.ctx.start) / 1000)
    countHandshake(this.route.name, 'accepted')
    this.env.websockets.add(this)

    // The open answer: the target's headers minus hop-by-hop ones (Sec-WebSocket-Protocol and
    // -Extensions pass through), this hop's Via and request id, plus the plugins' extra headers.
    this.downstream.open(this.res, responseHeaderList(h as Record<string, string | string[]>, this.ctx.id, this.ctx.responseHeaders))
    up.setNoDelay(true)
    up.on('error', onSocketError)
    const head = this.downstream.head
    if (upHead.length > 0) client.write(upHead)
    if (head.length > 0) up.write(head)
    this.bytes = upHead.length
    this.received = head.length

    // Frame boundaries per direction, so a gateway-made close frame never lands inside a frame.
    const down = (this.down = new FrameTracker())
    const upward = (this.up = new FrameTracker())
    if (upHead.length > 0) down.feed(upHead)
    if (head.length > 0) upward.feed(head)
    up.pipe(client)
    client.pipe(up)
    up.on('data', (c: Buffer) => {
      this.bytes += c.length
      down.feed(c)
    })
    client.on('data', (c: Buffer) => {
      this.received += c.length
      upward.feed(c)
    })
    up.once('close', () => this.closed())
    // One side gone: the other is ended (pipe does it on a clean end) or cut (on an error).
    up.once('error', () => client.destroy())
    client.once('error', () => up.destroy())

    const ws = this.route.websocket!
    if (ws.idleMs > 0) {
      // Inactivity of the socket or stream counts reads and writes: every byte either way passes through `client`.
      client.setTimeout(ws.idleMs)
      client.once('timeout', () => this.shut(1001, 'idle_timeout'))
    }
    if (ws.lifetimeMs > 0) this.timer = setTimeout(() => this.shut(1001, 'max_lifetime'), ws.lifetimeMs)
  }

  /**
   * Ends an open session from the gateway's side: stops forwarding, sends each side a close
   * frame with `code` when its direction is between frames (else that side's socket is cut), and
   * cuts whatever is still open after CLOSE_GRACE_MS. `reason` is the access log's error.
   */
  shut(code: number, reason: string): void {
    if (this.phase !== Phase.Open || this.shutting) return
    this.shutting = true
    this.error = reason
    const client = this.client
    const up = this.upstream!
    up.unpipe(client)
    client.unpipe(up)
    // unpipe() paused both: keep reading (and dropping) so each side's closing handshake and FIN arrive.
    up.resume()
    client.resume()
    if (this.down!.atBoundary) client.end(closeFrame(code, false))
    else client.destroy()
    if (this.up!.atBoundary) up.end(closeFrame(code, true))
    else up.destroy()
    setTimeout(() => {
      client.destroy()
      up.destroy()
    }, CLOSE_GRACE_MS).unref()
  }

  clientClosed(): void {
    if (this.phase === Phase.Handshake) {
      // The client left during the handshake: stop the target's side too.
      if (this.upstreamReq !== null) this.upstreamReq.destroy()
      this.clearTimer()
      if (this.error === undefined) this.error = 'client_closed'
      this.handshakeOver(this.res.headersSent ? this.res.statusCode : 499, 'failed')
      return
    }
    if (this.phase === Phase.Open) {
      this.upstream!.end()
      // A target that does not answer its FIN keeps nothing open for long.
      setTimeout(() => this.upstream!.destroy(), CLOSE_GRACE_MS).unref()
      this.closed()
    }
  }

  /** Either socket of an open session closed: the session is over (once). */
  closed(): void {
    if (this.phase !== Phase.Open) return
    this.phase = Phase.Done
    this.clearTimer()
    const client = this.client
    if (!client.destroyed) {
      client.end()
      setTimeout(() => client.destroy(), CLOSE_GRACE_MS).unref()
    }
    this.env.websockets.delete(this)
    this.release()
    complete(this.env, this.snap, this.status, this, this.received)
  }

  /** A handshake that ended without a session: guards, counts and the request's completion. */
  handshakeOver(status: number, result: 'refused' | 'limited' | 'failed'): void {
    if (this.phase !== Phase.Handshake) return
    this.phase = Phase.Done
    this.clearTimer()
    this.snap.inFlight--
    if (this.route.cluster.guarded) releaseGuards(this.route.cluster, this, this.error, this.status)
    countHandshake(this.route.name, result)
    this.release()
    complete(this.env, this.snap, status, this)
  }

  release(): void {
    if (this.reserved) {
      this.reserved = false
      this.env.websockets.release(this.route.name)
    }
    if (this.target !== null) {
      this.target.inFlight--
      this.target = null
    }
    this.env.requestEnded()
  }
}

function onSocketError(this: Socket): void {
  this.destroy()
}

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code })
}
