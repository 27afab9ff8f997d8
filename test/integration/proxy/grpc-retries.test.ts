// gRPC-aware retries (retries.on_grpc_statuses), with two real @grpc/grpc-js servers behind one
// upstream and grpc-js clients: a trailers-only UNAVAILABLE from one target is retried on the other
// (the request message replayed intact), but never once a response message reached the client, never
// for a status that is not listed, never with a body larger than max_buffered_body; a listed
// non-default status (RESOURCE_EXHAUSTED) is retried; attempts: 0 turns it off; a gRPC-Web -text
// call (base64 body, decoded on its way) is retried with its decoded message replayed.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import * as grpc from '@grpc/grpc-js'
import { request } from 'undici'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { Echo, echoClient, echoMethods, startGrpcServer, unaryCall, type EchoStub, type GrpcServer, type Msg } from '../../helpers/grpc.js'
import { registry } from '../../../src/observability/metrics.js'

/** Calls each server saw, by request text. */
const calls: Record<string, string[]> = { a: [], b: [] }

/**
 * Server `name` fails when the call's metadata has `x-fail-<name>: <code>`: a unary call with a
 * trailers-only answer, a server stream after its first message.
 */
function impl(name: 'a' | 'b'): grpc.UntypedServiceImplementation {
  const failCode = (md: grpc.Metadata): number => Number(md.get(`x-fail-${name}`)[0] ?? 0)
  return {
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      calls[name]!.push(call.request.text ?? '')
      const code = failCode(call.metadata)
      if (code !== 0) return cb({ code, details: `${name} refuses` })
      cb(null, { text: `${name}:${call.request.text}`, count: call.request.data?.length ?? 0, data: call.request.data })
    },
    ServerStream(call: grpc.ServerWritableStream<Msg, Msg>) {
      calls[name]!.push(call.request.text ?? '')
      call.write({ text: `${name}#0` })
      const code = failCode(call.metadata)
      if (code !== 0) return void call.emit('error', { code, details: `${name} broke off` })
      call.write({ text: `${name}#1` })
      call.end()
    },
  }
}

let a: GrpcServer
let b: GrpcServer
let gw: InProcGateway
let port: number
const clients: grpc.Client[] = []

