// The grpc.health.v1 active health check (grpc/doc/health-checking.md): one unary
// /grpc.health.v1.Health/Check call over the target's own HTTP/2 pool (protocol h2 or h2c), so
// it travels the connection real calls use. Healthy only on grpc-status 0 with a response whose
// status is SERVING; NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN, any other gRPC status (NOT_FOUND for an
// unknown service, UNIMPLEMENTED for a server without the health service), a non-200, a reset or
// the timeout are failures.
//
// The two messages are one field each, so they are encoded here instead of pulling in a protobuf
// runtime:
//   HealthCheckRequest  { string service = 1; }         → 0x0a <varint len> <utf-8>  (empty when "")
//   HealthCheckResponse { ServingStatus status = 1; }   → 0x08 <varint>              (SERVING = 1)
import type { Dispatcher } from 'undici'

const PATH = '/grpc.health.v1.Health/Check'
const SERVING = 1

function varint(n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return out
}

/** The request as one length-prefixed gRPC message (compressed flag 0, 4-byte big-endian length). */
export function encodeHealthRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8')
  const msg = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...varint(name.length)]), name])
  const frame = Buffer.alloc(5 + msg.length)
  frame.writeUInt32BE(msg.length, 1)
  msg.copy(frame, 5)
  return frame
}

/**
 * HealthCheckResponse.status from the response body (one length-prefixed message), or -1 when the
 * body is not one uncompressed message. Unknown fields are skipped, as protobuf requires.
 */
export function decodeHealthResponse(body: Buffer): number {
  if (body.length < 5 || body[0] !== 0) return -1
  const len = body.readUInt32BE(1)
  if (body.length !== 5 + len) return -1
  let status = 0 // proto3: an absent field is its default (UNKNOWN)
  let i = 5
  const end = 5 + len
  const readVarint = (): number => {
    let v = 0
    let shift = 0
    for (;;) {
      if (i >= end || shift > 28) throw new RangeError('bad varint')
      const b = body[i++]!
      v += (b & 0x7f) * 2 ** shift
      shift += 7
      if ((b & 0x80) === 0) return v
    }
  }
  try {
    while (i < end) {
      const key = readVarint()
      const wire = key & 7
      if (wire === 0) {
        const v = readVarint()
        if (key >>> 3 === 1) status = v
      } else if (wire === 2) {
        const n = readVarint() // not `i += readVarint()`: that reads i before the varint moves it
        i += n
      }
      else if (wire === 1) i += 8
      else if (wire === 5) i += 4
      else return -1
    }
  } catch {
    return -1
  }
  return i === end ? status : -1
}

/** The response is small: a body past this is not a HealthCheckResponse. */
const MAX_BODY = 1024

/** Resolves true when the target answered SERVING within `timeoutMs`; never rejects. */
export function grpcHealthCheck(pool: Dispatcher, authority: string, service: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false
    let controller: Dispatcher.DispatchController | null = null
    const timer = setTimeout(() => finish(false, new Error('grpc health check timed out')), timeoutMs)
    const finish = (ok: boolean, abort?: Error): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (abort !== undefined && controller !== null) controller.abort(abort)
      resolve(ok)
    }
    let status = 0
    let headStatus: string | undefined
    const chunks: Buffer[] = []
    let size = 0
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c
        if (done) c.abort(new Error('grpc health check timed out'))
      },
      onResponseStart(_c, statusCode, headers) {
        status = statusCode
        const g = headers['grpc-status']
        headStatus = typeof g === 'string' ? g : undefined
      },
      onResponseData(_c, chunk) {
        size += chunk.length
        if (size > MAX_BODY) return finish(false, new Error('grpc health check response too large'))
        chunks.push(chunk)
      },
      onResponseEnd(_c, trailers) {
        const g = trailers['grpc-status'] ?? headStatus
        finish(status === 200 && g === '0' && decodeHealthResponse(Buffer.concat(chunks, size)) === SERVING)
      },
      onResponseError() {
        finish(false)
      },
    }
    pool.dispatch(
      {
        path: PATH,
        method: 'POST',
        headers: {
          host: authority,
          'content-type': 'application/grpc',
          te: 'trailers',
          'user-agent': 'portico-health-check',
          'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
        },
        body: encodeHealthRequest(service),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      },
      handler,
    )
  })
}
