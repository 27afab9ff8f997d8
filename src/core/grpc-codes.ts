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
