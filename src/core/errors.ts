// The catalogue of replies the gateway itself makes. Every gateway-made response comes from here,
// so codes are stable and documented (docs/errors.md; a test compares the two).
import type { LocalReply } from './verdict.js'

export const ERRORS = {
  bad_request: { status: 400, message: 'malformed request' },
  invalid_host: { status: 400, message: 'the Host header is not a valid host name or address' },
  invalid_path: { status: 400, message: 'the request path is not acceptable' },
  invalid_body: { status: 400, message: 'the request body is not acceptable' },
  unauthorized: { status: 401, message: 'authentication required' },
  forbidden: { status: 403, message: 'access denied' },
  route_not_found: { status: 404, message: 'no route matches the request' },
  method_not_allowed: { status: 405, message: 'method not allowed on this route' },
  request_timeout: { status: 408, message: 'the client did not send the request in time' },
  payload_too_large: { status: 413, message: 'request body exceeds the limit' },
  misdirected_request: { status: 421, message: 'the connection\'s TLS certificate does not cover the requested host' },
  too_many_requests: { status: 429, message: 'rate limit exceeded' },
  header_fields_too_large: { status: 431, message: 'request headers exceed the limit' },
  plugin_error: { status: 500, message: 'a plugin failed while handling the request' },
  internal_error: { status: 500, message: 'internal gateway error' },
  not_implemented: { status: 501, message: 'the gateway does not support this request' },
  upstream_unreachable: { status: 502, message: 'the upstream could not be reached' },
  upstream_bad_response: { status: 502, message: 'the upstream sent an invalid or incomplete response' },
  aggregate_failed: { status: 502, message: 'the backends of an aggregate route gave no usable answer' },
  auth_unavailable: { status: 503, message: 'authentication is temporarily unavailable' },
  rate_limit_unavailable: { status: 503, message: 'rate limiting is temporarily unavailable' },
  cache_unavailable: { status: 503, message: 'the cache is temporarily unavailable' },
  no_healthy_target: { status: 503, message: 'no upstream target is available' },
  circuit_open: { status: 503, message: 'the upstream is failing; its circuit breaker is open' },
  upstream_overloaded: { status: 503, message: 'the upstream has too many requests in flight' },
  websocket_limit: { status: 503, message: 'the route has as many WebSocket sessions open as it allows' },
  shutting_down: { status: 503, message: 'the gateway is shutting down' },
  upstream_timeout: { status: 504, message: 'the upstream did not answer in time' },
  deadline_exceeded: { status: 504, message: "the call's deadline passed" },
  not_cached: { status: 504, message: 'only-if-cached and no stored response can answer the request' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERRORS

/** JSON body of a gateway error, the same shape everywhere. */
export function errorBody(code: ErrorCode, requestId: string, message?: string): string {
  const e = ERRORS[code]
  return JSON.stringify({ status: e.status, error: code, message: message ?? e.message, request_id: requestId })
}

/**
 * A plugin's reply in the gateway's error shape, named by its catalogue code so the status and the
 * default message cannot drift from docs/errors.md. Build it once (at create()) when it does not
 * vary per request: a frozen reply costs nothing to return.
 */
export function localError(code: ErrorCode, message?: string, headers?: Record<string, string | string[]>): LocalReply {
  const e = ERRORS[code]
  const reply: LocalReply = { status: e.status, error: code, message: message ?? e.message }
  if (headers !== undefined) reply.headers = headers
  return reply
}
