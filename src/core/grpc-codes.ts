// gRPC status code names (grpc/doc/statuscodes.md), indexed by code. Here on the ground floor so
// the config schema (status lists in `retries`), the upstream's retry policy and the proxy's gRPC
// replies all use one list.

export const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const
export type GrpcStatusName = (typeof GRPC_STATUS_NAMES)[number]

/**
 * The HTTP status each gRPC status stands for, indexed by code (Envoy's grpcToHttpStatus, after
 * grpc/doc/http-grpc-status-mapping.md): what passive health checks and the circuit breaker judge
 * a gRPC call by, since its HTTP status is 200 whatever happened. UNAVAILABLE is a 503, so
 * `statuses: [502, 503, 504]` ejects a target that answers it as it would a plain 503.
 */
const GRPC_HTTP_EQUIVALENT = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401] as const

/** `grpc-status` (a decimal code) as its HTTP equivalent; an unknown or malformed code is a 500. */
export function grpcHttpEquivalent(grpcStatus: string): number {
  const code = Number(grpcStatus)
  return Number.isInteger(code) && code >= 0 && code < GRPC_HTTP_EQUIVALENT.length ? GRPC_HTTP_EQUIVALENT[code]! : 500
}
