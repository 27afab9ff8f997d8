// A cleartext HTTP/1.1 listener: Node's http server with the gateway's limits, the raw reply to
// requests Node could not parse, a live connection count, and close/drain for the data plane. The
// requests themselves go to the shared entry (proxy/handler.ts) with this listener's scheme and
// fronts (ACME HTTP-01 answers, the redirect to https). listeners/https.ts reuses the pieces.
import http from 'node:http'
import type https from 'node:https'
import http2 from 'node:http2'
import net, { type AddressInfo, type Socket } from 'node:net'
import { errorBody, type ErrorCode } from '../../core/errors.js'
import type { HostPort } from '../../core/address.js'
import { checkContinue } from '../continue.js'
import { createHandler } from '../handler.js'
import { createUpgradeHandler } from '../upgrade.js'
import { createExtendedConnectHandler } from '../ws-h2.js'
import type { ProxyEnv } from '../env.js'
import { composeFronts, type Front } from './hooks.js'
import { checkingIntervalMs, ConnectionGuard } from './connections.js'
import type { TlsListener } from '../../tls/listener.js'
import type { RedirectHttpsConfig } from '../../config/schema/tls.js'
import { H2Sessions, h2RequestListener, h2ServerOptions, kH2Socket, sniffPreface, toH2, type H2Settings, type MaybeH2Socket } from './h2.js'

/** The server limits every listener applies (server.*, defaults applied). */
export interface ListenerLimits {
  maxHeaderSize: number
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
  maxConnections: number
}

/** What the data plane holds of a bound listener, whatever its protocol. */
export interface Listener {
  /** The TLS side of an https listener (certificates, reloads, /status), or null for cleartext. */
  readonly tls: TlsListener | null
  readonly connections: number
  readonly listening: boolean
  address(): AddressInfo
  /**
   * Connections accepted that have not been answered yet and carry no request in flight: their
   * request may still be in the kernel's buffer, so a drain waits for them (bounded) instead of
   * resetting them.
   */
  readonly unanswered: number
  /** Stop accepting (open connections stay); settles when every connection closed. */
  close(): Promise<void>
  /** Close the keep-alive connections that answered and wait for no request (never a fresh one). */
  closeIdleConnections(): void
  closeAllConnections(): void
}

/** node:http's own field: the response a socket is writing, null between requests. */
type ServerSocket = Socket & { _httpMessage?: unknown }

/**
 * Answers a request Node could not parse. Runs outside the request handler, so it writes a raw
 * HTTP/1.1 response with the catalogue's JSON body and closes the connection.
 */
export function clientErrorReply(err: NodeJS.ErrnoException & { bytesParsed?: number }, socket: Socket): void {
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
    socket.destroy()
    return
  }
  let code: ErrorCode = 'bad_request'
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      code = 'header_fields_too_large'
      break
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADER_TIMEOUT':
      code = 'request_timeout'
      break
  }
  const status = code === 'header_fields_too_large' ? 431 : code === 'request_timeout' ? 408 : 400
  const reason = code === 'header_fields_too_large' ? 'Request Header Fields Too Large' : code === 'request_timeout' ? 'Request Timeout' : 'Bad Request'
  // No request id exists yet: the request never got that far.
  const body = errorBody(code, '', code === 'bad_request' ? 'malformed request' : undefined)
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
  socket.destroySoon?.()
}

/** The servers a listener binds: HTTP/1.1 (cleartext or TLS) or HTTP/2 over TLS with HTTP/1.1 by ALPN. */
export type BoundServer = http.Server | https.Server | http2.Http2SecureServer

export class NodeListener implements Listener {
  readonly #server: BoundServer
  readonly tls: TlsListener | null
  readonly #guard: ConnectionGuard
  /** The listener's HTTP/2 sessions (h2 by ALPN, or h2c), or null when it serves HTTP/1.1 only. */
  #h2: H2Sessions | null = null

  /**
   * The sockets node:http reads requests from (the TLS socket of an https connection, once its
   * handshake is done), for the drain: added and removed per connection, not per request.
   */
  readonly #sockets = new Set<ServerSocket>()

  constructor(server: BoundServer, tls: TlsListener | null, limits: ListenerLimits) {
    this.#server = server
    this.tls = tls
    this.#guard = new ConnectionGuard(server, limits)
    server.on(tls === null ? 'connection' : 'secureConnection', (socket: Socket) => {
      // An HTTP/2 session's socket (ALPN h2: its session exists by now) is drained by GOAWAY instead.
      if ((socket as MaybeH2Socket)[kH2Socket] === true) return
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
    })
    // An upgraded socket (a WebSocket session, proxy/upgrade.ts) is no HTTP connection any more:
    // its 101 is written and no response is pending, which the drain would take for an idle
    // keep-alive connection and destroy (the session's 1001 close never sent). Sessions have their
    // own drain (dataplane/plane.ts closes them with 1001).
    server.on('upgrade', (_req: http.IncomingMessage, socket: Socket) => this.#sockets.delete(socket))
  }

  /** Serve HTTP/2 sessions too: `make` builds their tracker, told of each socket that goes to HTTP/2. */
  withH2(make: (onSession: (socket: Socket) => void) => H2Sessions): this {
    this.#h2 = make((socket) => this.#sockets.delete(socket))
    return this
  }

  get unanswered(): number {
    let n = 0
    // bytesWritten counts what the HTTP layer wrote (cleartext, also on a TLS socket).
    for (const s of this.#sockets) if (s.bytesWritten === 0 && s._httpMessage == null) n++
    return n
  }

  get connections(): number {
    return this.#guard.connections
  }

  get listening(): boolean {
    return this.#server.listening
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo
  }

  close(): Promise<void> {
    const server = this.#server
    // net.Server's close, not http.Server's: the latter also destroys every connection it counts
    // as idle, and that includes one accepted a moment ago whose request has not been read yet;
    // destroying it with the request in the kernel's buffer sends the client a reset. The drain
    // decides when idle connections close (dataplane/plane.ts).
    const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve())).then(() => this.tls?.close())
    // HTTP/2 says "no new streams" with GOAWAY (its last stream id tells the client which requests
    // were not taken, to retry elsewhere); the session closes once its streams finished.
    this.#h2?.goawayAll()
    return closed
  }

