// The access log: one JSON line per request, batched and written asynchronously so the request
// path never waits on I/O.
//
// Hand-written instead of pino's logger.info(obj) on a sonic-boom destination: on the load
// benchmark that cost ~9 µs per request (a fifth of the proxy's budget): pino's generic object
// serialization and timestamp, then sonic-boom measuring its whole buffer (Buffer.byteLength) on
// every write and issuing a write per 8 KiB. The fields here are fixed, so a line is one template
// string, encoded straight into 256 KiB batch buffers that go out in one write each.
import { write, writeSync } from 'node:fs'

/**
 * Fields written without escaping are constrained upstream of here: request ids match
 * forward.ts's REQUEST_ID_RE or are UUIDs, client IPs come from the socket or net.isIP-checked
 * X-Forwarded-For, methods are llhttp tokens, route names match the schema's name pattern and
 * upstreams are URL origins. Path, consumer, error code and query are escaped.
 */
export interface AccessEntry {
  requestId: string
  clientIp: string
  method: string
  path: string
  route: string | null
  upstream: string | null
  status: number
  bytes: number
  durationMs: number
  upstreamMs: number | undefined
  error: string | undefined
  consumer?: string | undefined
  /** Upstream tries (1 + retries); written only when a request was retried. */
  attempts?: number | undefined
  /** Set when the request was traced (hex ids from OpenTelemetry). */
  traceId?: string | undefined
  spanId?: string | undefined
  /** The (redacted) query string, only when `include_query` is on and the request had one. */
  query?: string | undefined
}

/**
 * `log.access_log` compiled once per Snapshot. null (in the Snapshot) = no access log, so a
 * gateway with it off pays one null check per request; sampling is one comparison when it is 1.
 */
export class AccessLogPolicy {
  /** Share of successful lines written (1 = all). */
  readonly sampleSuccess: number
  /** Lower-cased names whose values are redacted; null = the query is not logged at all. */
  readonly redact: ReadonlySet<string> | null

  constructor(sampleSuccess: number, redact: ReadonlySet<string> | null) {
    this.sampleSuccess = sampleSuccess
    this.redact = redact
  }

  /** Whether this request's line is written: failures always, successes by sample. */
  keep(status: number, error: string | undefined): boolean {
    return this.sampleSuccess >= 1 || status >= 400 || error !== undefined || Math.random() < this.sampleSuccess
  }

  /** The query field for a raw query string ('' = none), or undefined when queries are not logged. */
  query(raw: string): string | undefined {
    const redact = this.redact
    if (redact === null || raw === '') return undefined
    return redactQuery(raw.length > MAX_QUERY ? raw.slice(0, MAX_QUERY) : raw, redact)
  }
}

interface AccessLogOptions {
  enabled?: boolean
  sample_success?: number
  include_query?: boolean
  redact_query_params?: string[]
}

/** `log.access_log` (true/false or the options object) → a policy, or null when off. */
export function accessLogPolicy(c: boolean | AccessLogOptions | undefined): AccessLogPolicy | null {
  if (c === false) return null
  if (c === undefined || c === true) return new AccessLogPolicy(1, null)
  if (c.enabled === false) return null
  const names = new Set((c.redact_query_params ?? []).map((n) => n.toLowerCase()))
  return new AccessLogPolicy(c.sample_success ?? 1, c.include_query === true ? names : null)
}

/** Longer queries are cut (a 16 KiB query line per request would swamp the log). */
const MAX_QUERY = 2048

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).trim().toLowerCase()
  } catch {
    return raw.toLowerCase()
  }
}

/**
 * Replaces the value of every parameter named in `names` with [REDACTED]. Names are compared
 * decoded (`%74oken` is `token`), case-insensitively, and with a bracket suffix removed (`token[]`,
 * `token[0]`), as frameworks read them; every occurrence of a repeated name is redacted.
 */
export function redactQuery(q: string, names: ReadonlySet<string>): string {
  if (names.size === 0) return q
  const parts = q.split('&')
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    const eq = part.indexOf('=')
    const rawName = eq === -1 ? part : part.slice(0, eq)
    let name = decodeName(rawName)
    const bracket = name.indexOf('[')
    if (bracket > 0) name = name.slice(0, bracket)
    if (names.has(name)) parts[i] = `${rawName}=[REDACTED]`
  }
  return parts.join('&')
}

/** ISO time, recomputed at most once per millisecond (many requests share one). */
let lastMs = 0
let lastIso = ''
function isoNow(): string {
  const now = Date.now()
  if (now !== lastMs) {
    lastMs = now
    lastIso = new Date(now).toISOString()
  }
  return lastIso
}

