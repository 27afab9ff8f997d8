// The ONE completion path of a request, whoever answered it (an early reply before routing, a
// plugin, the upstream, a failure): request metrics, the trace's end, the access log line, the
// rate-limited warn line for upstream failures, and the route's log phase. Runs once per request,
// after the response ended or the client went away.
import { performance } from 'node:perf_hooks'
import type { IncomingMessage } from 'node:http'
import type { RequestContext } from '../core/context.js'
import { plainAddress } from '../core/address.js'
import type { Snapshot } from '../snapshot/compile.js'
import type { Pipeline } from '../plugins/pipeline.js'
import { runLogPhase } from '../plugins/pipeline.js'
import { recordGrpcCall, recordRequest } from '../observability/metrics.js'
import { grpcReplyType, grpcStatusName, grpcStatusOfReply } from './grpc-status.js'
import { UPSTREAM_ERRORS, warnUpstreamError } from '../observability/upstream-errors.js'
import type { ProxyEnv } from './env.js'
import { GRPC_STATUS_NAMES, type GrpcStatusName } from '../core/grpc-codes.js'

/** What an exchange knows when it ends (proxy/exchange.ts Exchange is one). */
export interface Outcome {
  readonly ctx: RequestContext
  /** The route (on a split route, the branch that served it) and its upstream. */
  readonly route: { readonly name: string; readonly cluster: { readonly name: string } }
  readonly bytes: number
  readonly error: string | undefined
  readonly tries: number
  /** The low-level cause of an upstream failure (ECONNREFUSED, …), for its warn line. */
  readonly cause: string | undefined
  readonly pipeline: Pipeline | null
  /** gRPC: the grpc-status of the upstream's trailers or of a status the gateway sent in trailers (else undefined: see grpcCode). */
  readonly grpcStatus?: string | undefined
}

/** The gRPC status a call ended with: in trailers, or in the head (trailers-only, the gateway's replies), CANCELLED if the client left first. */
function grpcCode(ctx: RequestContext, status: number, trailerStatus: string | undefined): string {
  if (status === 499) return 'CANCELLED'
  const v = trailerStatus ?? ctx.res.getHeader('grpc-status')
  return grpcStatusName(typeof v === 'string' || typeof v === 'number' ? v : undefined)
}

/** /package.Service/Method → [service, method]; anything else → ['', ''] (not a gRPC path). */
function grpcMethod(path: string): [string, string] {
  const i = path.lastIndexOf('/')
  return i <= 1 ? ['', ''] : [path.slice(1, i), path.slice(i + 1)]
}

/**
 * A request answered by the exchange (`o`) with `status` (499: the client left first).
 * `bytesReceived` is set for a WebSocket session that ended (status 101): its request was counted
 * in the request metrics when the handshake completed, so only the trace, the access log line and
 * the log phase remain, with the session's duration and its bytes both ways.
 */
export function complete(env: ProxyEnv, snap: Snapshot, status: number, o: Outcome, bytesReceived?: number): void {
  const ctx = o.ctx
  const ms = performance.now() - ctx.start
  const declared = ctx.req.headers['content-length']
  const trace = ctx.trace
  if (bytesReceived === undefined) recordRequest(
    o.route.name,
    ctx.method,
    status,
    ms / 1000,
    declared === undefined ? 0 : Number(declared) || 0,
    o.bytes,
    trace !== null && trace.sampled ? trace.traceId : undefined,
  )
  // gRPC: the HTTP status stays what went on the wire (200 for every answered call); the gRPC
  // status goes into its own metric, the trace and the access log's grpc_status, and a non-OK one
  // counts as a failure for the access log's sampling.
  let grpcStatus: string | undefined
  if (ctx.grpc) {
    const [service, method] = grpcMethod(ctx.path)
    grpcStatus = grpcCode(ctx, status, o.grpcStatus)
    recordGrpcCall(o.route.name, service, method, grpcStatus)
    if (trace !== null) trace.grpcStatus(GRPC_STATUS_NAMES.indexOf(grpcStatus as GrpcStatusName))
  }
  if (trace !== null) trace.end(status, o.error)
  const log = snap.accessLog
  if (log !== null && log.keep(status, o.error, grpcStatus !== undefined && grpcStatus !== 'OK')) {
    env.accessLog.write({
      requestId: ctx.id,
      clientIp: ctx.clientIp,
      method: ctx.method,
      path: ctx.path,
      route: o.route.name,
      upstream: ctx.target === '' ? null : ctx.target,
      status,
      bytes: o.bytes,
      durationMs: ms,
      upstreamMs: ctx.upstreamDurationMs,
      consumer: ctx.consumer,
      error: o.error,
      attempts: o.tries,
      traceId: trace === null ? undefined : trace.traceId,
      spanId: trace === null ? undefined : trace.spanId,
      query: log.redact === null ? undefined : log.query(ctx.query),
      bytesReceived,
      protocol: ctx.req.httpVersionMajor === 2 ? 'HTTP/2.0' : undefined,
      grpcStatus,
    })
  }
  const error = o.error
  if (error !== undefined && UPSTREAM_ERRORS.has(error)) {
    warnUpstreamError(env.logger, {
      request_id: ctx.id,
      route: o.route.name,
      upstream: o.route.cluster.name,
      target: ctx.target === '' ? null : ctx.target,
      error,
      cause: o.cause,
      status,
      attempts: o.tries,
    })
  }
  const logSteps = o.pipeline?.log ?? null
  if (logSteps !== null) {
    runLogPhase(logSteps, ctx, { status, bytesSent: o.bytes, durationMs: ms, upstreamDurationMs: ctx.upstreamDurationMs, error }, (plugin, err) =>
      env.logger.warn({ err, plugin, request_id: ctx.id }, 'plugin log handler failed'),
    )
  }
}

/**
 * A request answered before its exchange started (400/404/405/413, `code`): no pipeline ran, so
 * there is no log phase; before routing there is no ctx either, and the line is built from the raw
 * request target, split so its query never lands in `path`.
 */
export function completeEarly(env: ProxyEnv, snap: Snapshot, req: IncomingMessage, id: string, start: number, status: number, code: string, ctx: RequestContext | undefined): void {
  const ms = performance.now() - start
  recordRequest(ctx?.routeName ?? '', req.method ?? 'GET', status, ms / 1000)
  // A gRPC call refused before routing (UNIMPLEMENTED for no route, …): its path names no known
  // method, so it is counted without one. The test is errors-reply.ts's (gRPC over HTTP/2, gRPC-Web).
  let grpcStatus: string | undefined
  if (grpcReplyType(req.headers['content-type'], req.httpVersionMajor) !== null) {
    grpcStatus = grpcStatusName(grpcStatusOfReply(code, status))
    recordGrpcCall(ctx?.routeName ?? '', '', '', grpcStatus)
  }
  const log = snap.accessLog
  if (log === null) return
  const url = req.url ?? ''
  const q = url.indexOf('?')
  env.accessLog.write({
    requestId: id,
    clientIp: ctx?.clientIp ?? plainAddress(req.socket.remoteAddress),
    method: req.method ?? 'GET',
    path: ctx?.path ?? (q === -1 ? url : url.slice(0, q)),
    route: ctx?.routeName ?? null,
    upstream: null,
    status,
    bytes: 0,
    durationMs: ms,
    upstreamMs: undefined,
    error: code,
    query: log.redact === null ? undefined : log.query(ctx?.query ?? (q === -1 ? '' : url.slice(q + 1))),
    protocol: req.httpVersionMajor === 2 ? 'HTTP/2.0' : undefined,
    grpcStatus,
  })
}
