// WebSocket over HTTP/2 (RFC 8441): an extended CONNECT stream (`:method CONNECT`, `:protocol
// websocket`) on an h2 or h2c listener that advertises SETTINGS_ENABLE_CONNECT_PROTOCOL is this
// protocol's adapter to the shared pipeline (ws-tunnel.ts). Routes and plugins see the handshake
// the HTTP/1.1 GET would be (routed as GET, `upgrade: websocket` in the headers), the upstream side
// stays an HTTP/1.1 Upgrade with a key made here (HTTP/2 has no Sec-WebSocket-Key), and the
// target's 101 becomes `:status 200` on the stream (§5), whose DATA then carries the frames.
import { randomBytes } from 'node:crypto'
import http2, { constants } from 'node:http2'
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { newRequestId } from './request-id.js'
import { validRequestId } from './forward.js'
import { sendError } from './errors-reply.js'
import { completeEarly } from './completion.js'
import { handshake, type HeaderList, type WsDownstream } from './ws-tunnel.js'
import type { ProxyEnv } from './env.js'
import type { ListenerHooks } from './listeners/hooks.js'

export type ConnectHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void

/** Header fields the open answer leaves out: connection-specific ones (RFC 9113 §8.2.2), and the accept, which RFC 8441 §5 does not use. */
const NOT_ON_H2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'sec-websocket-accept'])

/** The first value of a pseudo-header field in a stream's raw header list. */
function pseudo(raw: string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) return raw[i + 1]
  return undefined
}

/**
 * node:http2's 'connect' listener (compat API: every CONNECT stream comes here, not to 'request').
 * An extended CONNECT for websocket is a handshake; for another protocol a 501; a plain CONNECT
 * (no :protocol, a tunnel request the gateway does not serve) keeps node:http2's own answer, 405.
 */
export function createExtendedConnectHandler(env: ProxyEnv, hooks: ListenerHooks): ConnectHandler {
  return function extendedConnect(req, res) {
    const raw = req.rawHeaders
    const protocol = pseudo(raw, ':protocol')
    if (protocol === undefined) {
      res.statusCode = 405
      res.end()
      return
    }
    const asIncoming = req as unknown as IncomingMessage
    const reply = res as unknown as ServerResponse
    // A reply instead of a tunnel (a refusal, the target's non-101) is complete: the stream's
    // request side, which a client keeps open for frames, is reset with NO_ERROR (RFC 9113 §8.1)
    // so the stream does not stay open (and count against max_concurrent_streams) until the
    // client ends it. An open tunnel answers on the stream itself and never finishes `res`.
    res.once('finish', closeAfterReply)
    if (protocol.toLowerCase() !== 'websocket') return refuse(env, asIncoming, reply, 'not_implemented', `extended CONNECT for ${protocol.slice(0, 32)} is not supported; only websocket`)
    // RFC 8441 §4: an extended CONNECT names its target like any request.
    if (pseudo(raw, ':path') === undefined || pseudo(raw, ':scheme') === undefined) return refuse(env, asIncoming, reply, 'bad_request', 'an extended CONNECT needs :path and :scheme')
    // The request view the handler reads (listeners/h2.ts H2Request): the handshake HTTP/1.1 would
    // make, so plugins that tell a handshake by its Upgrade (cors) see one; the stream's DATA are
    // frames, not a body.
    const headers = asIncoming.headers
    headers.upgrade = 'websocket'
    delete headers['transfer-encoding']
    handshake(env, hooks, asIncoming, reply, new Http2Downstream(req.stream))
  }
}

function closeAfterReply(this: http2.Http2ServerResponse): void {
  const stream = this.stream
  if (!stream.destroyed && !stream.closed) stream.close(constants.NGHTTP2_NO_ERROR)
}

function refuse(env: ProxyEnv, req: IncomingMessage, res: ServerResponse, code: 'not_implemented' | 'bad_request', message: string): void {
  const start = performance.now()
  const id = validRequestId(req.headers['x-request-id']) ?? newRequestId()
  sendError(res, id, code, message, null, true)
  completeEarly(env, env.snapshot!, req, id, start, res.statusCode, code, undefined)
}

/** One extended CONNECT stream: the stream is the session, the key is made for the upstream hop. */
class Http2Downstream implements WsDownstream {
  readonly duplex: http2.ServerHttp2Stream
  readonly socket: Socket
  readonly routeMethod = 'GET'
  readonly openStatus = constants.HTTP_STATUS_OK
  readonly head = Buffer.alloc(0)
  readonly #key = randomBytes(16).toString('base64')

  constructor(stream: http2.ServerHttp2Stream) {
    this.duplex = stream
    this.socket = stream.session!.socket as Socket
  }

  /** Method, key and body rules are HTTP/1.1's; the stream's checks were made before (extendedConnect). */
  problem(): string | undefined {
    return undefined
  }

  key(): string {
    return this.#key
  }

  open(_res: ServerResponse, list: HeaderList): void {
    const out: OutgoingHttpHeaders = { ':status': constants.HTTP_STATUS_OK }
    for (let i = 0; i < list.length; i += 2) {
      const name = (list[i] as string).toLowerCase()
      if (!NOT_ON_H2.has(name)) out[name] = list[i + 1] as string | string[]
    }
    this.duplex.respond(out)
  }
}
