// What operators see of gRPC calls that fail with HTTP 200 on the wire, through the real `portico`
// process: the access log's grpc_status (the upstream's trailers-only status, one in trailers
// after messages, the gateway's own UNIMPLEMENTED and UNAVAILABLE), such lines written even when
// successes are sampled away, HTTP status 200 kept in the log and in portico_requests_total, the
// gRPC status in portico_grpc_calls_total. And an HTTP/1.1 request that only carries a gRPC
// content-type is not treated as gRPC: its errors are the JSON ones and its line has no grpc_status.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { request } from 'undici'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { freePort } from '../../helpers/ports.js'
import { pollUntil } from '../../helpers/poll.js'
import { Echo, echoClient, startGrpcServer, unaryCall, type EchoStub, type GrpcServer, type Msg } from '../../helpers/grpc.js'

let up: GrpcServer
let deadPort: number
let gw: Gateway
const clients: grpc.Client[] = []

before(async () => {
  up = await startGrpcServer([
    [
      Echo.service,
      {
        Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
          const m = call.request
          if (m.fail_code) return cb({ code: m.fail_code, details: 'told to fail' })
          cb(null, { text: `echo:${m.text}` })
        },
        ServerStream(call: grpc.ServerWritableStream<Msg, Msg>) {
          call.write({ text: 'one' })
          call.write({ text: 'two' })
          call.emit('error', { code: grpc.status.ABORTED, details: 'stopped after two' })
        },
      },
    ],
  ])
  deadPort = await freePort() // reserved, nothing listens on it
  gw = await startGateway({
    config: ({ port, adminPort }) => `
server:
  listeners:
    - listen: 127.0.0.1:${port}
      protocols: [http1, h2c]
admin: { listen: 127.0.0.1:${adminPort} }
log: { level: info, access_log: { sample_success: 0 } }
upstreams:
  echo: { protocol: h2c, targets: [{ url: http://127.0.0.1:${up.port} }] }
  dead: { protocol: h2c, targets: [{ url: http://127.0.0.1:${deadPort} }] }
routes:
  - { name: obs, hosts: [obs.test], paths: [/portico.test.Echo/*], upstream: echo }
  - { name: obs-dead, hosts: [dead.test], paths: [/portico.test.Echo/*], upstream: dead }
`,
    args: ['--no-cluster'],
    readyTimeoutMs: 60_000,
  })
})

after(async () => {
  for (const c of clients) c.close()
  await gw?.stop()
  up?.close()
})

function client(authority: string): EchoStub {
  const c = echoClient(gw.port, authority)
  clients.push(c)
  return c
}

function withId(id: string): grpc.Metadata {
  const md = new grpc.Metadata()
  md.set('x-request-id', id)
  return md
}

/** The access log line of request `id` (not the warn line an upstream failure also gets). */
async function line(id: string): Promise<Record<string, unknown>> {
  const l = await pollUntil(() => gw.stdout().split('\n').find((x) => x.includes(`"request_id":"${id}","client_ip"`)), { timeoutMs: 15_000, what: `the access log line of ${id}` })
  return JSON.parse(l) as Record<string, unknown>
}

test('access log: grpc_status of a trailers-only upstream error, with HTTP status 200, written although successes are sampled away', async () => {
  const r = await unaryCall(client('obs.test'), { text: 'x', fail_code: grpc.status.FAILED_PRECONDITION }, withId('obs-fp'))
  assert.equal(r.err?.code, grpc.status.FAILED_PRECONDITION)
  const e = await line('obs-fp')
  assert.equal(e.status, 200)
  assert.equal(e.grpc_status, 'FAILED_PRECONDITION')
  assert.equal(e.route, 'obs')
  assert.equal(e.protocol, 'HTTP/2.0')
})

test('access log: grpc_status from trailers after response messages', async () => {
  const call = client('obs.test').ServerStream({ text: 's' }, withId('obs-stream'))
  const got: string[] = []
  const err = await new Promise<grpc.ServiceError>((resolve) => {
    call.on('data', (m: Msg) => got.push(m.text!))
    call.on('error', resolve)
  })
  assert.equal(err.code, grpc.status.ABORTED)
  assert.deepEqual(got, ['one', 'two'])
  const e = await line('obs-stream')
  assert.equal(e.status, 200)
  assert.equal(e.grpc_status, 'ABORTED')
})