// The line encoder. Hand-written rather than a template literal handed to Buffer.write: that
// built ~20 rope strings (1.4 KB of garbage per request) and formatted four numbers through V8's
// NumberToString (~1 µs per request with the doubles) before copying it all into the batch. Here
// every field goes byte by byte into the batch buffer; only a value that needs JSON escaping
// takes the JSON.stringify path.

/** Bytes of a constant piece of the line, encoded once. */
const lit = (s: string): Buffer => Buffer.from(s, 'latin1')
const K_TIME = lit('{"time":"')
const K_ID = lit('","request_id":"')
const K_IP = lit('","client_ip":"')
const K_METHOD = lit('","method":"')
const K_PATH = lit('","path":')
const K_ROUTE = lit(',"route":')
const K_UPSTREAM = lit(',"upstream":')
const K_STATUS = lit(',"status":')
const K_BYTES = lit(',"bytes":')
const K_DURATION = lit(',"duration_ms":')
const K_UPSTREAM_MS = lit(',"upstream_ms":')
const K_CONSUMER = lit(',"consumer":')
const K_ERROR = lit(',"error":')
const K_ATTEMPTS = lit(',"upstream_attempts":')
const K_TRACE = lit(',"trace_id":"')
const K_SPAN = lit('","span_id":"')
const K_QUERY = lit(',"query":')
const NULL = lit('null')
const END = lit('}\n')

function put(buf: Buffer, off: number, bytes: Buffer): number {
  buf.set(bytes, off)
  return off + bytes.length
}

/** A value known to be ASCII without quotes or backslashes (see AccessEntry), unquoted. */
function ascii(buf: Buffer, off: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[off + i] = s.charCodeAt(i)
  return off + s.length
}

/** A quoted string, or null. */
function quoted(buf: Buffer, off: number, s: string | null | undefined): number {
  if (s === null || s === undefined) return put(buf, off, NULL)
  buf[off] = 34
  off = ascii(buf, off + 1, s)
  buf[off] = 34
  return off + 1
}

/** A client-influenced string as a JSON string: visible ASCII is copied, anything else escaped. */
function json(buf: Buffer, off: number, s: string): number {
  const start = off
  buf[off++] = 34
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 34 || c === 92) return start + buf.write(JSON.stringify(s), start)
    buf[off++] = c
  }
  buf[off++] = 34
  return off
}

/** A non-negative integer. */
function uint(buf: Buffer, off: number, n: number): number {
  if (n < 10) {
    buf[off] = 48 + n
    return off + 1
  }
  let digits = 1
  for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++
  for (let i = off + digits - 1, v = n; i >= off; i--, v = Math.floor(v / 10)) buf[i] = 48 + (v % 10)
  return off + digits
}

/** Milliseconds rounded to the microsecond, without trailing zeros (2.5, 12, 0.034). */
function millis(buf: Buffer, off: number, v: number): number {
  if (!(v >= 0)) return put(buf, off, NULL)
  const us = Math.round(v * 1000)
  off = uint(buf, off, Math.floor(us / 1000))
  let frac = us % 1000
  if (frac === 0) return off
  buf[off++] = 46
  for (let d = 100; frac > 0; d /= 10) {
    const digit = Math.floor(frac / d)
    buf[off++] = 48 + digit
    frac -= digit * d
  }
  return off
}

/** An upper bound of the encoded line's length (JSON escapes take up to 6 bytes per UTF-16 unit). */
function maxLineBytes(e: AccessEntry): number {
  return (
    400 +
    e.requestId.length +
    e.clientIp.length +
    e.method.length +
    6 * e.path.length +
    (e.route?.length ?? 0) +
    (e.upstream?.length ?? 0) +
    (e.consumer === undefined ? 0 : 6 * e.consumer.length) +
    6 * (e.error?.length ?? 0) +
    (e.traceId === undefined ? 0 : e.traceId.length + (e.spanId?.length ?? 0)) +
    (e.query === undefined ? 0 : 6 * e.query.length)
  )
}

