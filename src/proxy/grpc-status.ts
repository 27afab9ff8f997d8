// gRPC's view of the gateway's own replies: the catalogue code (core/errors.ts) → grpc-status, the
// grpc-message encoding, and the grpc-timeout header. Pure functions; the replies are written by
// errors-reply.ts and the call's deadline and trailers handled by grpc.ts (docs/grpc.md).
//
// The mapping follows gRPC's HTTP→gRPC table (doc/http-grpc-status-mapping.md: 400 INTERNAL,
// 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, else
// UNKNOWN), which Envoy applies to its local replies (Grpc::Utility::httpToGrpcStatus), but it maps
// the catalogue code, not the bare status, where the code says more than the status does:
// - too_many_requests → RESOURCE_EXHAUSTED, as Envoy's rate-limit filters do with
//   `rate_limited_as_resource_exhausted` and as gRPC's own quota errors are; payload_too_large and
//   header_fields_too_large too, the code gRPC uses for its message and metadata size limits.
// - upstream_timeout and request_timeout → DEADLINE_EXCEEDED (a deadline passed; the table's
//   UNAVAILABLE for 504 would invite an immediate retry of a call that already ran out of time).
// - invalid_body → INVALID_ARGUMENT (a plugin refused the message itself); the other 400s stay
//   INTERNAL as in the table (the request was malformed below gRPC).
// - internal and plugin failures → INTERNAL; not_implemented and method_not_allowed → UNIMPLEMENTED.
import { ERRORS, type ErrorCode } from '../core/errors.js'
import { GrpcWeb, grpcWebMode, responseType } from './grpc-web.js'

/** gRPC status codes (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus]

const S = GrpcStatus

const NAMES: readonly string[] = Object.keys(GrpcStatus)

/** A grpc-status value (the upstream's: untrusted) as its name, for metric labels: UNKNOWN unless it is one of the 17 codes. */
export function grpcStatusName(v: string | number | undefined): string {
  const n = typeof v === 'number' ? v : v === undefined || !/^\d{1,2}$/.test(v) ? -1 : Number(v)
  return NAMES[n] ?? 'UNKNOWN'
}

/** Every catalogue code has its gRPC status: a new code without one fails the type check. */
export const GRPC_STATUS_OF = {
  bad_request: S.INTERNAL,
  invalid_host: S.INTERNAL,
  invalid_path: S.INTERNAL,
  invalid_body: S.INVALID_ARGUMENT,
  unauthorized: S.UNAUTHENTICATED,
  forbidden: S.PERMISSION_DENIED,
  route_not_found: S.UNIMPLEMENTED,
  method_not_allowed: S.UNIMPLEMENTED,
  request_timeout: S.DEADLINE_EXCEEDED,
  payload_too_large: S.RESOURCE_EXHAUSTED,
  misdirected_request: S.UNAVAILABLE,
  too_many_requests: S.RESOURCE_EXHAUSTED,
  header_fields_too_large: S.RESOURCE_EXHAUSTED,
  plugin_error: S.INTERNAL,
  internal_error: S.INTERNAL,
  not_implemented: S.UNIMPLEMENTED,
  upstream_unreachable: S.UNAVAILABLE,
  upstream_bad_response: S.UNAVAILABLE,
  aggregate_failed: S.UNAVAILABLE,
  auth_unavailable: S.UNAVAILABLE,
  rate_limit_unavailable: S.UNAVAILABLE,
  cache_unavailable: S.UNAVAILABLE,
  no_healthy_target: S.UNAVAILABLE,
  circuit_open: S.UNAVAILABLE,
  upstream_overloaded: S.UNAVAILABLE,
  websocket_limit: S.UNAVAILABLE,
  shutting_down: S.UNAVAILABLE,
  upstream_timeout: S.DEADLINE_EXCEEDED,
  deadline_exceeded: S.DEADLINE_EXCEEDED,
  // only-if-cached with nothing stored: no deadline passed; the answer may be there later.
  not_cached: S.UNAVAILABLE,
} as const satisfies Record<ErrorCode, GrpcStatus>

/**
 * A gRPC request's content-type: `application/grpc`, `application/grpc+proto`, `…;charset` (not
 * gRPC-Web's `application/grpc-web*`, which frames its trailers differently). Runs on every request
 * that has a content-type: a length check and one startsWith.
 */
export function isGrpcContentType(ct: string): boolean {
  if (ct.length < 16 || !ct.startsWith('application/grpc')) return false
  if (ct.length === 16) return true
  const c = ct.charCodeAt(16)
  return c === 43 /* + */ || c === 59 /* ; */
}

/**
 * The content-type of a gateway-made gRPC reply to a request with content-type `ct` over HTTP
 * `httpMajor`, or null when the request is not a gRPC call: application/grpc for gRPC (HTTP/2
 * only: an HTTP/1.1 request with that type cannot take trailers and gets the JSON error), the
 * gRPC-Web type of a gRPC-Web request (any version: its status rides in headers or the body).
 */