test("access log: the gateway's own gRPC errors carry their grpc_status (no route → UNIMPLEMENTED, target down → UNAVAILABLE)", async () => {
  const nr = await unaryCall(client('nowhere.test'), { text: 'x' }, withId('obs-noroute'))
  assert.equal(nr.err?.code, grpc.status.UNIMPLEMENTED)
  const e1 = await line('obs-noroute')
  assert.equal(e1.status, 200)
  assert.equal(e1.error, 'route_not_found')
  assert.equal(e1.grpc_status, 'UNIMPLEMENTED')

  const down = await unaryCall(client('dead.test'), { text: 'x' }, withId('obs-down'))
  assert.equal(down.err?.code, grpc.status.UNAVAILABLE)
  const e2 = await line('obs-down')
  assert.equal(e2.status, 200)
  assert.equal(e2.error, 'upstream_unreachable')
  assert.equal(e2.grpc_status, 'UNAVAILABLE')
})

test('an OK call is a sampled success (no line with sample_success 0); metrics keep HTTP 2xx and count the gRPC status', async () => {
  const r = await unaryCall(client('obs.test'), { text: 'fine' }, withId('obs-ok'))
  assert.equal(r.res?.text, 'echo:fine')
  // A failure sent after it is logged, so the OK call's line would be there by now if written.
  await unaryCall(client('obs.test'), { text: 'x', fail_code: grpc.status.INTERNAL }, withId('obs-after-ok'))
  await line('obs-after-ok')
  assert.ok(!gw.stdout().includes('"request_id":"obs-ok"'))

  const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text()
  const value = (re: RegExp): number => Number(re.exec(metrics)?.[1] ?? 0)
  assert.ok(value(/^portico_requests_total\{route="obs",method="POST",status="2xx"\} (\d+)/m) >= 4)
  assert.equal(value(/^portico_requests_total\{route="obs",method="POST",status="5xx"\} (\d+)/m), 0)
  assert.ok(value(/^portico_grpc_calls_total\{route="obs",service="portico.test.Echo",method="Unary",code="FAILED_PRECONDITION"\} (\d+)/m) >= 1)
  assert.ok(value(/^portico_grpc_calls_total\{route="obs",service="portico.test.Echo",method="Unary",code="OK"\} (\d+)/m) >= 1)
  assert.ok(value(/^portico_grpc_calls_total\{route="obs-dead",service="portico.test.Echo",method="Unary",code="UNAVAILABLE"\} (\d+)/m) >= 1)
})

test('HTTP/1.1 with content-type application/grpc is plain HTTP: JSON errors (404, 502), no grpc_status, not counted as a gRPC call', async () => {
  const headers = { 'content-type': 'application/grpc', te: 'trailers' }
  const nr = await request(`${gw.url}/portico.test.Echo/Unary`, { method: 'POST', headers: { ...headers, host: 'nowhere.test', 'x-request-id': 'obs-h1-404' }, body: Buffer.alloc(5) })
  assert.equal(nr.statusCode, 404)
  assert.match(String(nr.headers['content-type']), /^application\/json/)
  assert.equal(nr.headers['grpc-status'], undefined)
  assert.equal(((await nr.body.json()) as { error: string }).error, 'route_not_found')

  const down = await request(`${gw.url}/portico.test.Echo/Unary`, { method: 'POST', headers: { ...headers, host: 'dead.test', 'x-request-id': 'obs-h1-502' }, body: Buffer.alloc(5) })
  assert.equal(down.statusCode, 502)
  assert.match(String(down.headers['content-type']), /^application\/json/)
  assert.equal(down.headers['grpc-status'], undefined)
  assert.equal(((await down.body.json()) as { error: string }).error, 'upstream_unreachable')

  const e404 = await line('obs-h1-404')
  assert.equal(e404.status, 404)
  assert.equal('grpc_status' in e404, false)
  const e502 = await line('obs-h1-502')
  assert.equal(e502.status, 502)
  assert.equal('grpc_status' in e502, false)
  const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text()
  assert.match(metrics, /^portico_requests_total\{route="obs-dead",method="POST",status="5xx"\} 1$/m)
})
