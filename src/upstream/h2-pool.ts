// HTTP/2 towards one target (upstream `protocol: h2 | h2c`): an undici Dispatcher over
// node:http2, so the proxy's exchange, the buffered client and active health checks dispatch to it
// exactly as to an undici Pool. Hand-written because undici 7.30's own HTTP/2 does not fit a proxy
// (measured, see docs/upstreams.md): its Pool opened one connection per request (100 concurrent
// requests → 100 connections), its single Client ignores the server's
// SETTINGS_MAX_CONCURRENT_STREAMS (the streams past it were refused) and serialises requests with
// a streamed or non-idempotent body (100 POSTs of 20 ms took 2.3 s on one connection), and a GOAWAY
// destroys the socket under the streams the server promised to finish.
//
// Here: streams share one ClientHttp2Session per target up to the server's advertised
// SETTINGS_MAX_CONCURRENT_STREAMS; past it a second session opens (up to `maxSessions`), and past
// that requests wait in a FIFO queue. A GOAWAY stops new streams on its session (the ones the
// server accepted finish there) and the next request opens a new session; an idle session closes
// after `idleTimeout`. Errors carry the codes upstream/failure.ts maps (undici's own timeout and
// connect errors, the socket's errno, and the two stream-reset classes below).
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import type { ConnectionOptions } from 'node:tls'
import type { Readable } from 'node:stream'
import { Dispatcher, errors } from 'undici'

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL } = http2.constants

/**
 * The server refused the stream (RST_STREAM REFUSED_STREAM, or a GOAWAY's last stream id below it):
 * RFC 9113 §8.7 guarantees it was not processed, so it is safe to try again.
 */
export class H2StreamRefused extends Error {
  readonly code = 'PORTICO_H2_REFUSED_STREAM'
}

/**
 * The connection came up but HTTP/2 did not (an HTTP/1.1-only server answering the h2c preface,
 * a broken preface or SETTINGS): nothing was processed, like a refused connection.
 */
export class H2ConnectFailed extends Error {
  readonly code = 'PORTICO_H2_CONNECT'
}

/** The stream was reset or its session failed (GOAWAY with an error, protocol error) before the response ended. */
export class H2StreamReset extends Error {
  readonly code = 'PORTICO_H2_STREAM_RESET'
}

/**
 * Where a server advertises no limit (Node's default is 2^32-1), streams per session stop here, so
 * a busy target spreads over more than one connection instead of one unbounded session.
 */
export const MAX_STREAMS_PER_SESSION = 1000

const STREAM_WINDOW = 256 * 1024
const SESSION_WINDOW = 512 * 1024

/** Streams a new session is given before the server's SETTINGS arrive (RFC 9113 §6.5.2 suggests ≥ 100). */
const INITIAL_STREAMS = 100

// Connection-specific fields that HTTP/2 forbids (RFC 9113 §8.2.2); node:http2 throws on them.
const FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host'])

export interface H2PoolOptions {
  /** TLS connect options (`h2`: ca, client certificate, pinned names); null = cleartext prior knowledge (`h2c`). */
  tls: ConnectionOptions | null
  connectTimeout: number
  /** Sessions at most (the upstream's max_connections). */
  maxSessions: number
  /** An idle session closes after this long (keep_alive_timeout). */
  idleTimeout: number
}

class Session {
  readonly s: ClientHttp2Session
  active = 0
  /** Streams allowed at once: INITIAL_STREAMS until the server's SETTINGS say. */
  max = INITIAL_STREAMS
  ready = false
  /** GOAWAY received or closing: no new streams. */
  draining = false
  connectTimer: NodeJS.Timeout | null = null
  idleTimer: NodeJS.Timeout | null = null
  /** Why the session failed before it was ready (for the requests that waited on it). */
  error: Error | null = null

  constructor(s: ClientHttp2Session) {
    this.s = s
  }

