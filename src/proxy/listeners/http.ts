// A cleartext HTTP/1.1 listener: Node's http server with the gateway's limits, the raw reply to
// requests Node could not parse, a live connection count, and close/drain for the data plane. The
// requests themselves go to the shared entry (proxy/handler.ts) with this listener's scheme.
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { errorBody, type ErrorCode } from '../../core/errors.js'
import type { HostPort } from '../../core/address.js'
import { createHandler } from '../handler.js'
import { createUpgradeHandler } from '../upgrade.js'
import type { ProxyEnv } from '../env.js'

/** The server limits every listener applies (server.*, defaults applied). */
export interface ListenerLimits {
  maxHeaderSize: number
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
}

/** What the data plane holds of a bound listener, whatever its protocol. */
export interface Listener {
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
function clientErrorReply(err: NodeJS.ErrnoException & { bytesParsed?: number }, socket: Socket): void {
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

class HttpListener implements Listener {
  readonly #server: http.Server
  connections = 0

  constructor(server: http.Server) {
    this.#server = server
    server.on('connection', (socket: Socket) => {
      this.connections++
      socket.once('close', () => this.connections--)
    })
  }

  get listening(): boolean {
    return this.#server.listening
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo
  }

  close(): Promise<void> {
    const server = this.#server
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
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

/** Binds one HTTP/1.1 listener at `at`; resolves once it listens. */
export async function listenHttp(env: ProxyEnv, at: HostPort, limits: ListenerLimits): Promise<Listener> {
  const handler = createHandler(env, 'http')
  const server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeoutMs,
      // The whole-request deadline is the upstream's business (timeouts.total); a long upload is legal.
      requestTimeout: 0,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Checked in the handler instead (proxy/handler.ts): Node's own refusal is an empty 400,
      // not the catalogue's JSON reply.
      requireHostHeader: false,
      joinDuplicateHeaders: false,
      insecureHTTPParser: false,
    },
    handler,
  )
  server.on('clientError', clientErrorReply)
  // Upgrade requests (WebSocket handshakes; other upgrades are served as plain requests).
  server.on('upgrade', createUpgradeHandler(env, 'http', handler))
  const listener = new HttpListener(server)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return listener
}