  closeIdleConnections(): void {
    for (const s of this.#sockets) {
      if (s.bytesWritten > 0 && s._httpMessage == null) s.destroy()
    }
  }

  closeAllConnections(): void {
    this.#h2?.destroyAll()
    const server = this.#server as Partial<http.Server>
    if (typeof server.closeAllConnections === 'function') server.closeAllConnections()
    // node:http2's server (its HTTP/1.1 side) has no closeAllConnections: the sockets it serves are ours to cut.
    else for (const s of this.#sockets) s.destroy()
  }
}

/** Node's server options from the gateway's limits, the same for cleartext and https. */
export function serverOptions(limits: ListenerLimits): http.ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    // The whole-request deadline is the upstream's business (timeouts.total); a long upload is legal.
    requestTimeout: 0,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(limits.headersTimeoutMs),
    // Checked in the handler instead (proxy/handler.ts): Node's own refusal is an empty 400,
    // not the catalogue's JSON reply.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
  }
}

/**
 * Listens at `at`, or on `handle` (a socket the control plane bound for in-place upgrades:
 * dataplane/listen-handles.ts); resolves once listening, rejects (EADDRINUSE …) otherwise.
 */
export function bind(server: BoundServer, at: HostPort, handle?: object): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(handle ?? { host: at.host, port: at.port }, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/**
 * redirect_https: every request of this cleartext listener gets a redirect to the same host and
 * target on https (ACME HTTP-01 answers run before it, so a CA still reaches them).
 */
export function redirectFront(r: RedirectHttpsConfig): Front {
  const port = r.port ?? 443
  const status = r.status ?? 308
  const suffix = port === 443 ? '' : `:${port}`
  return (req, res, host, path) => {
    const url = req.url ?? '/'
    // Origin-form keeps its query; absolute-form was reduced to its path by the front half.
    const target = `https://${host}${suffix}${url.charCodeAt(0) === 47 ? url : path}`
    // A request body we will not read makes the connection unusable: close after a non-GET/HEAD.
    res.writeHead(status, { location: target, 'content-length': '0', connection: req.method === 'GET' || req.method === 'HEAD' ? 'keep-alive' : 'close' })
    res.end()
    return true
  }
}

/** What a cleartext listener serves: HTTP/1.1, h2c by prior knowledge, or both on one port. */
export interface CleartextProtocols {
  http1: boolean
  /** h2c's settings, or null without h2c. */
  h2c: H2Settings | null
}

const HTTP1_ONLY: CleartextProtocols = { http1: true, h2c: null }

/**
 * Binds one cleartext listener at `at`; resolves once it listens. `fronts` run before routing.
 * HTTP/1.1 only (the default) is Node's http server as is; with h2c, an http2 server takes the
 * sockets that start with the HTTP/2 preface (h2.ts sniffPreface), and both hand their requests to
 * the same handler. Upgrade: h2c (RFC 7540 §3.2, removed by RFC 9113) is not offered.
 */
export async function listenHttp(env: ProxyEnv, at: HostPort, limits: ListenerLimits, fronts: readonly Front[] = [], handle?: object, protocols: CleartextProtocols = HTTP1_ONLY): Promise<Listener> {
  const hooks = { proto: 'http' as const, front: composeFronts(fronts), tls: null }
  const handler = createHandler(env, hooks)
  const server = http.createServer(serverOptions(limits), handler)
  server.on('checkContinue', checkContinue(handler))
  server.on('clientError', clientErrorReply)
  // Upgrade requests: WebSocket handshakes (proxy/upgrade.ts); other upgrades are served as plain requests.
  server.on('upgrade', createUpgradeHandler(env, hooks, handler))
  const listener = new NodeListener(server, null, limits)
  const h2c = protocols.h2c
  if (h2c !== null) {
    const h2 = http2.createServer(h2ServerOptions(h2c))
    // The compat request/response are the handler's IncomingMessage/ServerResponse as far as it reads them (h2.ts).
    h2.on('request', h2RequestListener(handler, h2c.maxHeaderListSize))
    h2.on('checkContinue', h2RequestListener(checkContinue(handler), h2c.maxHeaderListSize))
    // CONNECT streams: WebSocket over HTTP/2 (RFC 8441) when enable_connect_protocol is on (proxy/ws-h2.ts).
    h2.on('connect', h2RequestListener(createExtendedConnectHandler(env, hooks) as unknown as (req: http.IncomingMessage, res: http.ServerResponse) => void, h2c.maxHeaderListSize))
    ;(h2 as unknown as { timeout: number }).timeout = 0
    listener.withH2((onSession) => new H2Sessions(h2, h2c, limits.headersTimeoutMs, limits.keepAliveTimeoutMs, onSession))
    if (protocols.http1) sniffPreface(server, h2, limits.headersTimeoutMs)
    else {
      // h2c only: every connection is HTTP/2.
      const http1 = server.listeners('connection')[0] as (socket: Socket) => void
      server.removeListener('connection', http1)
      server.prependListener('connection', (socket: Socket) => toH2(h2, socket))
    }
  }
  await bind(server, at, handle)
  return listener
}