/** Encodes one line at `off` (room checked by the caller); returns the offset after it. */
function encode(buf: Buffer, off: number, e: AccessEntry): number {
  off = put(buf, off, K_TIME)
  off = ascii(buf, off, isoNow())
  off = put(buf, off, K_ID)
  off = ascii(buf, off, e.requestId)
  off = put(buf, off, K_IP)
  off = ascii(buf, off, e.clientIp)
  off = put(buf, off, K_METHOD)
  off = ascii(buf, off, e.method)
  off = put(buf, off, K_PATH)
  off = json(buf, off, e.path)
  off = put(buf, off, K_ROUTE)
  off = quoted(buf, off, e.route)
  off = put(buf, off, K_UPSTREAM)
  off = quoted(buf, off, e.upstream)
  off = put(buf, off, K_STATUS)
  off = uint(buf, off, e.status)
  off = put(buf, off, K_BYTES)
  off = uint(buf, off, e.bytes)
  off = put(buf, off, K_DURATION)
  off = millis(buf, off, e.durationMs)
  off = put(buf, off, K_UPSTREAM_MS)
  off = e.upstreamMs === undefined ? put(buf, off, NULL) : millis(buf, off, e.upstreamMs)
  off = put(buf, off, K_CONSUMER)
  off = e.consumer === undefined ? put(buf, off, NULL) : json(buf, off, e.consumer)
  off = put(buf, off, K_ERROR)
  // Plugins name their own error codes (LocalReply.error): escaped like any outside value.
  off = e.error === undefined ? put(buf, off, NULL) : json(buf, off, e.error)
  if (e.attempts !== undefined && e.attempts > 1) {
    off = put(buf, off, K_ATTEMPTS)
    off = uint(buf, off, e.attempts)
  }
  if (e.traceId !== undefined) {
    off = put(buf, off, K_TRACE)
    off = ascii(buf, off, e.traceId)
    off = put(buf, off, K_SPAN)
    off = ascii(buf, off, e.spanId ?? '')
    buf[off++] = 34
  }
  if (e.query !== undefined) {
    off = put(buf, off, K_QUERY)
    off = json(buf, off, e.query)
  }
  return put(buf, off, END)
}

/**
 * Lines are encoded straight into a batch buffer of this size (no per-line Buffer or string), and
 * a full batch is one write syscall: ~700 requests per write.
 */
const BATCH_BYTES = 256 * 1024
/** Beyond this much unwritten log (a stuck pipe), lines are dropped and counted, never queued forever. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024

export class AccessLog {
  readonly #fd: number
  #buf = Buffer.allocUnsafe(BATCH_BYTES)
  #off = 0
  /** Full batches waiting while a write is in flight. */
  #queue: Buffer[] = []
  #queued = 0
  #writing = false
  /** The batch being written and how far: at exit its rest is written synchronously. */
  #inFlight: Buffer | null = null
  #inFlightOff = 0
  /** Lines dropped because the destination could not keep up. */
  dropped = 0

  constructor(fd = 1) {
    this.#fd = fd
    // A quiet gateway still shows its lines within a second.
    setInterval(() => this.#seal(), 1000).unref()
    process.once('exit', () => this.flushSync())
  }

  write(e: AccessEntry): void {
    if (this.#queued > MAX_PENDING_BYTES) {
      this.dropped++
      return
    }
    const room = maxLineBytes(e)
    if (this.#off + room > this.#buf.length) {
      this.#seal()
      // A line longer than a batch (a huge path under a raised header limit) gets a batch of its own.
      if (room > this.#buf.length) this.#buf = Buffer.allocUnsafe(room)
    }
    this.#off = encode(this.#buf, this.#off, e)
  }

  /** Closes the current batch and hands it to the writer. */
  #seal(): void {
    if (this.#off === 0) return
    const batch = this.#buf.subarray(0, this.#off)
    this.#buf = Buffer.allocUnsafe(BATCH_BYTES)
    this.#off = 0
    this.#queue.push(batch)
    this.#queued += batch.length
    if (!this.#writing) this.#next()
  }

  #next(): void {
    const batch = this.#queue.shift()
    if (batch === undefined) {
      this.#writing = false
      return
    }
    this.#writing = true
    this.#writeOut(batch, 0)
  }

  #writeOut(buf: Buffer, offset: number): void {
    this.#inFlight = buf
    this.#inFlightOff = offset
    write(this.#fd, buf, offset, buf.length - offset, null, (err, written) => {
      if (err !== null) {
        // A non-blocking pipe that is full: try again shortly rather than spin or block.
        if (err.code === 'EAGAIN') return void setTimeout(() => this.#writeOut(buf, offset), 10)
        this.dropped++
        written = buf.length - offset // give the batch up
      }
      if (offset + written < buf.length) return this.#writeOut(buf, offset + written)
      this.#queued -= buf.length
      this.#inFlight = null
      this.#next()
    })
  }

  /** At exit: whatever is pending goes out synchronously, the batch in flight first. */
  flushSync(): void {
    try {
      if (this.#inFlight !== null) writeSync(this.#fd, this.#inFlight.subarray(this.#inFlightOff))
      this.#inFlight = null
      for (const batch of this.#queue) writeSync(this.#fd, batch)
      if (this.#off > 0) writeSync(this.#fd, this.#buf.subarray(0, this.#off))
    } catch {
      // the destination is gone; nothing else to do at exit
    }
    this.#queue = []
    this.#off = 0
  }
}
