// Failure classes of an upstream call, and the ONE mapping of undici's (and our own) errors to what
// the gateway does about them: a FailureKind for retry and health decisions, and a catalogue code
// and message for the client. The proxy's exchange and the buffered client (upstream/client.ts,
// used by aggregate) both map through here, so the same cause gets the same answer everywhere.
import type { ErrorCode } from '../core/errors.js'

/** The route's total timeout passed. */
export class UpstreamTimeout extends Error {
  readonly code = 'PORTICO_TOTAL_TIMEOUT'
}
/**
 * A gRPC call's own deadline (its grpc-timeout, shorter than the route's total) passed: the
 * client's choice, not the upstream failing, so no retry and nothing for passive health or the breaker.
 */
export class GrpcDeadline extends Error {
  readonly code = 'PORTICO_GRPC_DEADLINE'
}
/** The client went away; not the upstream's fault. */
export class ClientGone extends Error {
  readonly code = 'PORTICO_CLIENT_GONE'
}
/** A try's per_try_timeout passed before its response head. */
export class TryTimeout extends Error {
  readonly code = 'PORTICO_TRY_TIMEOUT'
}
/** Aborts a try that was superseded (its per-try deadline passed while it was still queued). */
export class StaleTry extends Error {
  readonly code = 'PORTICO_STALE_TRY'
}

/**
 * The upstream's response head breaks HTTP framing rules undici lets through (a 204 with a body
 * length, more header fields than MAX_UPSTREAM_HEADERS).
 */
export class UpstreamProtocolError extends Error {
  readonly code = 'PORTICO_UPSTREAM_PROTOCOL'
}

/**
 * Response header fields accepted from an upstream. undici bounds only the bytes of the values
 * (16 KiB), so 2000 one-byte headers were relayed; Envoy's max_headers_count default is 100 too.
 */
export const MAX_UPSTREAM_HEADERS = 100

/** undici's codes for a response that does not parse as HTTP/1.1 or breaks its own framing. */
function isProtocolCode(code: string | undefined): boolean {
  return code === 'PORTICO_UPSTREAM_PROTOCOL' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_HEADERS_OVERFLOW' || code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE' || (typeof code === 'string' && code.startsWith('HPE_'))
}

/** How a failed try failed, for retry and health decisions. */
export const FailureKind = { None: 0, Connect: 1, Reset: 2, Timeout: 3, TryTimeout: 4, Protocol: 5 } as const
export type FailureKind = (typeof FailureKind)[keyof typeof FailureKind]

/** Classifies an undici (or our own) error. None = not the upstream's fault (client gone, body limit, plugin). */
export function failureKind(err: Error): FailureKind {
  const code = (err as { code?: string }).code
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'PORTICO_H2_REFUSED_STREAM': // not processed (RFC 9113 §8.7), like a refused connection
    case 'PORTICO_H2_CONNECT':
      return FailureKind.Connect
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
    case 'PORTICO_H2_STREAM_RESET':
      return FailureKind.Reset
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'PORTICO_TOTAL_TIMEOUT':
      return FailureKind.Timeout
    case 'PORTICO_TRY_TIMEOUT':
      return FailureKind.TryTimeout
    default:
      if (err.name === 'HTTPParserError' || isProtocolCode(code)) return FailureKind.Protocol
      return FailureKind.None
  }
}

/** The deadlines a failed call ran under, named in the messages. */
export interface CallDeadlines {
  /** Whole-exchange deadline (ms). */
  readonly total: number
  /** Idle time between reads (ms). */
  readonly read: number
  /** Per-try deadline (ms), or undefined when there is none. */
  readonly perTry: number | undefined
}

/** What the client is told about a failed upstream call. */
export interface FailureReply {
  code: ErrorCode
  message: string | undefined
  /** The request body was not fully read: the connection is not reusable. */
  close: boolean
}

/**
 * The catalogue code for an upstream error, or null when it is none of the upstream's (client
 * gone mid-upload: nothing to answer). `clientAborted` says whether the client request is gone.
 */
export function failureReply(err: Error, d: CallDeadlines, clientAborted: boolean): FailureReply | null {
  const code = (err as { code?: string }).code
  switch (code) {
    case 'PORTICO_TOTAL_TIMEOUT':
      return { code: 'upstream_timeout', message: `no complete response within ${d.total}ms`, close: false }
    case 'PORTICO_GRPC_DEADLINE':
      return { code: 'deadline_exceeded', message: err.message, close: false }
    case 'PORTICO_TRY_TIMEOUT':
      return { code: 'upstream_timeout', message: `no response head within ${d.perTry}ms (per_try_timeout)`, close: false }
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { code: 'upstream_timeout', message: 'connect timeout', close: false }
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return { code: 'upstream_timeout', message: `upstream idle for more than ${d.read}ms`, close: false }
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return { code: 'bad_request', message: 'request body does not match Content-Length', close: true }
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return { code: 'upstream_unreachable', message: undefined, close: false }
    case 'PORTICO_H2_REFUSED_STREAM':
    case 'PORTICO_H2_STREAM_RESET':
    case 'PORTICO_H2_CONNECT':
      return { code: 'upstream_unreachable', message: err.message, close: false }
    default:
      // undici's HTTPParserError has no code for some parser failures; its name is stable.
      if (err.name === 'HTTPParserError' || isProtocolCode(code)) return { code: 'upstream_bad_response', message: err instanceof UpstreamProtocolError ? err.message : undefined, close: false }
      if (clientAborted) return null // client went away mid-upload
      return { code: 'upstream_unreachable', message: code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'the upstream closed the connection' : undefined, close: false }
  }
}

/** A catalogue code that the breaker counts as the upstream failing. */
export function isUpstreamFailure(code: string | undefined): boolean {
  return code === 'upstream_unreachable' || code === 'upstream_timeout' || code === 'upstream_bad_response'
}
