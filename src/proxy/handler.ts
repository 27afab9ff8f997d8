// The request entry: the hot path's first steps for an HTTP/1.1 request. Reads the current Snapshot
// once, runs the front half (proxy/front.ts: head and request-line checks), routes, builds the
// RequestContext and hands over to the Exchange (proxy/exchange.ts). Requests refused before that
// get an early reply here. Everything config-derived was computed when the Snapshot was compiled.
import { performance } from 'node:perf_hooks'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { Snapshot } from '../snapshot/compile.js'
import { RequestContext } from '../core/context.js'
import { clientAddress, hostName, plainAddress } from '../core/address.js'
import type { ErrorCode } from '../core/errors.js'
import { newRequestId } from './request-id.js'
import { requestSkipSet, upstreamRequestHeaders, validRequestId, viaOf } from './forward.js'
import { sendError } from './errors-reply.js'
import { headProblem, hostValid, targetPath, upstreamPath } from './front.js'
import { Exchange } from './exchange.js'
import { isGrpcContentType } from './grpc-status.js'
import { GrpcWeb, grpcWebMode, upstreamType } from './grpc-web.js'
import { completeEarly } from './completion.js'
import type { ProxyEnv } from './env.js'
import type { ListenerHooks } from './listeners/hooks.js'

/**
 * The request handler of one listener. `listener.proto` is its scheme (X-Forwarded-Proto, traces);
 * `front` answers some requests before routing (ACME HTTP-01, the https redirect); `tls` binds Host
 * to the connection's certificate and carries the client certificate. Each is read once here, so a
 * cleartext listener pays two null checks per request.
 */
export function createHandler(env: ProxyEnv, listener: ListenerHooks): (req: IncomingMessage, res: ServerResponse) => void {
  const proto = listener.proto
  const front = listener.front
  const tls = listener.tls
  return function handle(req, res) {
    const snap = env.snapshot!
    const start = performance.now()
    const headers = req.headers
    const id = validRequestId(headers['x-request-id']) ?? newRequestId()
    if (env.draining) res.setHeader('connection', 'close')

    const problem = headProblem(headers, req.rawHeaders)
    if (problem !== undefined) return earlyReply(env, snap, req, res, id, start, 'bad_request', problem)

    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = targetPath(url, q)
    if (path === undefined) return earlyReply(env, snap, req, res, id, start, 'invalid_path')

    const hostHeader = headers.host
    if (hostHeader === undefined) {
      // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400; HTTP/1.0 may omit it.
      if (req.httpVersionMinor !== 0) return earlyReply(env, snap, req, res, id, start, 'bad_request', 'no Host header')
    } else if (!hostValid(hostHeader)) return earlyReply(env, snap, req, res, id, start, 'invalid_host')
    // With no 'upgrade' listener Node hands an upgrade to the request handler as a plain request;
    // proxying it would drop Upgrade/Connection (hop-by-hop) and send a GET the client did not mean.
    const upgrade = headers.upgrade
    if (upgrade !== undefined && upgrade.toLowerCase().includes('websocket')) {
      return earlyReply(env, snap, req, res, id, start, 'not_implemented', 'WebSocket upgrades are not supported', undefined, true)
    }

    const method = req.method ?? 'GET'
    const hostOnly = hostName(hostHeader)
    if (front !== null && front(req, res, hostOnly, path)) return
    let sni = ''
    if (tls !== null) {
      // SNI and Host bound together: a connection is only good for the names its certificate covers.
      if (!tls.checkHost(req, hostOnly)) return earlyReply(env, snap, req, res, id, start, 'misdirected_request', `this connection's certificate does not cover ${hostOnly}`)
      if (tls.hsts !== null) res.setHeader('strict-transport-security', tls.hsts)
      sni = (req.socket as TLSSocket).servername || ''
    }
    let match = snap.router.match(hostOnly, method, path, headers, sni)
    if (match.kind === 'method_not_allowed' && method === 'OPTIONS') match = preflightMatch(snap, hostOnly, path, headers, sni) ?? match
    if (match.kind !== 'found') {
      if (match.kind === 'not_found') return earlyReply(env, snap, req, res, id, start, 'route_not_found', `no route for ${method} ${path}`)
      res.setHeader('allow', match.allow)
      return earlyReply(env, snap, req, res, id, start, 'method_not_allowed', `${method} is not allowed on ${path}`)
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
    ctx.upstreamHeaders = upstreamRequestHeaders(headers, { peer, proto, host: hostHeader ?? '', requestId: id, trustedPeer, skip: requestSkipSet(snap.identityHeaders), via: viaOf(req.httpVersion) })
    if (tls !== null) {
      ctx.clientCert = tls.identity(req)
      tls.forward(req, ctx.upstreamHeaders)
    }
    // gRPC (docs/grpc.md): the one check every request pays is this header lookup. TE: trailers
    // is hop-by-hop but gRPC servers require it (it says the client takes trailers, and the
    // gateway relays them), so it is put back for gRPC calls only. A gRPC call is HTTP/2 only
    // (PROTOCOL-HTTP2.md): an HTTP/1.1 request that merely carries the content-type cannot take
    // trailers, so it is proxied and answered as plain HTTP (JSON errors, no deadline, no TE).
    // gRPC-Web (application/grpc-web*, HTTP/1.1 or HTTP/2) goes upstream as a gRPC call (grpc-web.ts).
    const ct = headers['content-type']
    if (ct !== undefined && ct.startsWith('application/grpc')) {
      if (isGrpcContentType(ct)) {
        if (req.httpVersionMajor === 2) {
          ctx.grpc = true
          ctx.upstreamHeaders.te = 'trailers'
        }
      } else {
        const web = grpcWebMode(ct)
        if (web !== GrpcWeb.None) {
          ctx.grpc = true
          ctx.grpcWeb = web
          ctx.upstreamHeaders.te = 'trailers'
          ctx.upstreamHeaders['content-type'] = upstreamType(ct, web)
          // The decoded body is shorter than the base64 one: its length is the upstream stream's framing.
          if (web === GrpcWeb.Text) delete ctx.upstreamHeaders['content-length']
        }
      }
    }
    if (route.preserveHost && hostHeader !== undefined && hostHeader !== '') ctx.upstreamHeaders.host = hostHeader
    ctx.upstreamPath = upstreamPath(route, path)
    if (env.tracing !== null) {
      ctx.trace = env.tracing.start(headers, method, path, proto, ctx.clientIp)
      ctx.trace.setRoute(method, route.name)
    }

    // Body limit: a declared length is checked now; a chunked body is counted as it streams.
    const cl = headers['content-length']
    if (cl !== undefined && Number(cl) > route.maxBodySize) {
      return earlyReply(env, snap, req, res, id, start, 'payload_too_large', `request body exceeds ${route.maxBodySize} bytes`, ctx, true)
    }

    snap.inFlight++
    env.inFlight++
    const exchange = new Exchange(env, snap, route, ctx)
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

/**
 * Replies before a route's exchange starts (400/404/405/413): no pipeline, counted and logged.
 * 413 and 400 close the connection, since the unread body makes it unusable.
 */
function earlyReply(
  env: ProxyEnv,
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
  sendError(res, id, code, message, ctx?.responseHeaders ?? null, close || code === 'bad_request' || code === 'invalid_path' || code === 'invalid_host')
  completeEarly(env, snap, req, id, start, res.statusCode, code, ctx)
}
