// An https listener: Node's https server (TLS, then the same HTTP/1.1 parser and limits as the
// cleartext listener) with the TLS side built by src/tls (certificates chosen by SNI, versions,
// tickets, OCSP, client certificates). Requests go to the shared entry (proxy/handler.ts) with
// scheme https and the TLS hooks: Host bound to the connection's certificate (421), HSTS, and the
// client certificate for plugins and upstream headers.
import https from 'node:https'
import http2 from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { HostPort } from '../../core/address.js'
import type { Socket } from 'node:net'
import type { TlsListener } from '../../tls/listener.js'
import { checkContinue } from '../continue.js'
import { createHandler } from '../handler.js'
import { createUpgradeHandler } from '../upgrade.js'
import { createExtendedConnectHandler } from '../ws-h2.js'
import type { ProxyEnv } from '../env.js'
import { NodeListener, bind, clientErrorReply, serverOptions, type Listener, type ListenerLimits } from './http.js'
import { H2Sessions, h2RequestListener, h2ServerOptions, type H2Settings } from './h2.js'

/** What an https listener serves by ALPN: http/1.1, h2 (its settings; null = off), or both. */
export interface TlsProtocols {
  http1: boolean
  h2: H2Settings | null
}

/**
 * Binds one https listener at `at` (or listens on `handle`, see bind) serving `tls` (made by
 * tls/listener.ts createTlsListener, with the ALPN list of `protocols`). Without h2 it is Node's
 * https server; with h2, node:http2's secure server, which serves HTTP/1.1 itself when ALPN picks
 * http/1.1 (allowHTTP1) with the same HTTP/1.1 limits, set on it below.
 */
export async function listenHttps(env: ProxyEnv, at: HostPort, limits: ListenerLimits, tls: TlsListener, handle?: object, protocols: TlsProtocols = { http1: true, h2: null }): Promise<Listener> {
  const hooks = { proto: 'https' as const, front: null, tls }
  const handler = createHandler(env, hooks)
  if (protocols.h2 !== null) return listenH2(env, at, limits, tls, handle, protocols.h2, protocols.http1, handler, hooks)
  const server = https.createServer({ ...serverOptions(limits), ...tls.serverOptions }, handler)
  server.on('checkContinue', checkContinue(handler))
  server.on('clientError', clientErrorReply)
  // WebSocket over TLS (wss://): the same upgrade handler as the cleartext listener.
  server.on('upgrade', createUpgradeHandler(env, hooks, handler))
  tls.attach(server)
  const listener = new NodeListener(server, tls, limits)
  await bind(server, at, handle)
  return listener
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

async function listenH2(
  env: ProxyEnv,
  at: HostPort,
  limits: ListenerLimits,
  tls: TlsListener,
  handle: object | undefined,
  h2: H2Settings,
  http1: boolean,
  handler: Handler,
  hooks: Parameters<typeof createUpgradeHandler>[1],
): Promise<Listener> {
  // ALPNProtocols is set by node:http2 from allowHTTP1 (h2 first); an ALPNCallback (TLS-ALPN-01)
  // was given the same list by the data plane.
  const server = http2.createSecureServer({ ...tls.serverOptions, ...h2ServerOptions(h2), allowHTTP1: http1 })
  // The HTTP/1.1 side reads node:http's options off the server object (node:_http_server).
  Object.assign(server, serverOptions(limits))
  ;(server as unknown as { timeout: number }).timeout = 0
  // Both kinds of request, HTTP/1.1 (IncomingMessage) and HTTP/2 (h2.ts H2Request), go to the one
  // handler; an HTTP/1.1 request pays one version check here for the HTTP/2 wrapper's sake.
  const h2Handler = h2RequestListener(handler, h2.maxHeaderListSize)
  const h2Continue = h2RequestListener(checkContinue(handler), h2.maxHeaderListSize)
  const continued = checkContinue(handler)
  server.on('request', (req: http2.Http2ServerRequest | IncomingMessage, res: http2.Http2ServerResponse | ServerResponse) => {
    if (req.httpVersionMajor === 2) h2Handler(req as http2.Http2ServerRequest, res as http2.Http2ServerResponse)
    else handler(req as IncomingMessage, res as ServerResponse)
  })
  server.on('checkContinue', (req: http2.Http2ServerRequest | IncomingMessage, res: http2.Http2ServerResponse | ServerResponse) => {
    if (req.httpVersionMajor === 2) h2Continue(req as http2.Http2ServerRequest, res as http2.Http2ServerResponse)
    else continued(req as IncomingMessage, res as ServerResponse)
  })
  // CONNECT streams: WebSocket over HTTP/2 (RFC 8441, proxy/ws-h2.ts). The HTTP/1.1 side emits
  // 'connect' too now that there is a listener: such a CONNECT is cut, as node:http does without one.
  const h2Connect = h2RequestListener(createExtendedConnectHandler(env, hooks) as unknown as Handler, h2.maxHeaderListSize)
  server.on('connect', (req: http2.Http2ServerRequest | IncomingMessage, res: http2.Http2ServerResponse | Socket) => {
    if (req.httpVersionMajor === 2) h2Connect(req as http2.Http2ServerRequest, res as http2.Http2ServerResponse)
    else (res as Socket).destroy()
  })
  if (http1) {
    server.on('clientError' as 'session', clientErrorReply as unknown as () => void)
    server.on('upgrade' as 'session', createUpgradeHandler(env, hooks, handler) as unknown as () => void)
  }
  tls.attach(server)
  const listener = new NodeListener(server, tls, limits).withH2((onSession) => new H2Sessions(server, h2, limits.headersTimeoutMs, limits.keepAliveTimeoutMs, onSession))
  await bind(server, at, handle)
  return listener
}
