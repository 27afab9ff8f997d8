// Active health checks of type grpc (grpc.health.v1.Health/Check) against real @grpc/grpc-js
// servers whose health service (test/helpers/grpc.ts, messages encoded by hand) the test flips:
// a target answering NOT_SERVING is taken out and calls go only to the healthy one, SERVING brings
// it back; the configured service name is the one asked about, and an unknown service (NOT_FOUND),
// a server without the health service (UNIMPLEMENTED) and a stopped server are failures.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'
import { Echo, HealthService, ServingStatus, echoClient, healthImpl, startGrpcServer, unaryCall, type EchoStub, type GrpcServer, type Msg } from '../../helpers/grpc.js'
import { metric } from './helpers.js'

function echoImpl(name: string): grpc.UntypedServiceImplementation {
  return {
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      cb(null, { text: `${name}:${call.request.text}` })
    },
  }
}

const statusA = new Map<string, number>([['', ServingStatus.SERVING]])
const statusB = new Map<string, number>([['', ServingStatus.SERVING]])
const statusC = new Map<string, number>([['portico.test.Echo', ServingStatus.SERVING]])
const checksA: string[] = []
const checksC: string[] = []
let a: GrpcServer
let b: GrpcServer
let c: GrpcServer
let bare: GrpcServer
let gone: GrpcServer
let gw: InProcGateway
let port: number
const clients: grpc.Client[] = []

before(async () => {
  a = await startGrpcServer([
    [Echo.service, echoImpl('a')],
    [HealthService, healthImpl(statusA, checksA)],
  ])
  b = await startGrpcServer([
    [Echo.service, echoImpl('b')],
    [HealthService, healthImpl(statusB)],
  ])
  c = await startGrpcServer([
    [Echo.service, echoImpl('c')],
    [HealthService, healthImpl(statusC, checksC)],
  ])
  bare = await startGrpcServer([[Echo.service, echoImpl('bare')]]) // no health service: UNIMPLEMENTED
  gone = await startGrpcServer([[HealthService, healthImpl(new Map([['', ServingStatus.SERVING]]))]])
  const check = (extra: string) => `{ active: { type: grpc, interval: 40ms, jitter: 0, timeout: 1s, healthy: { successes: 2 }, unhealthy: { failures: 2 }${extra} } }`
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      protocols: [h2c]
upstreams:
  pair:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${a.port} }, { url: http://127.0.0.1:${b.port} }]
    health_checks: ${check('')}
  named:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${c.port} }]
    health_checks: ${check(', service: portico.test.Echo')}
  bare:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${bare.port} }]
    health_checks: ${check('')}
  gone:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${gone.port} }]
    health_checks: ${check('')}
routes:
  - { name: pair, hosts: [pair.test], paths: [/portico.test.Echo/*], upstream: pair }
  - { name: named, hosts: [named.test], paths: [/portico.test.Echo/*], upstream: named }
`)
  port = gw.dp.addresses()[0]!.port
})

after(async () => {
  for (const cl of clients) cl.close()
  await gw?.close()
  for (const s of [a, b, c, bare, gone]) s?.close()
})

function client(authority: string): EchoStub {
  const cl = echoClient(port, authority)
  clients.push(cl)
  return cl
}

/** portico_upstream_target_healthy of one target (1 healthy, 0 not). */
const healthy = (upstream: string, targetPort: number) => metric('portico_upstream_target_healthy', { upstream, target: `http://127.0.0.1:${targetPort}` })

/** Which servers answered `n` calls. */
async function servedBy(n: number): Promise<Set<string>> {
  const cl = client('pair.test')
  const by = new Set<string>()
  for (let i = 0; i < n; i++) {
    const r = await unaryCall(cl, { text: String(i) })
    assert.equal(r.err, undefined, r.err?.message)
    by.add(r.res!.text!.split(':')[0]!)
  }
  return by
}

test('NOT_SERVING takes a target out (calls go only to the healthy one); SERVING brings it back', async () => {
  await pollUntil(() => checksA.length >= 2, { what: 'health checks reaching a' })
  assert.deepEqual(await servedBy(6), new Set(['a', 'b']))
  assert.equal(checksA[0], '', 'no service configured: the server as a whole')

  statusA.set('', ServingStatus.NOT_SERVING)
  await pollUntil(async () => (await healthy('pair', a.port)) === 0, { what: 'a unhealthy' })
  assert.deepEqual(await servedBy(8), new Set(['b']))

  statusA.set('', ServingStatus.SERVING)
  await pollUntil(async () => (await healthy('pair', a.port)) === 1, { what: 'a healthy again' })
  assert.deepEqual(await servedBy(6), new Set(['a', 'b']))
})

test('the configured service name is the one asked about; an unknown service (NOT_FOUND) is a failure', async () => {
  await pollUntil(() => checksC.length >= 1, { what: 'health checks reaching c' })
  assert.ok(checksC.every((s) => s === 'portico.test.Echo'))
  assert.equal(await healthy('named', c.port), 1)
  assert.equal((await unaryCall(client('named.test'), { text: 'x' })).res?.text, 'c:x')

  statusC.delete('portico.test.Echo')
  await pollUntil(async () => (await healthy('named', c.port)) === 0, { what: 'c unhealthy' })
  const r = await unaryCall(client('named.test'), { text: 'y' })
  assert.equal(r.err?.code, grpc.status.UNAVAILABLE)
  assert.match(r.err!.details, /no upstream target is available/)

  statusC.set('portico.test.Echo', ServingStatus.SERVICE_UNKNOWN)
  const before = checksC.length
  await pollUntil(() => checksC.length >= before + 3, { what: 'more checks of c' })
  assert.equal(await healthy('named', c.port), 0, 'SERVICE_UNKNOWN is not SERVING')
  statusC.set('portico.test.Echo', ServingStatus.SERVING)
  await pollUntil(async () => (await healthy('named', c.port)) === 1, { what: 'c healthy again' })
})

test('a server without the health service (UNIMPLEMENTED) and a stopped server are unhealthy', async () => {
  await pollUntil(async () => (await healthy('bare', bare.port)) === 0, { what: 'bare unhealthy' })
  await pollUntil(async () => (await healthy('gone', gone.port)) === 1, { what: 'gone healthy while it runs' })
  gone.close()
  await pollUntil(async () => (await healthy('gone', gone.port)) === 0, { what: 'gone unhealthy once stopped' })
})
