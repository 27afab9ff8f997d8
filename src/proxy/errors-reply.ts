// Writing gateway-made replies (errors from the catalogue and plugin LocalReplies). A gRPC request
// (content-type application/grpc* over HTTP/2) gets its gRPC status instead of the JSON body: one header check
// here, on the error path only, so every reply the gateway makes (early 400/404s, plugins' 401/403/
// 429, the upstream's 502/503/504, the breaker, body limits) is answered the same way.
import type { ServerResponse, OutgoingHttpHeaders } from 'node:http'
import { ERRORS, errorBody, type ErrorCode } from '../core/errors.js'
import type { LocalReply } from '../core/verdict.js'
import { GRPC_STATUS_OF, encodeGrpcMessage, grpcReplyType, grpcStatusOfReply, type GrpcStatus } from './grpc-status.js'

export function sendError(
  res: ServerResponse,
  requestId: string,
  code: ErrorCode,
  message?: string,
  extra?: Record<string, string | string[]> | null,
  close = false,
): void {
  if (res.headersSent || res.destroyed) return
  const grpcType = replyType(res)
  if (grpcType !== null) return sendGrpcStatus(res, requestId, GRPC_STATUS_OF[code], message ?? ERRORS[code].message, extra ?? null, close, grpcType)
  const body = errorBody(code, requestId, message)
  const headers: OutgoingHttpHeaders = {
    ...extra,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  }
  // After a body we did not read (413) or a request we could not parse, the connection is not
  // reusable: say so rather than let Node drain an arbitrarily large body.
  if (close) headers.connection = 'close'
  res.writeHead(ERRORS[code].status, headers)
  res.end(body)
}

export function sendLocalReply(res: ServerResponse, requestId: string, reply: LocalReply, extra: Record<string, string | string[]> | null): void {
  if (res.headersSent || res.destroyed) return
  // A refusal (an error code, or any status ≥ 400) to a gRPC client is a gRPC status; a plugin's
  // deliberate 2xx/3xx answer goes out as it is.
  if (reply.error !== undefined || reply.status >= 400) {
    const grpcType = replyType(res)
    if (grpcType !== null) {
      const headers = reply.headers === undefined ? extra : { ...extra, ...reply.headers }
      return sendGrpcStatus(res, requestId, grpcStatusOfReply(reply.error, reply.status), reply.message ?? reply.error ?? `HTTP ${reply.status}`, headers, false, grpcType)
    }
  }
  let body: string | Buffer
  let type: string | undefined
  if (reply.error !== undefined) {
    body = JSON.stringify({ status: reply.status, error: reply.error, message: reply.message ?? reply.error, request_id: requestId })
    type = 'application/json'
  } else if (reply.body === undefined) {
    body = ''
  } else if (typeof reply.body === 'string' || Buffer.isBuffer(reply.body)) {
    body = reply.body
  } else {
    body = JSON.stringify(reply.body)
    type = 'application/json'
  }
  const headers: OutgoingHttpHeaders = { ...extra, ...reply.headers, 'x-request-id': requestId }
  if (type !== undefined && headers['content-type'] === undefined) headers['content-type'] = type
  // RFC 9110 §8.6: no Content-Length (and no body) on 1xx, 204 and 304.
  const bodiless = reply.status < 200 || reply.status === 204 || reply.status === 304
  if (!bodiless) headers['content-length'] = Buffer.byteLength(body)
  res.writeHead(reply.status, headers)
  res.end(bodiless ? undefined : body)
}

/**
 * The content-type of a gRPC reply when the request of `res` is a gRPC call (application/grpc*
 * over HTTP/2) or a gRPC-Web one, else null. An HTTP/1.1 request with a gRPC content-type is not
 * gRPC (no trailers, so no place for a status a gRPC client could read) and gets the JSON error
 * (the same test as the handler's ctx.grpc).
 */
function replyType(res: ServerResponse): string | null {
  const req = (res as { req?: { httpVersionMajor: number; headers: Record<string, string | string[] | undefined> } }).req
  return req === undefined ? null : grpcReplyType(req.headers['content-type'], req.httpVersionMajor)
}

/** The request of `res` is a gRPC (or gRPC-Web) call whose errors are gRPC statuses. */
export function isGrpcRequest(res: ServerResponse): boolean {
  return replyType(res) !== null
}

// Fields of a plugin's or the gateway's extra headers that would contradict a gRPC reply.
const NOT_METADATA = new Set(['content-type', 'content-length', 'grpc-status', 'grpc-message', 'x-request-id', 'connection'])

/**
 * A "trailers-only" gRPC reply (PROTOCOL-HTTP2.md): HTTP 200, content-type application/grpc,
 * grpc-status and grpc-message in the one HEADERS frame that also ends the stream, no body. The head
 * is written by end(), not writeHead(): node:http2's compat response puts END_STREAM on the HEADERS
 * frame only then; a HEADERS frame without it followed by an empty DATA frame is, to gRPC clients,
 * response metadata and then a call that ended without a status. `extra` (Retry-After, RateLimit-*,
 * WWW-Authenticate, …) goes along as response metadata.
 */
export function sendGrpcStatus(
  res: ServerResponse,
  requestId: string,
  status: GrpcStatus,
  message: string,
  extra: Record<string, string | string[]> | null,
  close: boolean,
  contentType = 'application/grpc',
): void {
  res.statusCode = 200
  if (extra !== null) for (const k in extra) if (!NOT_METADATA.has(k.toLowerCase())) res.setHeader(k, extra[k]!)
  // A gRPC-Web client reads a trailers-only status from these headers as well (PROTOCOL-WEB.md).
  res.setHeader('content-type', contentType)
  res.setHeader('grpc-status', String(status))
  res.setHeader('grpc-message', encodeGrpcMessage(message))
  res.setHeader('x-request-id', requestId)
  // HTTP/1.1 only (an HTTP/2 response drops it): the unread body leaves the connection unusable.
  if (close) res.setHeader('connection', 'close')
  res.end()
}
