// Downstream HTTP/2 for the listeners: the node:http2 server options (SETTINGS and Node's own flood
// limits), the compat request/response classes that let HTTP/2 streams go through the same request
// handler as HTTP/1.1 (proxy/handler.ts: one front half), the guards Node lacks (rapid reset,
// SETTINGS/PING floods, idle sessions), GOAWAY on drain, and the preface sniffing that serves h2c by
// prior knowledge next to HTTP/1.1 on one cleartext port.
import http2, { constants } from 'node:http2'
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { connectionsClosed } from '../../observability/metrics.js'
import type { Http2Config } from '../../config/schema/index.js'
import { DEFAULT_HTTP2 } from '../../config/defaults.js'

/** The resolved `http2` block of a listener (defaults applied once, at bind). */
export interface H2Settings {
  maxConcurrentStreams: number
  initialWindowSize: number
  maxFrameSize: number
  maxHeaderListSize: number
  maxResetsPerSecond: number
  maxControlFramesPerSecond: number
  /** SETTINGS_ENABLE_CONNECT_PROTOCOL: WebSocket over HTTP/2 (RFC 8441, proxy/ws-h2.ts). */
  enableConnectProtocol: boolean
}

export function resolveH2(c: Http2Config | undefined, maxHeaderSize: number): H2Settings {
  return {
    maxConcurrentStreams: c?.max_concurrent_streams ?? DEFAULT_HTTP2.max_concurrent_streams,
    initialWindowSize: c?.initial_window_size ?? DEFAULT_HTTP2.initial_window_size,
    maxFrameSize: c?.max_frame_size ?? DEFAULT_HTTP2.max_frame_size,
    // The same bound as an HTTP/1.1 head (server.max_header_size) unless set apart.
    maxHeaderListSize: c?.max_header_list_size ?? maxHeaderSize,
    maxResetsPerSecond: c?.max_resets_per_second ?? DEFAULT_HTTP2.max_resets_per_second,
    maxControlFramesPerSecond: c?.max_control_frames_per_second ?? DEFAULT_HTTP2.max_control_frames_per_second,
    enableConnectProtocol: c?.enable_connect_protocol ?? DEFAULT_HTTP2.enable_connect_protocol,
  }
}

/**
 * Header fields RFC 9113 §8.2.2 forbids in HTTP/2 (node:http2 throws on them): the gateway's own
 * `connection: close` (drain, 413) and whatever a plugin sets are dropped on h2 responses, where
 * closing is GOAWAY's job.
 */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings'])

function isForbidden(name: string): boolean {
  const n = name.toLowerCase()
  return CONNECTION_SPECIFIC.has(n) || n === 'te'
}

/**
 * A stream's request as the handler reads it. Its `headers` are the HTTP/1.1 view: no pseudo-header
 * fields (they would be forwarded upstream as header names), `host` from `:authority` (RFC 9113
 * §8.3.1; the router, 421 binding and X-Forwarded-Host read Host), and a body without
 * Content-Length shown as `transfer-encoding: chunked`: the shared body code (request-body.ts,
 * body-limit.ts) knows a body of unknown length by that field, and it is hop-by-hop, so it never
 * reaches the upstream (undici frames the body itself).
 */
export class H2Request extends http2.Http2ServerRequest {
  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, options: object, rawHeaders: string[]) {
    super(stream, headers, options as never, rawHeaders as never)
    const out: IncomingHttpHeaders = {}
    for (const name in headers) if (name.charCodeAt(0) !== 58 /* : */) out[name] = headers[name]
    const authority = headers[':authority']
    if (typeof authority === 'string' && authority !== '') out.host = authority
    if (!stream.endAfterHeaders && out['content-length'] === undefined) out['transfer-encoding'] = 'chunked'
    // An own property over the compat prototype's getter; the compat code itself reads its private
    // copy (method, url, authority come from the pseudo-headers there).
    Object.defineProperty(this, 'headers', { value: out, writable: true, enumerable: true, configurable: true })
  }
}

/** A stream's response: connection-specific fields are dropped instead of throwing (see CONNECTION_SPECIFIC). */
export class H2Response extends http2.Http2ServerResponse {
  override setHeader(name: string, value: number | string | readonly string[]): void {
    if (!isForbidden(name)) super.setHeader(name, value)
  }

