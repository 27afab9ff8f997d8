// Passive health checks and the circuit breaker judge a gRPC call by its grpc-status (as its HTTP
// equivalent: UNAVAILABLE is a 503), not by the HTTP 200 every gRPC answer carries. Real
// @grpc/grpc-js servers; one answers UNAVAILABLE trailers-only (grpc-status in the head), one after
// sending its metadata (grpc-status in the trailers), one answers OK.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'
import { Echo, echoClient, startGrpcServer, unaryCall, type EchoStub, type GrpcServer, type Msg } from '../../helpers/grpc.js'
import { metric } from './helpers.js'

const unavailable = (metadataFirst: boolean): grpc.UntypedServiceImplementation => ({
  Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
    if (metadataFirst) call.sendMetadata(new grpc.Metadata())
    cb({ code: grpc.status.UNAVAILABLE, details: 'down for maintenance' })
  },
})
const ok = (name: string): grpc.UntypedServiceImplementation => ({
  Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
    cb(null, { text: `${name}:${call.request.text}` })
  },
})

let headOnly: GrpcServer
let inTrailers: GrpcServer
let good: GrpcServer
let lone: GrpcServer
let gw: InProcGateway
let port: number
const clients: grpc.Client[] = []

before(async () => {
  ;[headOnly, inTrailers, good, lone] = await Promise.all([
    startGrpcServer([[Echo.service, unavailable(false)]]),
    startGrpcServer([[Echo.service, unavailable(true)]]),
    startGrpcServer([[Echo.service, ok('good')]]),
    startGrpcServer([[Echo.service, unavailable(false)]]),
  ])
  const passive = '{ passive: { consecutive_failures: 2, base_ejection_time: 60s, max_ejected_percent: 100 } }'
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      protocols: [h2c]
upstreams:
  trio:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${headOnly.port} }, { url: http://127.0.0.1:${inTrailers.port} }, { url: http://127.0.0.1:${good.port} }]
    health_checks: ${passive}
    retries: { attempts: 0 }
  lone:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${lone.port} }]
    circuit_breaker: { consecutive_failures: 3, open_duration: 60s }
    retries: { attempts: 0 }
routes:
  - { name: trio, hosts: [trio.test], paths: [/portico.test.Echo/*], upstream: trio }
  - { name: lone, hosts: [lone.test], paths: [/portico.test.Echo/*], upstream: lone }
`)
  port = gw.dp.addresses()[0]!.port
})

after(async () => {
  for (const cl of clients) cl.close()
  await gw?.close()
  for (const s of [headOnly, inTrailers, good, lone]) s?.close()
})

function client(authority: string): EchoStub {
  const cl = echoClient(port, authority)
  clients.push(cl)
  return cl
}

const healthy = (upstream: string, targetPort: number) => metric('portico_upstream_target_healthy', { upstream, target: `http://127.0.0.1:${targetPort}` })

test('passive health ejects targets that answer UNAVAILABLE, in the head or in the trailers; calls then reach the good one only', async () => {
  const cl = client('trio.test')
  await pollUntil(
    async () => {
      await unaryCall(cl, { text: 'x' })
      return (await healthy('trio', headOnly.port)) === 0 && (await healthy('trio', inTrailers.port)) === 0
    },
    { timeoutMs: 20_000, intervalMs: 0, what: 'both UNAVAILABLE targets ejected' },
  )
  assert.equal(await healthy('trio', good.port), 1)
  for (let i = 0; i < 6; i++) {
    const r = await unaryCall(cl, { text: String(i) })
    assert.equal(r.err, undefined, r.err?.message)
    assert.equal(r.res?.text, `good:${i}`)
  }
})

test('the circuit breaker opens on consecutive UNAVAILABLE calls; then the gateway answers for the upstream', async () => {
  const cl = client('lone.test')
  for (let i = 0; i < 3; i++) {
    const r = await unaryCall(cl, { text: 'x' })
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE)
    assert.equal(r.err?.details, 'down for maintenance', 'the upstream answered these')
  }
  const r = await unaryCall(cl, { text: 'y' })
  assert.equal(r.err?.code, grpc.status.UNAVAILABLE)
  assert.notEqual(r.err?.details, 'down for maintenance', 'the open breaker answered, not the upstream')
  assert.match(r.err!.details, /circuit|open/i)
})