export function grpcReplyType(ct: string | string[] | undefined, httpMajor: number): string | null {
  if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) return null
  if (isGrpcContentType(ct)) return httpMajor === 2 ? 'application/grpc' : null
  const web = grpcWebMode(ct)
  return web === GrpcWeb.None ? null : responseType(ct, web)
}

/** The gRPC status of a plugin's LocalReply: its catalogue code when it names one, else gRPC's table for its HTTP status. */
export function grpcStatusOfReply(error: string | undefined, status: number): GrpcStatus {
  if (error !== undefined && Object.hasOwn(GRPC_STATUS_OF, error)) return GRPC_STATUS_OF[error as ErrorCode]
  return grpcStatusOfHttp(status)
}

/** The gRPC status of a gateway error. */
export function grpcStatusOf(code: ErrorCode): GrpcStatus {
  return GRPC_STATUS_OF[code]
}

/**
 * gRPC's table for an HTTP status that came without a grpc-status (e.g. a non-gRPC upstream or an
 * intermediary answered): doc/http-grpc-status-mapping.md, verbatim.
 */
export function grpcStatusOfHttp(status: number): GrpcStatus {
  switch (status) {
    case 200:
      return S.UNKNOWN // a 200 without grpc-status is not a gRPC answer either
    case 400:
      return S.INTERNAL
    case 401:
      return S.UNAUTHENTICATED
    case 403:
      return S.PERMISSION_DENIED
    case 404:
      return S.UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return S.UNAVAILABLE
    default:
      return S.UNKNOWN
  }
}

/** grpc-status and grpc-message of a gateway error (the message as the catalogue or the caller words it). */
export function grpcErrorTrailers(code: ErrorCode, message?: string): { 'grpc-status': string; 'grpc-message': string } {
  return { 'grpc-status': String(GRPC_STATUS_OF[code]), 'grpc-message': encodeGrpcMessage(message ?? ERRORS[code].message) }
}

/**
 * grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md: bytes outside 0x20-0x7E, and '%'
 * itself, as %XX), so any message fits a header value.
 */
export function encodeGrpcMessage(msg: string): string {
  let plain = true
  for (let i = 0; i < msg.length; i++) {
    const c = msg.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false
      break
    }
  }
  if (plain) return msg
  let out = ''
  for (const b of Buffer.from(msg, 'utf8')) out += b < 0x20 || b > 0x7e || b === 0x25 ? '%' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b)
  return out
}

/** The reverse of encodeGrpcMessage; a malformed escape is kept as it is (the spec says decode leniently). */
export function decodeGrpcMessage(v: string): string {
  if (!v.includes('%')) return v
  const bytes: number[] = []
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c === 0x25 && i + 2 < v.length && /^[0-9A-Fa-f]{2}$/.test(v.slice(i + 1, i + 3))) {
      bytes.push(parseInt(v.slice(i + 1, i + 3), 16))
      i += 2
    } else bytes.push(...Buffer.from(v[i]!, 'utf8'))
  }
  return Buffer.from(bytes).toString('utf8')
}

// grpc-timeout (PROTOCOL-HTTP2.md): TimeoutValue TimeoutUnit, the value a positive integer of at
// most 8 ASCII digits, the unit one of H (hour) M (minute) S (second) m (milli) u (micro) n (nano).
const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }
const TIMEOUT_RE = /^(\d{1,8})([HMSmun])$/
const MAX_VALUE = 99_999_999

/** A grpc-timeout header value in milliseconds (fractional below 1 ms), or null when it is not one. */
export function parseGrpcTimeout(v: string | undefined): number | null {
  if (v === undefined) return null
  const m = TIMEOUT_RE.exec(v)
  if (m === null) return null
  return Number(m[1]) * UNIT_MS[m[2]!]!
}

// Finest unit first: the value is the timeout rounded up in the finest unit that fits 8 digits
// (grpc-go's encodeTimeout), so a propagated deadline is never shorter than the one it came from.
const FORMAT_UNITS: ReadonlyArray<readonly [string, number]> = [['n', 1], ['u', 1e3], ['m', 1e6], ['S', 1e9], ['M', 60e9], ['H', 3600e9]]

/** Formats a timeout in milliseconds as a grpc-timeout value; ≤ 0 gives "0n" (already expired). */
export function formatGrpcTimeout(ms: number): string {
  if (!(ms > 0)) return '0n'
  const ns = Math.round(ms * 1e6)
  for (const [unit, size] of FORMAT_UNITS) {
    const value = Math.ceil(ns / size)
    if (value <= MAX_VALUE) return `${value}${unit}`
  }
  return `${MAX_VALUE}H`
}
