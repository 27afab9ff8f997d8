// gRPC calls in the exchange (docs/grpc.md): the call's deadline (grpc-timeout), the deadline
// propagated upstream, the upstream's trailers relayed, and a status for a call that fails after its
// head went out. Only exchanges of gRPC requests (ctx.grpc) get here; the gateway-made replies
// themselves are errors-reply.ts's.
import { performance } from 'node:perf_hooks'
import type { ServerResponse } from 'node:http'
import { HOP_BY_HOP } from '../core/address.js'
import type { ErrorCode } from '../core/errors.js'
import { GrpcDeadline } from '../upstream/failure.js'
import { GRPC_STATUS_OF, encodeGrpcMessage, formatGrpcTimeout, parseGrpcTimeout } from './grpc-status.js'
import type { HeaderList } from './forward.js'
import type { Exchange } from './exchange.js'

/** setTimeout's largest delay; a longer deadline (grpc-timeout allows 99999999H) is propagated but not timed here. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Starts the call's deadline: the lesser of the client's grpc-timeout (counted from the request's
 * arrival, so time in the gateway's plugins counts) and the route's total timeout. The route's own
 * total keeps its shared timer list (deadlines.ts); a shorter grpc-timeout gets a timer of its own,
 * since its values are the client's to choose and a list per value would grow without bound. A
 * grpc-timeout that does not parse is dropped (not forwarded, no deadline). Returns false when the
 * deadline had passed already: answered DEADLINE_EXCEEDED, nothing goes upstream.
 */
export function armGrpcDeadline(ex: Exchange, totalMs: number): boolean {
  const raw = ex.ctx.req.headers['grpc-timeout']
  if (raw === undefined) {
    if (totalMs > 0) ex.env.deadlines.add(ex, totalMs)
    return true
  }
  const ms = typeof raw === 'string' ? parseGrpcTimeout(raw) : null
  if (ms === null) {
    delete ex.ctx.upstreamHeaders['grpc-timeout']
    if (totalMs > 0) ex.env.deadlines.add(ex, totalMs)
    return true
  }
  const now = performance.now()
  const remaining = ex.ctx.start + ms - now
  if (!(remaining > 0)) {
    ex.fail('deadline_exceeded', `the call's deadline (grpc-timeout ${raw}) passed before it was sent upstream`)
    return false
  }
  if (totalMs > 0 && totalMs <= remaining) {
    ex.env.deadlines.add(ex, totalMs)
    ex.grpcDeadlineAt = now + totalMs
    return true
  }
  ex.grpcDeadlineAt = now + remaining
  if (remaining <= MAX_TIMER_MS) ex.grpcTimer = setTimeout(onGrpcDeadline, remaining, ex).unref()
  return true
}

function onGrpcDeadline(ex: Exchange): void {
  ex.grpcTimer = null
  ex.expire(new GrpcDeadline(`the call's deadline (grpc-timeout ${String(ex.ctx.req.headers['grpc-timeout'])}) passed`))
}

/**
 * The upstream's grpc-timeout for a try: what is left of the call's deadline now (so the time the
 * gateway spent, queueing and earlier tries included, is taken off), or the try's own per-try
 * timeout when that is shorter.
 */
export function propagateGrpcTimeout(ex: Exchange, perTryMs: number): void {
  let left = ex.grpcDeadlineAt - performance.now()
  if (perTryMs > 0 && perTryMs < left) left = perTryMs
  ex.ctx.upstreamHeaders['grpc-timeout'] = formatGrpcTimeout(left)
}

/** The head (a list or an object) carries grpc-status: a trailers-only response. */
export function isTrailersOnly(headers: Record<string, string | string[]> | HeaderList): boolean {
  if (!Array.isArray(headers)) return headers['grpc-status'] !== undefined
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'grpc-status') return true
  return false
}

/**
 * Stages a trailers-only head on the response without writing it: the end() that follows writes it
 * in one HEADERS frame with END_STREAM (see errors-reply.ts sendGrpcStatus for why not writeHead).
 */
export function stageHead(res: ServerResponse, status: number, headers: Record<string, string | string[]> | HeaderList): void {
  res.statusCode = status
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i] as string, headers[i + 1]!)
  } else {
    for (const k in headers) res.setHeader(k, headers[k]!)
  }
}

/**
 * The upstream's trailers (grpc-status, grpc-message, custom and -bin metadata) onto the client's
 * response, before its end(): node:http2's compat response sends them when the stream asks for
 * trailers. Hop-by-hop and pseudo fields are not relayed; a field Node refuses is dropped, not thrown.
 */
export function relayTrailers(res: ServerResponse, trailers: Record<string, string | string[] | undefined>): void {
  const out: Record<string, string | string[]> = {}
  for (const k in trailers) {
    const v = trailers[k]
    if (v !== undefined && k.charCodeAt(0) !== 58 /* : */ && !HOP_BY_HOP.has(k)) out[k] = v
  }
  try {
    res.addTrailers(out)
  } catch {
    // An invalid field name or value: the others still go.
    for (const k in out) {
      try {
        res.addTrailers({ [k]: out[k]! })
      } catch {
        // dropped
      }
    }
  }
}

/**
 * A call that fails after its head reached the client (the upstream reset mid-stream, the deadline
 * passed during a streaming response): on HTTP/2 it still ends with a status, in trailers, instead
 * of a reset the client could only report as INTERNAL. False on HTTP/1.1 (no trailers to send).
 */
export function endWithStatus(res: ServerResponse, code: ErrorCode, message: string): boolean {
  if (res.req.httpVersionMajor !== 2) return false
  res.addTrailers({ 'grpc-status': String(GRPC_STATUS_OF[code]), 'grpc-message': encodeGrpcMessage(message) })
  res.end()
  return true
}