  override writeHead(status: number, a?: unknown, b?: unknown): this {
    // The status message (HTTP/1.1 only) is dropped: node:http2 would warn about it on every call.
    return super.writeHead(status, cleanOut(typeof a === 'string' ? b : a) as OutgoingHttpHeaders)
  }
}

/**
 * Headers for writeHead without connection-specific fields, always as an object. The proxy hands
 * over a flat [name, value, …] list (forward.ts), and node:http2's compat writeHead takes a list
 * the slow way once any header was set before (it always is: its header store exists from the
 * start): each name is removed, appended, then set, so it is trimmed and lowercased three times
 * and checked against the token pattern twice. An object is set once per name: 3.3 % of the h2
 * scenario's instructions per request were those passes (callgrind, bench:instructions h2).
 * A name repeated in the list keeps every value, as appending did.
 */
function cleanOut(h: unknown): unknown {
  if (h === undefined || h === null) return h
  if (Array.isArray(h)) {
    const out: Record<string, unknown> = {}
    for (let i = 0; i < h.length; i += 2) {
      const name = String(h[i])
      if (isForbidden(name)) continue
      const prior = out[name]
      const value: unknown = h[i + 1]
      if (prior === undefined) out[name] = value
      else out[name] = [...(Array.isArray(prior) ? prior : [prior]), ...(Array.isArray(value) ? value : [value])]
    }
    return out
  }
  const o = h as Record<string, unknown>
  let bad = false
  for (const k in o) if (isForbidden(k)) bad = true
  if (!bad) return h
  const out: Record<string, unknown> = {}
  for (const k in o) if (!isForbidden(k)) out[k] = o[k]
  return out
}

/**
 * node:http2 server options. Node's own limits are set on purpose, not left to defaults: each one
 * bounds a known HTTP/2 attack (test/security/http2-attacks.test.ts).
 */
export function h2ServerOptions(s: H2Settings): http2.ServerOptions {
  return {
    settings: {
      maxConcurrentStreams: s.maxConcurrentStreams,
      initialWindowSize: s.initialWindowSize,
      maxFrameSize: s.maxFrameSize,
      maxHeaderListSize: s.maxHeaderListSize,
      enablePush: false,
      enableConnectProtocol: s.enableConnectProtocol,
    },
    // HPACK bombs and header floods: a decoded list over maxHeaderListSize, or more fields than
    // this, is refused (RST_STREAM ENHANCE_YOUR_CALM) before any request exists.
    maxHeaderListPairs: 256,
    // Memory per session (HPACK tables, queued frames, CONTINUATION buffers): past it new streams
    // are refused and the session ends. Node's 10 MB, kept deliberately.
    maxSessionMemory: 10,
    // SETTINGS entries per frame, pings we may have outstanding: Node's 32 and 10.
    maxSettings: 32,
    maxOutstandingPings: 10,
    // Malformed frames and streams refused (over max_concurrent_streams) tolerated per session
    // before it is closed: lower than Node's 1000/100, an honest client makes none.
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
    Http2ServerRequest: H2Request as unknown as typeof http2.Http2ServerRequest,
    Http2ServerResponse: H2Response as unknown as typeof http2.Http2ServerResponse,
  }
}

/**
 * The handler as node:http2's 'request' listener. A stream the client already reset (HEADERS and
 * RST_STREAM read together: the rapid-reset pattern) is dropped before routing, so it costs no
 * exchange and no upstream request. A header list over `maxHeaderListSize` (RFC 9113 §6.5.2 size:
 * name + value + 32 per field) gets RST_STREAM ENHANCE_YOUR_CALM, as node:http2 itself answers once
 * the client acknowledged our SETTINGS: before that acknowledgement Node applies no limit of its
 * own, and an HPACK bomb sent with the preface decoded to ~1 MB per stream.
 */