  get open(): boolean {
    return this.ready && !this.draining && this.active < this.max
  }
}

type Handler = Dispatcher.DispatchHandler

/**
 * Head and body timeouts of at least this long are swept (below) instead of set on the stream; a
 * shorter one keeps the stream's own timer, whose precision it needs.
 */
const SWEPT_MIN_MS = 1000
/** How often the sweep looks: a swept timeout fires up to this late. */
const SWEEP_MS = 250

/**
 * The requests whose timeout is swept, and the one unref'd interval that looks at them while there
 * are any. A node:http2 stream's setTimeout costs, per call, a clearTimeout, a new Timeout with a
 * bound callback and a 'timeout' listener, and then a timer refresh on every frame read; a request
 * made two (the head's, then the body's). Here a request costs a Set add and delete, and a clock
 * read per response chunk. Like undici's own timers for its HTTP/1.1 pools, which resolve at
 * about a second, precision is traded where the timeouts are long.
 */
const swept = new Set<H2Request>()
let sweeper: NodeJS.Timeout | null = null

function sweep(): void {
  const now = Date.now()
  for (const r of swept) if (now - r.since >= r.limit) r.onTimeout()
  if (swept.size === 0 && sweeper !== null) {
    clearInterval(sweeper)
    sweeper = null
  }
}

/**
 * The old-style handler (onConnect/onHeaders/onData/onComplete/onError) that undici's
 * Dispatcher.request() still passes, seen through the new interface (undici's own WrapHandler is
 * not exported). Only the buffered client and health checks use request(); the proxy's exchange
 * implements the new interface itself.
 */
class LegacyHandler implements Handler {
  readonly h: Handler
  constructor(h: Handler) {
    this.h = h
  }
  onRequestStart(c: Dispatcher.DispatchController): void {
    this.h.onConnect?.((reason?: Error) => c.abort(reason ?? new errors.RequestAbortedError()))
  }
  onResponseStart(c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (this.h.onHeaders?.(status, rawList(headers), () => c.resume(), '') === false) c.pause()
  }
  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.h.onData?.(chunk) === false) c.pause()
  }
  onResponseEnd(_c: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.h.onComplete?.(rawList(trailers) as unknown as string[])
  }
  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.h.onError?.(err)
  }
}

function rawList(h: IncomingHttpHeaders): Buffer[] {
  const out: Buffer[] = []
  for (const k in h) {
    const v = h[k]
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) out.push(Buffer.from(k, 'latin1'), Buffer.from(x, 'latin1'))
    else out.push(Buffer.from(k, 'latin1'), Buffer.from(v, 'latin1'))
  }
  return out
}

/** One request on the pool; also its DispatchController. */
class H2Request implements Dispatcher.DispatchController {
  readonly pool: H2Pool
  readonly opts: Dispatcher.DispatchOptions
  readonly handler: Handler
  session: Session | null = null
  stream: ClientHttp2Stream | null = null
  #aborted = false
  #paused = false
  #reason: Error | null = null
  done = false
  responded = false
  /** The stream's own error, kept until 'close' says how it ended. */
  streamError: Error | null = null
  trailers: IncomingHttpHeaders | null = null
  /**
   * The running timeout (ms; 0 = none) and when its wait began (Date.now(); the last chunk for the
   * body's). One under SWEPT_MIN_MS is the stream's own timer, with this listener; a longer one is
   * in `swept` until the stream closes.
   */
  limit = 0
  since = 0
  #streamTimeout: (() => void) | undefined = undefined

  constructor(pool: H2Pool, opts: Dispatcher.DispatchOptions, handler: Handler) {
    this.pool = pool
    this.opts = opts
    this.handler = handler
  }

  get aborted(): boolean {
    return this.#aborted
  }
  get paused(): boolean {
    return this.#paused
  }
  get reason(): Error | null {
    return this.#reason
  }

