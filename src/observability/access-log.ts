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
  /** A WebSocket session (status 101): bytes received from the client after the handshake; `bytes` is those sent to it. */
  bytesReceived?: number | undefined
  /** "HTTP/2.0" for a request that came over HTTP/2 (h2 or h2c); unset (not written) for HTTP/1.x. */
  protocol?: string | undefined
  /**
   * gRPC calls only: the gRPC status name the call ended with (OK, UNAVAILABLE, …; Envoy's
   * %GRPC_STATUS%), the same value as portico_grpc_calls_total's `code`. From grpcStatusName, so
   * one of the 17 names, written without escaping.
   */
  grpcStatus?: string | undefined
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

  /**
   * Whether this request's line is written: failures always, successes by sample. `failed`: the
   * request failed whatever its HTTP status says (a gRPC call that ended with a status other than
   * OK goes out as HTTP 200).
   */
  keep(status: number, error: string | undefined, failed = false): boolean {
    return this.sampleSuccess >= 1 || status >= 400 || error !== undefined || failed || Math.random() < this.sampleSuccess
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

// The line encoder: one template string per line, written into the batch with one utf8Write.
// Measured in instructions per request under callgrind (bench/instructions), this costs about a
// third of encoding the fields byte by byte into the batch: V8 concatenates short strings and
// copies a flat one far more cheaply than JS can loop over characters, and the rope it builds
// dies young (scavenge cost follows survivors, not garbage). What stays expensive is avoided:
// Date#toISOString (C++ snprintf) runs once per second, and durations are formatted from
// integers, never through the double-to-string conversion.

/** "2026-11-23T06:10:05." for the current second, and that second. */
let isoSecond = -1
let isoPrefix = ''
/** "000Z" … "999Z": the milliseconds and the zone of the time field. */
const MILLIS_Z = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(3, '0')}Z`)
/** "", ".001", ".01", … ".999": microseconds as a fraction of a millisecond, trailing zeros dropped. */
const FRACTION = Array.from({ length: 1000 }, (_, i) => (i === 0 ? '' : `.${String(i).padStart(3, '0').replace(/0+$/, '')}`))

/** The line's time: ISO 8601, UTC, milliseconds. */
function isoNow(): string {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== isoSecond) {
    isoSecond = second
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20)
  }
  return isoPrefix + MILLIS_Z[now - second * 1000]!
}

/** Milliseconds rounded to the microsecond, without trailing zeros (2.6, 12, 0.034). */
function millis(v: number): string {
  if (!(v >= 0)) return 'null'
  const us = Math.round(v * 1000)
  const whole = Math.floor(us / 1000)
  return `${whole}${FRACTION[us - whole * 1000]!}`
}

/** A client-influenced value as a JSON string; visible ASCII without quotes skips JSON.stringify. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/
function str(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s)
}

function line(e: AccessEntry): string {
  return (
    `{"time":"${isoNow()}","request_id":"${e.requestId}","client_ip":"${e.clientIp}","method":"${e.method}","path":${str(e.path)},` +
    `"route":${e.route === null ? 'null' : `"${e.route}"`},"upstream":${e.upstream === null ? 'null' : `"${e.upstream}"`},"status":${e.status},` +
    `"bytes":${e.bytes},"duration_ms":${millis(e.durationMs)},"upstream_ms":${e.upstreamMs === undefined ? 'null' : millis(e.upstreamMs)},` +
    // Plugins name their own error codes (LocalReply.error): escaped like any outside value.
    `"consumer":${e.consumer === undefined ? 'null' : str(e.consumer)},"error":${e.error === undefined ? 'null' : str(e.error)}` +
    `${e.attempts !== undefined && e.attempts > 1 ? `,"upstream_attempts":${e.attempts}` : ''}` +
    `${e.traceId === undefined ? '' : `,"trace_id":"${e.traceId}","span_id":"${e.spanId}"`}` +
    `${e.query === undefined ? '' : `,"query":${str(e.query)}`}` +
    `${e.bytesReceived === undefined ? '' : `,"bytes_received":${e.bytesReceived}`}` +
    `${e.protocol === undefined ? '' : `,"protocol":"${e.protocol}"`}` +
    `${e.grpcStatus === undefined ? '' : `,"grpc_status":"${e.grpcStatus}"`}}\n`
  )
}

/** Buffer#utf8Write: what write(s, off) ends in, without its argument juggling. */
type Utf8Writable = Buffer & { utf8Write(s: string, offset: number): number }

/**
 * Lines are written straight into a batch buffer of this size (no per-line Buffer), and
 * a full batch is one write syscall: ~700 requests per write.
 */
const BATCH_BYTES = 256 * 1024
/** Beyond this much unwritten log (a stuck pipe), lines are dropped and counted, never queued forever. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024
/**
 * Written batches are kept for reuse, up to this many. A fresh 256 KiB buffer per batch made
 * glibc raise its mmap threshold after the first free and then serve every later batch from the
 * brk heap, which fragments and is never returned: ~8 MB of a worker's RSS under load, measured
 * against a run with the threshold pinned. Reused buffers are allocated once.
 */
const SPARE_BATCHES = 4

export class AccessLog {
  readonly #fd: number
  #buf: Buffer = Buffer.allocUnsafe(BATCH_BYTES)
  #off = 0
  /** Full batches waiting while a write is in flight. */
  #queue: Buffer[] = []
  #queued = 0
  #writing = false
  /** The batch being written and how far: at exit its rest is written synchronously. */
  #inFlight: Buffer | null = null
  #inFlightOff = 0
  /** Batch buffers whose write finished, ready for reuse. */
  #spare: Buffer[] = []
  /** Lines dropped because the destination could not keep up. */
  dropped = 0
  /** Seals the current batch a second after its first line; null while the batch is empty. */
  #timer: NodeJS.Timeout | null = null

  constructor(fd = 1) {
    this.#fd = fd
    process.once('exit', () => this.flushSync())
  }

  write(e: AccessEntry): void {
    if (this.#queued > MAX_PENDING_BYTES) {
      this.dropped++
      return
    }
    const text = line(e)
    // UTF-8 takes at most 3 bytes per UTF-16 unit: seal the batch first if the line might not fit.
    const room = text.length * 3
    if (this.#off + room > this.#buf.length) {
      this.#seal()
      // A line longer than a batch (a huge path under a raised header limit) gets a batch of its own.
      if (room > this.#buf.length) this.#buf = Buffer.allocUnsafe(room)
    }
    // A quiet gateway still shows its lines within a second. The timer is armed by the first line
    // of a batch, not run every second: an idle worker has no reason to wake up (issue 12).
    if (this.#off === 0 && this.#timer === null) {
      this.#timer = setTimeout(this.#onTimer, 1000)
      this.#timer.unref()
    }
    this.#off += (this.#buf as Utf8Writable).utf8Write(text, this.#off)
  }

  readonly #onTimer = (): void => {
    this.#timer = null
    this.#seal()
  }

  /** Closes the current batch and hands it to the writer. */
  #seal(): void {
    if (this.#off === 0) return
    const batch = this.#buf.subarray(0, this.#off)
    this.#buf = this.#spare.pop() ?? Buffer.allocUnsafe(BATCH_BYTES)
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
      // A regular batch is a view of a buffer of its own: that whole buffer can be refilled now.
      if (buf.byteOffset === 0 && buf.buffer.byteLength === BATCH_BYTES && this.#spare.length < SPARE_BATCHES) {
        this.#spare.push(Buffer.from(buf.buffer, 0, BATCH_BYTES))
      }
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