export function h2RequestListener(handler: (req: IncomingMessage, res: ServerResponse) => void, maxHeaderListSize: number): (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void {
  const h = handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void
  return (req, res) => {
    const stream = req.stream
    if (stream.destroyed) return
    const raw = req.rawHeaders
    let size = 0
    for (let i = 0; i < raw.length; i++) size += raw[i]!.length
    if (size + 16 * raw.length > maxHeaderListSize) return void stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM)
    h(req, res)
  }
}

/** Marks a socket that carries an HTTP/2 session: the HTTP/1.1 drain bookkeeping leaves it alone. */
export const kH2Socket = Symbol('portico.h2Socket')
export type MaybeH2Socket = Socket & { [kH2Socket]?: true }

interface SessionState {
  session: http2.ServerHttp2Session
  open: number
  windowStart: number
  resets: number
  controls: number
  idle: NodeJS.Timeout
  /** GOAWAY ENHANCE_YOUR_CALM sent: the session is being destroyed. */
  calmed: boolean
  guard: H2Sessions
}
const kState = Symbol('portico.h2State')
type TrackedStream = http2.ServerHttp2Stream & { [kState]?: SessionState }

/**
 * The HTTP/2 sessions of one listener: counted, guarded and drained. `onSession` tells the
 * listener which socket went to HTTP/2 (it keeps HTTP/1.1 sockets for its own drain).
 */
export class H2Sessions {
  readonly #sessions = new Set<SessionState>()
  readonly #s: H2Settings
  readonly #firstMs: number
  readonly #idleMs: number
  #closing = false

  /** `firstMs`: how long a new session may go without a stream (header_timeout); `idleMs`: between streams (keep_alive_timeout). */
  constructor(server: http2.Http2Server | http2.Http2SecureServer, s: H2Settings, firstMs: number, idleMs: number, onSession: (socket: MaybeH2Socket) => void) {
    this.#s = s
    this.#firstMs = firstMs
    this.#idleMs = idleMs
    server.on('session', (session: http2.ServerHttp2Session) => {
      this.#track(session)
      const socket = session.socket as MaybeH2Socket
      socket[kH2Socket] = true
      onSession(socket)
      // On the session, not the server: `this` is then the session even for a stream that is
      // already closed when its event comes (HEADERS and RST_STREAM read in one go; node:http2
      // emits 'stream' on the next tick, and a destroyed stream no longer knows its session).
      session.on('stream', onSessionStream)
    })
  }