  abort(reason: Error): void {
    if (this.done) return
    this.#aborted = true
    this.#reason = reason
    if (this.stream === null) this.pool.dequeue(this)
    this.fail(reason)
  }

  pause(): void {
    this.#paused = true
    const st = this.stream
    if (st !== null) {
      st.pause()
      // A response held back by a slow client is not the upstream idling.
      this.#time(0)
    }
  }

  resume(): void {
    this.#paused = false
    const st = this.stream
    if (st !== null && !this.done) {
      this.#time(this.opts.bodyTimeout ?? 0)
      st.resume()
    }
  }

  /** Runs a timeout of `ms` from now (0: none), swept or on the stream (see SWEPT_MIN_MS). */
  #time(ms: number): void {
    if (this.limit > 0 && this.limit < SWEPT_MIN_MS) this.stream!.setTimeout(0, this.#streamTimeout)
    this.limit = ms
    if (ms < SWEPT_MIN_MS) swept.delete(this)
    if (ms <= 0) return
    this.since = Date.now()
    if (ms < SWEPT_MIN_MS) {
      this.stream!.setTimeout(ms, (this.#streamTimeout ??= () => this.onTimeout()))
      return
    }
    swept.add(this)
    sweeper ??= setInterval(sweep, SWEEP_MS).unref()
  }

  /** Ends the request with an error, once; resets the stream if it is still open. */
  fail(err: Error): void {
    if (this.done) return
    this.done = true
    const st = this.stream
    if (st !== null && !st.closed) st.close(NGHTTP2_CANCEL)
    this.handler.onResponseError?.(this, err)
  }

  /** Opens the stream on `sess` (which has room). */
  start(sess: Session): void {
    const o = this.opts
    const headers: OutgoingHttpHeaders = { ':method': o.method, ':path': o.path, ':scheme': this.pool.scheme, ':authority': this.pool.authority }
    copyHeaders(headers, o.headers)
    const body = o.body
    const empty = body == null || ((typeof body === 'string' || body instanceof Uint8Array) && body.length === 0)
    let st: ClientHttp2Stream
    try {
      st = sess.s.request(headers, { endStream: empty })
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION' || code === 'ERR_HTTP2_OUT_OF_STREAMS') {
        // The session went away between the pick and the request: wait for another one.
        sess.draining = true
        return this.pool.enqueue(this)
      }
      return this.fail(err as Error) // invalid header values and the like
    }
    this.session = sess
    this.stream = st
    sess.active++
    this.pool.busy(sess)
    this.#time(o.headersTimeout ?? 0)
    ;(st as RequestStream)[kRequest] = this
    st.on('response', onStreamResponse)
    st.on('data', onStreamData)
    st.on('trailers', onStreamTrailers)
    st.on('end', onStreamEnd)
    st.on('error', onStreamError)
    st.on('close', onStreamClose)
    if (this.#paused) st.pause()
    if (!empty) {
      if (typeof body === 'string' || body instanceof Uint8Array) st.end(body)
      else this.pipeBody(body as Readable, st)
    }
  }

  /**
   * pipe(), not pipeline(): a stream reset by the upstream must not destroy the client's request
   * (the client still gets the upstream's early answer or a 502 on its connection).
   */
  pipeBody(body: Readable, st: ClientHttp2Stream): void {
    body.once('error', (err) => this.abort(err))
    body.pipe(st)
  }

  onData(chunk: Buffer): void {
    if (this.done) return
    if (this.limit > 0) this.since = Date.now()
    this.handler.onResponseData?.(this, chunk)
  }

  onResponse(h: IncomingHttpHeaders): void {
    if (this.done) return
    const status = Number(h[':status'])
    delete h[':status']
    this.responded = true
    this.#time(this.#paused ? 0 : (this.opts.bodyTimeout ?? 0))
    this.handler.onResponseStart?.(this, status, h, '')
  }

  onEnd(): void {
    if (this.done) return
    if (!this.responded) return this.fail(new H2StreamReset('the upstream ended the stream without a response'))
    this.done = true
    // Trailers (gRPC's grpc-status) arrive before 'end'; a response without them ends with {}.
    this.handler.onResponseEnd?.(this, this.trailers ?? {})
  }

  onTimeout(): void {
    if (this.done) return
    this.fail(this.responded ? new errors.BodyTimeoutError(`upstream idle for more than ${this.opts.bodyTimeout}ms`) : new errors.HeadersTimeoutError(`no response head within ${this.opts.headersTimeout}ms`))
  }

  onClose(): void {
    // Every stream closes, however it ended (a done request the sweep meets meanwhile is ignored by onTimeout).
    swept.delete(this)
    const sess = this.session!
    sess.active--
    this.pool.released(sess)
    if (this.done) return
    const st = this.stream!
    const e = this.streamError
    const errno = (e as { code?: string } | null)?.code
    if (st.rstCode === NGHTTP2_REFUSED_STREAM) this.fail(new H2StreamRefused('the upstream refused the stream (REFUSED_STREAM)'))
    // A socket failure under the session (ECONNRESET, …) keeps its errno; HTTP/2's own error codes become one class.
    else if (e !== null && errno !== undefined && !errno.startsWith('ERR_HTTP2')) this.fail(e)
    else this.fail(new H2StreamReset(`the upstream reset the stream (${e?.message ?? `code ${st.rstCode}`})`))
  }
}

// The stream's listeners: the same six functions for every stream, the request found on the
// stream, instead of six closures per request ('end', 'close' and 'trailers' come once anyway, and
// once() would add a wrapper each).
const kRequest = Symbol('portico.h2Request')
type RequestStream = ClientHttp2Stream & { [kRequest]: H2Request }
function onStreamResponse(this: RequestStream, h: IncomingHttpHeaders): void {
  this[kRequest].onResponse(h)
}
function onStreamData(this: RequestStream, chunk: Buffer): void {
  this[kRequest].onData(chunk)
}
function onStreamTrailers(this: RequestStream, t: IncomingHttpHeaders): void {
  this[kRequest].trailers = t
}
function onStreamEnd(this: RequestStream): void {
  this[kRequest].onEnd()
}
function onStreamError(this: RequestStream, err: Error): void {
  this[kRequest].streamError ??= err
}
function onStreamClose(this: RequestStream): void {
  this[kRequest].onClose()
}

function copyHeaders(out: OutgoingHttpHeaders, src: Dispatcher.DispatchOptions['headers']): void {
  if (src == null) return
  if (Array.isArray(src)) {
    for (let i = 0; i + 1 < src.length; i += 2) addHeader(out, String(src[i]).toLowerCase(), src[i + 1] as string | string[])
    return
  }
  if (typeof (src as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [k, v] of src as Iterable<[string, string | string[] | undefined]>) if (v !== undefined) addHeader(out, k.toLowerCase(), v)
    return
  }
  const rec = src as Record<string, string | string[] | undefined>
  for (const k in rec) {
    const v = rec[k]
    if (v !== undefined) addHeader(out, k.toLowerCase(), v)
  }
}

function addHeader(out: OutgoingHttpHeaders, k: string, v: string | string[]): void {
  if (FORBIDDEN.has(k)) {
    // Host becomes :authority (RFC 9113 §8.3.1), so preserve_host and the target's host carry over.
    if (k === 'host') out[':authority'] = Array.isArray(v) ? v[0] : v
    return
  }
  // TE is allowed with "trailers" only (§8.2.2); gRPC needs exactly that.
  if (k === 'te' && v !== 'trailers') return
  out[k] = v
}

/**
 * An undici Dispatcher for one HTTP/2 origin. dispatch() never throws: a request it cannot make ends
 * in the handler's onResponseError, as undici's pools do.
 */
export class H2Pool extends Dispatcher {
  readonly origin: string
  readonly scheme: 'http' | 'https'
  /** Default :authority (the origin's host[:port]); a Host header in the request replaces it. */
  readonly authority: string
  readonly #opts: H2PoolOptions
  readonly #sessions: Session[] = []
  readonly #queue: H2Request[] = []
  #connecting = 0
  #closing: Array<() => void> | null = null
  #destroyed = false

  constructor(origin: string, opts: H2PoolOptions) {
    super()
    const u = new URL(origin)
    this.origin = u.origin
    this.scheme = u.protocol === 'https:' ? 'https' : 'http'
    this.authority = u.host
    this.#opts = opts
  }

  /** Sessions open or opening, for tests and /status-like introspection. */
  get sessions(): number {
    return this.#sessions.length
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Handler): boolean {
    const legacy = typeof handler.onResponseStart !== 'function' && typeof handler.onResponseError !== 'function' && (typeof handler.onHeaders === 'function' || typeof handler.onError === 'function')
    const h = legacy ? new LegacyHandler(handler) : handler
    const req = new H2Request(this, opts, h)
    if (this.#closing !== null || this.#destroyed) {
      req.fail(new errors.ClientClosedError())
      return false
    }
    h.onRequestStart?.(req, {})
    if (req.done) return true // aborted in onRequestStart
    const sess = this.#pick()
    if (sess !== null) req.start(sess)
    else this.enqueue(req)
    return true
  }

  #pick(): Session | null {
    // First fit: fill a session to the server's limit before using the next.
    for (const s of this.#sessions) if (s.open) return s
    return null
  }

  enqueue(req: H2Request): void {
    this.#queue.push(req)
    this.#grow()
  }

  dequeue(req: H2Request): void {
    const i = this.#queue.indexOf(req)
    if (i !== -1) this.#queue.splice(i, 1)
  }

  /** Opens a session when requests wait and none is opening (each new one may take INITIAL_STREAMS). */
  #grow(): void {
    if (this.#queue.length === 0 || this.#destroyed) return
    const live = this.#sessions.filter((s) => !s.draining).length
    if (this.#connecting * INITIAL_STREAMS >= this.#queue.length || live >= this.#opts.maxSessions) return
    this.#connect()
  }

  #connect(): void {
    const o = this.#opts
    // h2: ALPN offers h2 only (node:http2's default for https:), so a server without HTTP/2 fails the handshake instead of answering HTTP/1.1 on it.
    // Receive windows as undici's own HTTP/2 sets them: RFC 9113's 64 KiB default costs a round trip per
    // 64 KiB (8 MiB came down in ~97 ms at 64 KiB, ~44 ms at these on loopback), while what a paused
    // stream can make us buffer stays bounded (256 KiB a stream, 512 KiB beyond that a session).
    const s = http2.connect(this.origin, { ...(o.tls ?? {}), settings: { enablePush: false, initialWindowSize: STREAM_WINDOW } })
    s.once('connect', () => s.setLocalWindowSize(SESSION_WINDOW))
    const sess = new Session(s)
    this.#sessions.push(sess)
    this.#connecting++
    sess.connectTimer = setTimeout(() => {
      sess.connectTimer = null
      const err = new errors.ConnectTimeoutError(`connect timeout (${o.connectTimeout}ms)`)
      sess.error = err
      s.destroy(err)
    }, o.connectTimeout)
    s.on('remoteSettings', (settings) => {
      const limit = settings.maxConcurrentStreams ?? MAX_STREAMS_PER_SESSION
      sess.max = Math.max(0, Math.min(limit, MAX_STREAMS_PER_SESSION))
      if (!sess.ready) {
        sess.ready = true
        this.#connecting--
        if (sess.connectTimer !== null) clearTimeout(sess.connectTimer)
        sess.connectTimer = null
        if (sess.active === 0) this.#idle(sess)
      }
      this.#drain()
    })
    s.on('goaway', () => {
      sess.draining = true
      // Ours to close once its last stream ends (a server may wait for us to).
      if (sess.active === 0) s.close()
      this.#grow()
    })
    s.on('error', (err) => {
      sess.error ??= err
    })
    s.once('close', () => this.#closed(sess))
  }

  #closed(sess: Session): void {
    const i = this.#sessions.indexOf(sess)
    if (i !== -1) this.#sessions.splice(i, 1)
    if (sess.connectTimer !== null) clearTimeout(sess.connectTimer)
    if (sess.idleTimer !== null) clearTimeout(sess.idleTimer)
    if (!sess.ready) {
      this.#connecting--
      // The connection never came up: the requests waiting for it fail as undici's would (ECONNREFUSED, connect timeout, TLS).
      if (this.#connecting === 0 && !this.#sessions.some((s) => s.ready && !s.draining)) {
        const cause = sess.error
        const code = (cause as { code?: string } | null)?.code
        // Socket and TLS errors keep their code (ECONNREFUSED, certificate errors), as undici's do.
        const err = cause !== null && code !== undefined && !code.startsWith('ERR_HTTP2') ? cause : new H2ConnectFailed(`the upstream did not speak HTTP/2 (${cause?.message ?? 'closed before its SETTINGS'})`)
        for (const r of this.#queue.splice(0)) r.fail(err)
      }
    }
    this.#grow()
    this.#checkClosed()
  }

  /** A stream started on `sess`. */
  busy(sess: Session): void {
    if (sess.idleTimer !== null) {
      clearTimeout(sess.idleTimer)
      sess.idleTimer = null
    }
    if (sess.active === 1) sess.s.ref()
  }

  /** A stream on `sess` closed: its slot goes to a waiting request, or the session may go idle. */
  released(sess: Session): void {
    if (sess.active === 0) {
      if (sess.draining) sess.s.close()
      else this.#idle(sess)
    }
    this.#drain()
    this.#checkClosed()
  }

  #idle(sess: Session): void {
    sess.s.unref()
    if (sess.draining || this.#opts.idleTimeout <= 0) return
    sess.idleTimer = setTimeout(() => {
      sess.idleTimer = null
      if (sess.active === 0) {
        sess.draining = true
        sess.s.close()
      }
    }, this.#opts.idleTimeout)
    sess.idleTimer.unref()
  }

  #drain(): void {
    const q = this.#queue
    while (q.length > 0) {
      const s = this.#pick()
      if (s === null) break
      q.shift()!.start(s)
    }
    this.#grow()
  }

  #checkClosed(): void {
    const waiting = this.#closing
    if (waiting === null || this.#queue.length > 0 || this.#sessions.some((s) => s.active > 0)) return
    this.#closing = []
    for (const s of [...this.#sessions]) {
      s.draining = true
      s.s.close()
    }
    for (const w of waiting) w()
  }

  override close(): Promise<void>
  override close(callback: () => void): void
  override close(callback?: () => void): Promise<void> | void {
    const p = new Promise<void>((resolve) => {
      if (this.#closing === null) this.#closing = [resolve]
      else this.#closing.push(resolve)
      this.#checkClosed()
    })
    if (callback === undefined) return p
    void p.then(callback)
  }

  override destroy(): Promise<void>
  override destroy(err: Error | null): Promise<void>
  override destroy(callback: () => void): void
  override destroy(err: Error | null, callback: () => void): void
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = (typeof a === 'function' ? null : a) ?? new errors.ClientDestroyedError()
    const callback = typeof a === 'function' ? a : b
    this.#destroyed = true
    for (const r of this.#queue.splice(0)) r.fail(err)
    for (const s of [...this.#sessions]) s.s.destroy()
    const p = Promise.resolve()
    if (callback === undefined) return p
    void p.then(callback)
  }
}
