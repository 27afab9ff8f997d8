// gRPC test pieces shared by the gRPC integration tests: the Echo service of
// test/fixtures/grpc/echo.proto (stub types, a loaded client constructor, a grpc-js server on
// 127.0.0.1:0), promise wrappers for calls, and a grpc.health.v1.Health service whose status the
// test flips, its two messages encoded by hand (the proto is two one-field messages, so a few bytes
// each; no grpc-health-check dependency).
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'

const PROTO = fileURLToPath(new URL('../fixtures/grpc/echo.proto', import.meta.url))

export interface Msg {
  text?: string
  data?: Buffer
  count?: number
  delay_ms?: number
  fail_code?: number
  fail_after?: number
}
type Cb = (err: grpc.ServiceError | null, res?: Msg) => void
export interface EchoStub extends grpc.Client {
  Unary(m: Msg, md: grpc.Metadata, o: grpc.CallOptions, cb: Cb): grpc.ClientUnaryCall
  ServerStream(m: Msg, md?: grpc.Metadata, o?: grpc.CallOptions): grpc.ClientReadableStream<Msg>
  ClientStream(md: grpc.Metadata, o: grpc.CallOptions, cb: Cb): grpc.ClientWritableStream<Msg>
  Bidi(md?: grpc.Metadata, o?: grpc.CallOptions): grpc.ClientDuplexStream<Msg, Msg>
}

const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true })
export const Echo = ((grpc.loadPackageDefinition(def).portico as grpc.GrpcObject).test as grpc.GrpcObject).Echo as grpc.ServiceClientConstructor
/** Serializers of each Echo method, for hand-made calls (node:http2, fetch). */
export const echoMethods = def['portico.test.Echo'] as Record<string, { requestSerialize(m: Msg): Buffer; responseDeserialize(b: Buffer): Msg }>

export interface GrpcServer {
  server: grpc.Server
  port: number
  close(): void
}

/** A grpc-js server on 127.0.0.1:0 (insecure) with the given services. */
export async function startGrpcServer(services: ReadonlyArray<readonly [grpc.ServiceDefinition, grpc.UntypedServiceImplementation]>): Promise<GrpcServer> {
  const server = new grpc.Server()
  for (const [d, impl] of services) server.addService(d, impl)
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  )
  return { server, port, close: () => server.forceShutdown() }
}

/** An Echo client to `host:port` with the given :authority (routes match on it). */
export function echoClient(port: number, authority: string): EchoStub {
  return new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority }) as unknown as EchoStub
}

/** A unary call: the answer, or the ServiceError it failed with (never rejects). */
export function unaryCall(c: EchoStub, m: Msg, md = new grpc.Metadata(), o: grpc.CallOptions = {}): Promise<{ res?: Msg; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    c.Unary(m, md, o, (err, res) => resolve(err ? { err } : { res: res! }))
  })
}

// ---- grpc.health.v1 (grpc/src/proto/grpc/health/v1/health.proto) ----
//   message HealthCheckRequest { string service = 1; }
//   message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; } ServingStatus status = 1; }

export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const

/** HealthCheckRequest.service: field 1, wire type 2 (tag 0x0a), a varint length, the UTF-8 bytes. */
function decodeHealthRequest(b: Buffer): { service: string } {
  let service = ''
  let i = 0
  while (i < b.length) {
    const tag = b[i++]!
    let len = 0
    let shift = 0
    for (;;) {
      const x = b[i++]!
      len |= (x & 0x7f) << shift
      shift += 7
      if ((x & 0x80) === 0) break
    }
    if (tag === 0x0a) service = b.subarray(i, i + len).toString('utf8')
    i += len // only length-delimited fields are expected here
  }
  return { service }
}

/** HealthCheckResponse.status: field 1, varint (tag 0x08); proto3 omits the default 0. */
function encodeHealthResponse(r: { status: number }): Buffer {
  return r.status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, r.status])
}

export const HealthService: grpc.ServiceDefinition = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: { service: string }) => (m.service === '' ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(m.service)]), Buffer.from(m.service)])),
    requestDeserialize: decodeHealthRequest,
    responseSerialize: encodeHealthResponse,
    responseDeserialize: (b: Buffer) => ({ status: b.length >= 2 && b[0] === 0x08 ? b[1]! : 0 }),
  },
}

/**
 * A health implementation: `status` maps service name ('' = the whole server) to its status; a
 * service not in it is NOT_FOUND, as grpc's reference implementation answers. `checks` records the
 * service names asked for.
 */
export function healthImpl(status: Map<string, number>, checks: string[] = []): grpc.UntypedServiceImplementation {
  return {
    Check(call: grpc.ServerUnaryCall<{ service: string }, { status: number }>, cb: grpc.sendUnaryData<{ status: number }>) {
      const service = call.request.service
      checks.push(service)
      const s = status.get(service)
      if (s === undefined) return cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' })
      cb(null, { status: s })
    },
  }
}