  #track(session: http2.ServerHttp2Session): SessionState {
    const st: SessionState = { session, open: 0, windowStart: Date.now(), resets: 0, controls: 0, calmed: false, guard: this, idle: idleTimer(session, this.#firstMs) }
    ;(session as http2.ServerHttp2Session & { [kState]?: SessionState })[kState] = st
    this.#sessions.add(st)
    const countControl = (): void => {
      this.#tick(st)
      if (++st.controls > this.#s.maxControlFramesPerSecond) this.#calm(st, 'h2_control_flood')
    }
    session.on('ping', countControl)
    session.on('remoteSettings', countControl)
    // A session error (a protocol violation nghttp2 found, a reset socket) ends that session only.
    session.on('error', () => session.destroy())
    session.on('close', () => {
      clearTimeout(st.idle)
      this.#sessions.delete(st)
    })
    if (this.#closing) session.close()
    return st
  }

  /** Starts a new one-second counting window when the old one is over (a clock read per counted frame). */
  #tick(st: SessionState): void {
    const now = Date.now()
    if (now - st.windowStart >= 1000) {
      st.windowStart = now
      st.resets = 0
      st.controls = 0
    }
  }

  /** A stream of `st` closed: count it when it was reset (rapid reset), and time the idle session. */
  streamClosed(st: SessionState, rstCode: number): void {
    st.open--
    if (rstCode !== constants.NGHTTP2_NO_ERROR) {
      this.#tick(st)
      if (++st.resets > this.#s.maxResetsPerSecond) return this.#calm(st, 'h2_rapid_reset')
    }
    if (st.open === 0 && !st.session.destroyed) st.idle = idleTimer(st.session, this.#idleMs)
  }

  /** GOAWAY ENHANCE_YOUR_CALM and the connection closed: its streams end with it (their exchanges see the client go). */
  #calm(st: SessionState, reason: string): void {
    // A session already destroyed (its streams close with an error code when it goes) needs no
    // GOAWAY, and goaway() on it would throw out of a stream's 'close' event: a worker crash.
    if (st.calmed || st.session.destroyed) return
    st.calmed = true
    connectionsClosed.inc({ reason })
    // goaway() then destroy on the next turn: destroy(err, code) alone sent NO_ERROR in Node 20.
    st.session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM)
    setImmediate(destroySession, st.session)
  }

  get size(): number {
    return this.#sessions.size
  }

  /** Drain: GOAWAY to every session (and to any that opens from now on); in-flight streams finish. */
  goawayAll(): void {
    this.#closing = true
    for (const st of this.#sessions) if (!st.session.closed) st.session.close()
  }

  destroyAll(): void {
    for (const st of this.#sessions) st.session.destroy()
  }
}

function onSessionStream(this: http2.ServerHttp2Session, stream: TrackedStream): void {
  const st = (this as http2.ServerHttp2Session & { [kState]?: SessionState })[kState]
  if (st === undefined) return
  stream[kState] = st
  st.open++
  clearTimeout(st.idle)
  stream.once('close', onStreamClose)
}

function onStreamClose(this: TrackedStream): void {
  const st = this[kState]
  if (st === undefined) return
  st.guard.streamClosed(st, this.rstCode ?? 0)
}

function destroySession(session: http2.ServerHttp2Session): void {
  if (!session.destroyed) session.destroy()
}

/** Closes the session (GOAWAY) when it stays without a stream for `ms`; unref'd, it holds no process open. */
function idleTimer(session: http2.ServerHttp2Session, ms: number): NodeJS.Timeout {
  return setTimeout(closeIdle, ms, session).unref()
}

function closeIdle(session: http2.ServerHttp2Session): void {
  if (!session.closed && !session.destroyed) session.close()
}

/**
 * Hands an accepted socket to the http2 server. http.Server accepts with allowHalfOpen (an
 * HTTP/1.1 client may half-close after its request); node:http2 relies on the socket closing when
 * the client's side ends, else a client that goes away leaves the session, its streams and their
 * exchanges open for ever.
 */
export function toH2(h2Server: http2.Http2Server, socket: Socket): void {
  socket.allowHalfOpen = false
  h2Server.emit('connection', socket)
}

/** The client connection preface (RFC 9113 §3.4): what an h2c prior-knowledge client sends first. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

/**
 * Serves HTTP/1.1 and h2c prior knowledge on one cleartext port: the http.Server's own connection
 * listener is taken off, and each new socket is read until its first bytes tell the two apart (a
 * request line never starts with the preface). An h2c socket goes to the http2 server with the
 * bytes read put back (node:http2 reads a socket's buffered data first); any other goes to the
 * HTTP/1.1 server as if just accepted. A socket that sends nothing is closed after `timeoutMs`
 * (header_timeout's from-accept bound, which the HTTP/1.1 parser gives only once it has the socket).
 * Installed only on listeners with h2c: an HTTP/1.1-only listener keeps Node's direct path.
 */
export function sniffPreface(httpServer: import('node:http').Server, h2Server: http2.Http2Server, timeoutMs: number): void {
  const listeners = httpServer.listeners('connection') as Array<(socket: Socket) => void>
  // http.Server registers its connection listener in its constructor: the first one.
  const http1 = listeners[0]!
  httpServer.removeListener('connection', http1)
  httpServer.prependListener('connection', (socket: Socket) => {
    let got: Buffer = Buffer.alloc(0)
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    const done = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('close', onClose)
    }
    const onError = (): void => {
      done()
      socket.destroy()
    }
    const onClose = (): void => done()
    const onData = (chunk: Buffer): void => {
      got = got.length === 0 ? chunk : Buffer.concat([got, chunk])
      const n = Math.min(got.length, PREFACE.length)
      const prefix = got.subarray(0, n).equals(PREFACE.subarray(0, n))
      if (prefix && n < PREFACE.length) return // not enough yet to tell
      done()
      socket.pause()
      socket.unshift(got)
      if (prefix) return void toH2(h2Server, socket)
      http1.call(httpServer, socket)
      socket.resume()
    }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('close', onClose)
  })
}
