// Writing gateway-made replies (errors from the catalogue and plugin LocalReplies).
import type { ServerResponse, OutgoingHttpHeaders } from 'node:http'
import { ERRORS, errorBody, type ErrorCode } from '../core/errors.js'
import type { LocalReply } from '../core/verdict.js'

export function sendError(
  res: ServerResponse,
  requestId: string,
  code: ErrorCode,
  message?: string,
  extra?: Record<string, string | string[]> | null,
  close = false,
): void {
  if (res.headersSent || res.destroyed) return
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
