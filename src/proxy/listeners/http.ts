// A cleartext HTTP/1.1 listener: Node's http server with the gateway's limits, the raw reply to
// requests Node could not parse, a live connection count, and close/drain for the data plane. The
// requests themselves go to the shared entry (proxy/handler.ts) with this listener's scheme and
// fronts (ACME HTTP-01 answers, the redirect to https). listeners/https.ts reuses the pieces.
import http from 'node:http'
import type https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { errorBody, type ErrorCode } from '../../core/errors.js'
import type { HostPort } from '../../core/address.js'
import { checkContinue } from '../continue.js'
import { createHandler } from '../handler.js'
import { createUpgradeHandler } from '../upgrade.js'
import type { ProxyEnv } from '../env.js'
import { composeFronts, type Front } from './hooks.js'
import { checkingIntervalMs, ConnectionGuard } from './connections.js'
import type { TlsListener } from '../../tls/listener.js'
import type { RedirectHttpsConfig } from '../../config/schema/tls.js'

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
  /** Stop accepting and close idle keep-alive connections; settles when every connection closed. */
  close(): Promise<void>
  closeIdleConnections(): void
  closeAllConnections(): void
}

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

export class NodeListener implements Listener {
  readonly #server: http.Server | https.Server
  readonly tls: TlsListener | null
  readonly #guard: ConnectionGuard

  constructor(server: http.Server | https.Server, tls: TlsListener | null, limits: ListenerLimits) {
    this.#server = server
    this.tls = tls
    this.#guard = new ConnectionGuard(server, limits)
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
    const closed = new Promise<void>((resolve) => server.close(() => resolve())).then(() => this.tls?.close())
    server.closeIdleConnections()
    return closed
  }

  closeIdleConnections(): void {
    this.#server.closeIdleConnections()
  }

  closeAllConnections(): void {
    this.#server.closeAllConnections()
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

/** Listens at `at`; resolves once bound, rejects (EADDRINUSE …) otherwise. */
export function bind(server: http.Server | https.Server, at: HostPort): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: at.host, port: at.port }, () => {
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

/** Binds one cleartext HTTP/1.1 listener at `at`; resolves once it listens. `fronts` run before routing. */
export async function listenHttp(env: ProxyEnv, at: HostPort, limits: ListenerLimits, fronts: readonly Front[] = []): Promise<Listener> {
  const hooks = { proto: 'http' as const, front: composeFronts(fronts), tls: null }
  const handler = createHandler(env, hooks)
  const server = http.createServer(serverOptions(limits), handler)
  server.on('checkContinue', checkContinue(handler))
  server.on('clientError', clientErrorReply)
  // Upgrade requests: WebSocket handshakes (proxy/upgrade.ts); other upgrades are served as plain requests.
  server.on('upgrade', createUpgradeHandler(env, hooks, handler))
  const listener = new NodeListener(server, null, limits)
  await bind(server, at)
  return listener
}