before(async () => {
  a = await startGrpcServer([[Echo.service, impl('a')]])
  b = await startGrpcServer([[Echo.service, impl('b')]])
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      protocols: [http1, h2c]
upstreams:
  pair:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${a.port} }, { url: http://127.0.0.1:${b.port} }]
routes:
  - name: retried
    hosts: [retried.test]
    paths: [/portico.test.Echo/*]
    upstream: pair
    retries: { attempts: 2, backoff: { base: 1ms, max: 5ms }, max_buffered_body: 4kb }
  - name: exhausted
    hosts: [exhausted.test]
    paths: [/portico.test.Echo/*]
    upstream: pair
    retries: { attempts: 2, backoff: { base: 1ms, max: 5ms }, on_grpc_statuses: [UNAVAILABLE, RESOURCE_EXHAUSTED] }
  - name: off
    hosts: [off.test]
    paths: [/portico.test.Echo/*]
    upstream: pair
    retries: { attempts: 0 }
`)
  port = gw.dp.addresses()[0]!.port
})

after(async () => {
  for (const c of clients) c.close()
  await gw?.close()
  a?.close()
  b?.close()
})

function client(authority: string): EchoStub {
  const c = echoClient(port, authority)
  clients.push(c)
  return c
}

function failing(...servers: Array<[string, number]>): grpc.Metadata {
  const md = new grpc.Metadata()
  for (const [name, code] of servers) md.set(`x-fail-${name}`, String(code))
  return md
}

const seen = (text: string): number => calls.a!.filter((t) => t === text).length + calls.b!.filter((t) => t === text).length

test('a trailers-only UNAVAILABLE from one target is retried on the other: every call succeeds there, its message replayed intact', async () => {
  const c = client('retried.test')
  const data = Buffer.alloc(2048, 5)
  data[100] = 1
  for (let i = 0; i < 6; i++) {
    const r = await unaryCall(c, { text: `u${i}`, data }, failing(['a', grpc.status.UNAVAILABLE]))
    assert.equal(r.err, undefined, `call ${i}: ${r.err?.message}`)
    assert.equal(r.res!.text, `b:u${i}`)
    assert.ok(data.equals(r.res!.data!), 'the replayed message is the one the client sent')
  }
  // Round robin put some of them on a first; each of those was tried there once, then on b.
  const onA = calls.a!.filter((t) => /^u\d$/.test(t)).length
  assert.ok(onA >= 1, 'a saw some of the calls first')
  assert.equal(calls.b!.filter((t) => /^u\d$/.test(t)).length, 6)
  const text = await registry.metrics()
  assert.match(text, /^portico_upstream_retries_total\{upstream="pair"\} [1-9]/m)
})

test('every target UNAVAILABLE: tried attempts + 1 times at most, then the last UNAVAILABLE reaches the client', async () => {
  const r = await unaryCall(client('retried.test'), { text: 'all-down' }, failing(['a', grpc.status.UNAVAILABLE], ['b', grpc.status.UNAVAILABLE]))
  assert.equal(r.err?.code, grpc.status.UNAVAILABLE)
  assert.match(r.err!.details, /refuses/)
  assert.equal(seen('all-down'), 3)
})

test('a status not listed (RESOURCE_EXHAUSTED with the default list) is not retried', async () => {
  for (let i = 0; i < 4; i++) {
    const r = await unaryCall(client('retried.test'), { text: `re${i}` }, failing(['a', grpc.status.RESOURCE_EXHAUSTED], ['b', grpc.status.RESOURCE_EXHAUSTED]))
    assert.equal(r.err?.code, grpc.status.RESOURCE_EXHAUSTED)
    assert.equal(seen(`re${i}`), 1, `call re${i} went upstream once`)
  }
})

test('on_grpc_statuses: [UNAVAILABLE, RESOURCE_EXHAUSTED] retries RESOURCE_EXHAUSTED too', async () => {
  const c = client('exhausted.test')
  for (let i = 0; i < 4; i++) {
    const r = await unaryCall(c, { text: `ex${i}` }, failing(['a', grpc.status.RESOURCE_EXHAUSTED]))
    assert.equal(r.res?.text, `b:ex${i}`, r.err?.message)
  }
  assert.ok(calls.a!.filter((t) => t.startsWith('ex')).length >= 1)
})

test('a server stream that fails after its first message is not retried: the client has the message and the status', async () => {
  const c = client('retried.test')
  for (let i = 0; i < 4; i++) {
    const call = c.ServerStream({ text: `st${i}` }, failing(['a', grpc.status.UNAVAILABLE], ['b', grpc.status.UNAVAILABLE]))
    const got: string[] = []
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      call.on('data', (m: Msg) => got.push(m.text!))
      call.on('error', resolve)
    })
    assert.equal(err.code, grpc.status.UNAVAILABLE)
    assert.equal(got.length, 1)
    assert.equal(seen(`st${i}`), 1, `stream st${i} went upstream once`)
  }
})

test('a request message larger than max_buffered_body is not replayed, so not retried', async () => {
  const c = client('retried.test')
  let failed = 0
  for (let i = 0; i < 4; i++) {
    const r = await unaryCall(c, { text: `big${i}`, data: Buffer.alloc(8192, 1) }, failing(['a', grpc.status.UNAVAILABLE]))
    assert.equal(seen(`big${i}`), 1)
    if (r.err !== undefined) {
      assert.equal(r.err.code, grpc.status.UNAVAILABLE)
      failed++
    }
  }
  assert.ok(failed >= 1, 'round robin put at least one on a, and it was not retried')
})

test('attempts: 0 turns gRPC retries off', async () => {
  const c = client('off.test')
  let failed = 0
  for (let i = 0; i < 4; i++) {
    const r = await unaryCall(c, { text: `off${i}` }, failing(['a', grpc.status.UNAVAILABLE]))
    assert.equal(seen(`off${i}`), 1)
    if (r.err !== undefined) failed++
  }
  assert.ok(failed >= 1)
})

/** A unary gRPC-Web -text call over HTTP/1.1: the framed message base64'd, the answer decoded. */
async function webTextCall(authority: string, m: Msg, metadata: Record<string, string>): Promise<{ status: number; messages: Msg[]; grpcStatus: string | undefined }> {
  const msg = echoMethods.Unary!.requestSerialize(m)
  const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), msg])
  framed.writeUInt32BE(msg.length, 1)
  const r = await request(`http://127.0.0.1:${port}/portico.test.Echo/Unary`, {
    method: 'POST',
    headers: { host: authority, 'content-type': 'application/grpc-web-text', accept: 'application/grpc-web-text', 'x-grpc-web': '1', ...metadata },
    body: framed.toString('base64'),
  })
  const bytes = Buffer.from(await r.body.text(), 'base64')
  const messages: Msg[] = []
  let grpcStatus = r.headers['grpc-status'] as string | undefined
  for (let off = 0; off + 5 <= bytes.length; ) {
    const n = bytes.readUInt32BE(off + 1)
    const payload = bytes.subarray(off + 5, off + 5 + n)
    if (bytes[off]! & 0x80) grpcStatus = /grpc-status:\s*(\d+)/.exec(payload.toString('latin1'))?.[1]
    else messages.push(echoMethods.Unary!.responseDeserialize(payload))
    off += 5 + n
  }
  return { status: r.statusCode, messages, grpcStatus }
}

test('gRPC-Web -text: a trailers-only UNAVAILABLE is retried on the other target with the decoded message replayed', async () => {
  const data = Buffer.alloc(1500, 7)
  data[3] = 200
  for (let i = 0; i < 4; i++) {
    const r = await webTextCall('retried.test', { text: `wt${i}`, data }, { 'x-fail-a': String(grpc.status.UNAVAILABLE) })
    assert.equal(r.status, 200)
    assert.equal(r.grpcStatus, '0', `call wt${i} succeeded after the retry`)
    assert.equal(r.messages[0]!.text, `b:wt${i}`)
    assert.ok(data.equals(r.messages[0]!.data!), 'b got the message the client sent, decoded from base64')
  }
  assert.ok(calls.a!.filter((t) => /^wt\d$/.test(t)).length >= 1, 'a saw some of the calls first')
  assert.equal(calls.b!.filter((t) => /^wt\d$/.test(t)).length, 4)
})

test('gRPC-Web -text: attempts: 0 leaves the UNAVAILABLE to the client', async () => {
  let unavailable = 0
  for (let i = 0; i < 4; i++) {
    const r = await webTextCall('off.test', { text: `wo${i}` }, { 'x-fail-a': String(grpc.status.UNAVAILABLE) })
    if (r.grpcStatus === String(grpc.status.UNAVAILABLE)) unavailable++
    assert.equal(seen(`wo${i}`), 1, `call wo${i} went upstream once`)
  }
  assert.ok(unavailable >= 1, 'the calls round robin put on a failed there, unretried')
})
