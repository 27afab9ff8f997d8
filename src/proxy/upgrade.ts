// HTTP/1.1 Upgrade requests: a listener's 'upgrade' event (listeners/http.ts, and any other
// HTTP/1.1 listener) hands them here. A WebSocket handshake is this protocol's adapter to the
// shared pipeline (ws-tunnel.ts): RFC 6455's GET rules and the client's Sec-WebSocket-Key, the raw
// 101 written on the socket, the socket itself as the session's duplex.
//
// Upgrades that are not WebSocket (h2c, …) are served as plain requests by the listener's request
// handler, as they were before this listener had an 'upgrade' event: Upgrade and Connection are
// hop-by-hop and never reach the upstream, and the connection closes after the response.
import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { performance } from 'node:perf_hooks'
import { newRequestId } from './request-id.js'
import { sendError } from './errors-reply.js'
import { completeEarly } from './completion.js'
import { asksWebSocket, handshake, type HeaderList, type WsDownstream } from './ws-tunnel.js'
import type { ProxyEnv } from './env.js'
import type { ListenerHooks } from './listeners/hooks.js'

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/** RFC 6455 §4.1: the key is 16 random bytes, base64: 22 characters and "==". */
const WS_KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/
/** Header values a raw 101 may carry (Node's parser refuses CR/LF; plugins' extra headers are checked here). */
const SAFE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * The 'upgrade' listener of one HTTP/1.1 listener. `plain` is its request handler, which serves
 * upgrades other than WebSocket as the plain requests they also are.
 */
export function createUpgradeHandler(env: ProxyEnv, hooks: ListenerHooks, plain: RequestHandler): UpgradeHandler {
  return function upgrade(req, duplex, head) {
    const socket = duplex as Socket
    // Node took its own error and timeout listeners off the socket when it handed it over.
    socket.on('error', onSocketError)
    // A ServerResponse on the socket, so every reply before a 101 (errors, plugin replies, the
    // target's own non-101 answer) is written by the same code as on any request, and closes.
    const res = new ServerResponse(req)
    res.shouldKeepAlive = false
    res.assignSocket(socket)
    res.on('finish', onReplyFinish)
    if (!asksWebSocket(req.headers.upgrade)) {
      // Node hands the socket over at the end of the head: a body would never reach `req`.
      const h = req.headers
      if (h['transfer-encoding'] === undefined && (h['content-length'] === undefined || h['content-length'] === '0')) return plain(req, res)
      const id = newRequestId()
      const start = performance.now()
      sendError(res, id, 'not_implemented', `Upgrade: ${String(h.upgrade).slice(0, 32)} on a request with a body is not supported; send it without Upgrade`, null, true)
      return completeEarly(env, env.snapshot!, req, id, start, 501, 'not_implemented', undefined)
    }
    handshake(env, hooks, req, res, new Http1Downstream(req, socket, head))
  }
}

function onSocketError(this: Socket): void {
  this.destroy()
}

/** A reply before (or instead of) a 101 was written: the connection goes with it. */
function onReplyFinish(this: ServerResponse): void {
  const s = this.socket
  if (s !== null) (s as Socket).destroySoon()
}

/** One HTTP/1.1 handshake: the socket is the session, the client's key is the upstream's. */
class Http1Downstream implements WsDownstream {
  readonly duplex: Socket
  readonly socket: Socket
  readonly routeMethod: string
  readonly openStatus = 101
  readonly head: Buffer

  constructor(req: IncomingMessage, socket: Socket, head: Buffer) {
    this.duplex = socket
    this.socket = socket
    this.routeMethod = req.method ?? 'GET'
    this.head = head
  }

  /** RFC 6455 §4.1–4.2.1: a GET on HTTP/1.1 or later, without a body, with a well-formed key. */
  problem(req: IncomingMessage): string | undefined {
    const headers = req.headers
    if (req.method !== 'GET') return 'a WebSocket handshake is a GET'
    if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return 'a WebSocket handshake needs HTTP/1.1'
    // A body on the handshake would be read as the first frames once the tunnel opens.
    if (headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0')) {
      return 'a WebSocket handshake has no body'
    }
    const key = headers['sec-websocket-key']
    if (typeof key !== 'string' || !WS_KEY.test(key)) return 'missing or malformed Sec-WebSocket-Key'
    return undefined
  }

  key(req: IncomingMessage): string {
    return req.headers['sec-websocket-key'] as string
  }

  /** The raw 101 on the socket, which leaves the HTTP server's hands from here on. */
  open(res: ServerResponse, list: HeaderList): void {
    const client = this.socket
    res.off('finish', onReplyFinish)
    res.detachSocket(client)
    let out = 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n'
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i] as string
      const v = list[i + 1]!
      for (const one of Array.isArray(v) ? v : [v]) if (SAFE_VALUE.test(one)) out += `${name}: ${one}\r\n`
    }
    client.write(out + '\r\n')
    client.setNoDelay(true)
  }
}
