// gRPC through the gateway, with real @grpc/grpc-js servers and clients: an h2c listener in front of
// an h2c upstream and a TLS listener in front of an h2 (TLS) upstream. Unary with metadata both
// ways, 2 MiB messages, server/client/bidi streaming, errors with trailing metadata (-bin too),
// trailers-only answers, cancel, deadlines (the gateway's own and the one it propagates), 100
// concurrent calls, and the gateway's own refusals as gRPC statuses (UNIMPLEMENTED, UNAUTHENTICATED,
// RESOURCE_EXHAUSTED, UNAVAILABLE). One in-process gateway serves the whole file.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import * as grpc from '@grpc/grpc-js'
import { Echo, echoMethods, type EchoStub, type Msg } from '../../helpers/grpc.js'
import { createPki } from '../../helpers/pki.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'
import { registry } from '../../../src/observability/metrics.js'

const KEY = 'grpc-key-0123456789abcdef'
const methods = echoMethods

/** What the upstream saw of each call: its method, the deadline left on arrival, and whether it was cancelled. */
interface Seen {
  method: string
  text: string
  timeoutLeftMs: number
  cancelled: boolean
  metadata: grpc.Metadata
}
const seen: Seen[] = []

/** The part of every server call kind that record() reads. */
interface AnyCall {
  getDeadline(): grpc.Deadline
  metadata: grpc.Metadata
  on(event: 'cancelled', listener: () => void): unknown
}

function record(method: string, call: AnyCall, text: string): Seen {
  const d = call.getDeadline()
  const at = d instanceof Date ? d.getTime() : d
  const s: Seen = { method, text, timeoutLeftMs: at - Date.now(), cancelled: false, metadata: call.metadata }
  call.on('cancelled', () => (s.cancelled = true))
  seen.push(s)
  return s
}

function failure(code: number, meta?: grpc.Metadata): Partial<grpc.StatusObject> {
  const md = meta ?? new grpc.Metadata()
  md.set('x-err', 'why-not')
  md.set('x-err-bin', Buffer.from([0, 1, 2, 255]))
  return { code, details: 'precondition ✓ 100% failed', metadata: md }
}

const impl: grpc.UntypedServiceImplementation = {
  Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
    const m = call.request
    record('Unary', call, m.text ?? '')
    const reply = (): void => {
      if (m.fail_code) return cb(failure(m.fail_code))
      const head = new grpc.Metadata()
      const inText = call.metadata.get('x-in')[0]
      const inBin = call.metadata.get('x-in-bin')[0]
      if (inText !== undefined) head.set('x-echo-in', String(inText))
      if (inBin !== undefined) head.set('x-echo-in-bin', inBin as Buffer)
      call.sendMetadata(head)
      const trailer = new grpc.Metadata()
      trailer.set('x-trail', 'done')
      trailer.set('x-trail-bin', Buffer.from([9, 8, 7]))
      cb(null, { text: `echo:${m.text}`, data: m.data, count: m.data?.length ?? 0 }, trailer)
    }
    if (m.delay_ms === -1) return
    if (m.delay_ms) setTimeout(reply, m.delay_ms)
    else reply()
  },
  ServerStream(call: grpc.ServerWritableStream<Msg, Msg>) {
    const m = call.request
    const s = record('ServerStream', call, m.text ?? '')
    let i = 0
    const next = (): void => {
      if (s.cancelled) return
      if (m.fail_after && i === m.fail_after) return void call.emit('error', failure(m.fail_code || 2))
      if (i === (m.count ?? 0)) return void call.end()
      call.write({ text: `${m.text}#${i++}` })
      setTimeout(next, m.delay_ms ?? 0)
    }
    next()
  },
  ClientStream(call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
    record('ClientStream', call, '')
    let n = 0
    let bytes = 0
    call.on('data', (m: Msg) => {
      n++
      bytes += m.data?.length ?? 0
    })
    call.on('end', () => cb(null, { count: n, text: String(bytes) }))
  },
  Bidi(call: grpc.ServerDuplexStream<Msg, Msg>) {
    record('Bidi', call, '')
    call.on('data', (m: Msg) => call.write({ text: `pong:${m.text}` }))
    call.on('end', () => call.end())
  },
}

async function startServer(creds: grpc.ServerCredentials): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server()
  server.addService(Echo.service, impl)
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))))
  return { server, port }
}

let pki: Awaited<ReturnType<typeof createPki>>
let plain: { server: grpc.Server; port: number }
let secure: { server: grpc.Server; port: number }
let doomed: { server: grpc.Server; port: number }
/** A bare node:http2 upstream that records the request head it got (what grpc-js servers do not show). */
let raw: http2.Http2Server
const rawHeads: http2.IncomingHttpHeaders[] = []
let gw: InProcGateway
let h2cPort: number
let tlsPort: number
let caCert: string
const clients: grpc.Client[] = []

before(async () => {
  pki = await createPki()
  const ca = await pki.ca()
  caCert = ca.cert
  const front = await ca.issue({ names: ['a.test'] })
  const back = await ca.issue({ names: ['upstream.test'] })
  plain = await startServer(grpc.ServerCredentials.createInsecure())
  secure = await startServer(grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(back.chain), private_key: Buffer.from(back.key) }]))
  doomed = await startServer(grpc.ServerCredentials.createInsecure())
  raw = http2.createServer()
  raw.on('stream', (st, h) => {
    rawHeads.push(h)
    st.resume()
    st.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true })
  })
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve))
  process.env.PORTICO_TEST_GRPC_KEY = KEY
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      protocols: [http1, h2c]
    - listen: 127.0.0.1:0
      tls:
        certificates: [{ cert_file: ${front.chainFile}, key_file: ${front.keyFile} }]
consumers:
  - name: alice
    credentials: { key_auth: ["\${PORTICO_TEST_GRPC_KEY}"] }
upstreams:
  echo: { protocol: h2c, targets: [{ url: http://127.0.0.1:${plain.port} }] }
  echo-tls:
    protocol: h2
    tls: { ca_file: ${ca.certFile}, server_name: upstream.test }
    targets: [{ url: https://127.0.0.1:${secure.port} }]
  doomed: { protocol: h2c, targets: [{ url: http://127.0.0.1:${doomed.port} }] }
  raw: { protocol: h2c, targets: [{ url: http://127.0.0.1:${(raw.address() as import('node:net').AddressInfo).port} }] }
routes:
  - { name: plain, hosts: [echo.test], paths: [/portico.test.Echo/*], upstream: echo }
  - { name: short, hosts: [short.test], paths: [/portico.test.Echo/*], upstream: echo, timeouts: { total: 300ms } }
  - { name: tls, hosts: [a.test], paths: [/portico.test.Echo/*], upstream: echo-tls }
  - name: auth
    hosts: [auth.test]
    paths: [/portico.test.Echo/*]
    upstream: echo
    plugins: [{ name: key-auth }]
  - name: limited
    hosts: [limited.test]
    paths: [/portico.test.Echo/*]
    upstream: echo
    plugins: [{ name: rate-limit, config: { key: route, limits: [{ limit: 2, window: 1m, algorithm: fixed-window }] } }]
  - { name: raw, hosts: [raw.test], paths: [/*], upstream: raw }
  - { name: doomed, hosts: [doomed.test], paths: [/portico.test.Echo/*], upstream: doomed }
`)
  const addrs = gw.dp.addresses()
  h2cPort = addrs[0]!.port
  tlsPort = addrs[1]!.port
})

after(async () => {
  for (const c of clients) c.close()
  await gw?.close()
  for (const s of [plain, secure, doomed]) s?.server.forceShutdown()
  raw?.close()
  await pki?.remove()
})

function client(authority: string): EchoStub {
  const c = new Echo(`127.0.0.1:${h2cPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority }) as unknown as EchoStub
  clients.push(c)
  return c
}

function unary(c: EchoStub, m: Msg, md = new grpc.Metadata(), o: grpc.CallOptions = {}): Promise<{ res: Msg; head: grpc.Metadata; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    let head = new grpc.Metadata()
    let res: Msg | undefined
    const call = c.Unary(m, md, o, (err, r) => {
      if (err) reject(err)
      else res = r
    })
    call.on('metadata', (h) => (head = h))
    call.on('status', (status) => {
      if (status.code === grpc.status.OK) resolve({ res: res!, head, status })
    })
  })
}

async function refusal(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p
  } catch (err) {
    return err as grpc.ServiceError
  }
  throw new Error('the call succeeded')
}

const echo = (): EchoStub => client('echo.test')

test('unary: metadata both ways (text and -bin), trailing metadata relayed', async () => {
  const md = new grpc.Metadata()
  md.set('x-in', 'hello')
  md.set('x-in-bin', Buffer.from([0, 255, 1]))
  const r = await unary(echo(), { text: 'hi' }, md)
  assert.equal(r.res.text, 'echo:hi')
  assert.equal(r.head.get('x-echo-in')[0], 'hello')
  assert.deepEqual(r.head.get('x-echo-in-bin')[0], Buffer.from([0, 255, 1]))
  assert.equal(r.status.metadata.get('x-trail')[0], 'done')
  assert.deepEqual(r.status.metadata.get('x-trail-bin')[0], Buffer.from([9, 8, 7]))
  const s = seen.find((x) => x.method === 'Unary' && x.text === 'hi')!
  assert.equal(s.metadata.get('x-forwarded-proto')[0], 'http')
})

test('unary: 2 MiB messages both ways', async () => {
  const data = Buffer.alloc(2 * 1024 * 1024, 7)
  data[12345] = 1
  const r = await unary(echo(), { text: 'big', data })
  assert.equal(r.res.count, data.length)
  assert.ok(data.equals(r.res.data!))
})

test('server streaming: every message, in order, then OK', async () => {
  const call = echo().ServerStream({ text: 's', count: 50 })
  const got: string[] = []
  for await (const m of call as AsyncIterable<Msg>) got.push(m.text!)
  assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `s#${i}`))
})

test('server streaming: an error after messages arrives in trailers with its status, message and metadata', async () => {
  const call = echo().ServerStream({ text: 'f', count: 10, fail_after: 3, fail_code: grpc.status.ABORTED })
  const got: string[] = []
  const err = await refusal(
    (async () => {
      for await (const m of call as AsyncIterable<Msg>) got.push(m.text!)
    })(),
  )
  assert.deepEqual(got, ['f#0', 'f#1', 'f#2'])
  assert.equal(err.code, grpc.status.ABORTED)
  assert.equal(err.details, 'precondition ✓ 100% failed')
  assert.equal(err.metadata.get('x-err')[0], 'why-not')
  assert.deepEqual(err.metadata.get('x-err-bin')[0], Buffer.from([0, 1, 2, 255]))
})

test('client streaming: 40 messages of 64 KiB streamed up, one answer', async () => {
  const r = await new Promise<Msg>((resolve, reject) => {
    const call = echo().ClientStream(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res!)))
    for (let i = 0; i < 40; i++) call.write({ data: Buffer.alloc(64 * 1024, i) })
    call.end()
  })
  assert.equal(r.count, 40)
  assert.equal(r.text, String(40 * 64 * 1024))
})

test('bidi streaming: ping-pong, each answer before the next message is sent (nothing buffered)', async () => {
  const call = echo().Bidi()
  const it = (call as AsyncIterable<Msg>)[Symbol.asyncIterator]()
  for (let i = 0; i < 20; i++) {
    call.write({ text: String(i) })
    const { value } = await it.next()
    assert.equal((value as Msg).text, `pong:${i}`)
  }
  call.end()
  assert.equal((await it.next()).done, true)
})

test('an upstream error before any message (trailers-only) keeps its status, message and metadata', async () => {
  const err = await refusal(unary(echo(), { text: 'e', fail_code: grpc.status.FAILED_PRECONDITION }))
  assert.equal(err.code, grpc.status.FAILED_PRECONDITION)
  assert.equal(err.details, 'precondition ✓ 100% failed')
  assert.equal(err.metadata.get('x-err')[0], 'why-not')
  assert.deepEqual(err.metadata.get('x-err-bin')[0], Buffer.from([0, 1, 2, 255]))
})

test('cancel: the client cancelling a stream cancels the upstream call', async () => {
  const call = echo().ServerStream({ text: 'cancel-me', count: 10_000, delay_ms: 20 })
  await new Promise<void>((resolve) => call.once('data', () => resolve()))
  call.on('error', () => undefined)
  call.cancel()
  const s = seen.find((x) => x.text === 'cancel-me')!
  await pollUntil(() => s.cancelled, { what: 'the upstream call cancelled' })
})

test('deadline: the client deadline reaches the upstream less the time spent; past it DEADLINE_EXCEEDED and the upstream call is cancelled', async () => {
  const err = await refusal(unary(echo(), { text: 'slow', delay_ms: -1 }, new grpc.Metadata(), { deadline: Date.now() + 1500 }))
  assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED)
  const s = seen.find((x) => x.text === 'slow')!
  assert.ok(s.timeoutLeftMs > 0 && s.timeoutLeftMs < 1500, `upstream deadline ${s.timeoutLeftMs}ms`)
  await pollUntil(() => s.cancelled, { what: 'the upstream call cancelled' })
})

test('TE: trailers reaches the upstream for gRPC calls only; a malformed grpc-timeout is not forwarded', async () => {
  const r = await rawCall('/portico.test.Echo/Unary', 'raw.test', { text: 'te' }, { 'grpc-timeout': '5 seconds' })
  assert.equal(r.head['grpc-status'], '0')
  const h = rawHeads.at(-1)!
  assert.equal(h.te, 'trailers')
  assert.equal(h['content-type'], 'application/grpc')
  assert.equal(h['grpc-timeout'], undefined)
  const session = http2.connect(`http://127.0.0.1:${h2cPort}`)
  try {
    await new Promise<void>((resolve, reject) => {
      const st = session.request({ ':path': '/plain', ':authority': 'raw.test', te: 'trailers' })
      st.on('response', () => resolve())
      st.on('error', reject)
      st.resume()
    })
  } finally {
    session.close()
  }
  assert.equal(rawHeads.at(-1)![':path'], '/plain')
  assert.equal(rawHeads.at(-1)!.te, undefined)
})

/** A call by a bare node:http2 client (no deadline of its own): what the gateway alone answers. */
async function rawCall(path: string, authority: string, m: Msg, headers: http2.OutgoingHttpHeaders): Promise<{ head: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; messages: Msg[] }> {
  const session = http2.connect(`http://127.0.0.1:${h2cPort}`)
  session.on('error', () => undefined)
  try {
    return await new Promise((resolve, reject) => {
      const st = session.request({ ':method': 'POST', ':path': path, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers', ...headers })
      let head: http2.IncomingHttpHeaders = {}
      let trailers: http2.IncomingHttpHeaders = {}
      let buf = Buffer.alloc(0)
      st.on('response', (h) => (head = h))
      st.on('trailers', (t) => (trailers = t))
      st.on('data', (c: Buffer) => (buf = Buffer.concat([buf, c])))
      st.on('end', () => {
        const messages: Msg[] = []
        for (let off = 0; off + 5 <= buf.length; ) {
          const n = buf.readUInt32BE(off + 1)
          messages.push(methods.ServerStream!.responseDeserialize(buf.subarray(off + 5, off + 5 + n)))
          off += 5 + n
        }
        resolve({ head, trailers, messages })
      })
      st.on('error', reject)
      const body = methods.Unary!.requestSerialize(m)
      const frame = Buffer.alloc(5 + body.length)
      frame.writeUInt32BE(body.length, 1)
      body.copy(frame, 5)
      st.end(frame)
    })
  } finally {
    session.close()
  }
}

test('deadline: the gateway answers DEADLINE_EXCEEDED itself (trailers-only) and resets the upstream stream', async () => {
  const r = await rawCall('/portico.test.Echo/Unary', 'echo.test', { text: 'raw-slow', delay_ms: -1 }, { 'grpc-timeout': '300m' })
  assert.equal(r.head[':status'], 200)
  assert.equal(r.head['content-type'], 'application/grpc')
  assert.equal(r.head['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED))
  assert.match(decodeURIComponent(String(r.head['grpc-message'])), /deadline/)
  const s = seen.find((x) => x.text === 'raw-slow')!
  assert.ok(s.timeoutLeftMs <= 300)
  await pollUntil(() => s.cancelled, { what: 'the upstream stream reset' })
})

test('deadline: past it during a streamed response, the call ends with DEADLINE_EXCEEDED in trailers', async () => {
  const r = await rawCall('/portico.test.Echo/ServerStream', 'echo.test', { text: 'drip', count: 1000, delay_ms: 50 }, { 'grpc-timeout': '400m' })
  assert.equal(r.head['grpc-status'], undefined)
  assert.ok(r.messages.length >= 1 && r.messages.length < 1000)
  assert.equal(r.trailers['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED))
})

test("deadline: the route's total timeout, when shorter, is the deadline the upstream is given", async () => {
  const err = await refusal(unary(client('short.test'), { text: 'short', delay_ms: -1 }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }))
  assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED)
  const s = seen.find((x) => x.text === 'short')!
  assert.ok(s.timeoutLeftMs <= 300, `upstream deadline ${s.timeoutLeftMs}ms`)
})

test('100 concurrent calls on one connection', async () => {
  const c = echo()
  const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(c, { text: `c${i}`, data: Buffer.alloc(1024, i) })))
  rs.forEach((r, i) => assert.equal(r.res.text, `echo:c${i}`))
})

test('no route → UNIMPLEMENTED, from the gateway', async () => {
  const err = await refusal(unary(client('nowhere.test'), { text: 'x' }))
  assert.equal(err.code, grpc.status.UNIMPLEMENTED)
  assert.match(err.details, /no route/)
  assert.ok(err.metadata.get('x-request-id')[0])
})

test('key-auth: no key → UNAUTHENTICATED; with the key the call goes through', async () => {
  const c = client('auth.test')
  const err = await refusal(unary(c, { text: 'x' }))
  assert.equal(err.code, grpc.status.UNAUTHENTICATED)
  const md = new grpc.Metadata()
  md.set('x-api-key', KEY)
  assert.equal((await unary(c, { text: 'authed' }, md)).res.text, 'echo:authed')
  const s = seen.find((x) => x.text === 'authed')!
  assert.equal(s.metadata.get('x-api-key').length, 0) // hidden from the upstream
})

test('rate-limit: over the limit → RESOURCE_EXHAUSTED with Retry-After as metadata', async () => {
  const c = client('limited.test')
  await unary(c, { text: '1' })
  await unary(c, { text: '2' })
  const err = await refusal(unary(c, { text: '3' }))
  assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED)
  assert.ok(err.metadata.get('retry-after')[0])
})

test('upstream down → UNAVAILABLE', async () => {
  const c = client('doomed.test')
  assert.equal((await unary(c, { text: 'before' })).res.text, 'echo:before')
  doomed.server.forceShutdown()
  const err = await refusal(unary(c, { text: 'after' }))
  assert.equal(err.code, grpc.status.UNAVAILABLE)
})

test('TLS both sides: ALPN h2 from the client, h2 over TLS to the upstream; unary, streaming and trailers', async () => {
  const c = new Echo(`127.0.0.1:${tlsPort}`, grpc.credentials.createSsl(Buffer.from(caCert)), {
    'grpc.ssl_target_name_override': 'a.test',
    'grpc.default_authority': 'a.test',
  }) as unknown as EchoStub
  clients.push(c)
  const r = await unary(c, { text: 'tls' })
  assert.equal(r.res.text, 'echo:tls')
  assert.equal(r.status.metadata.get('x-trail')[0], 'done')
  const got: string[] = []
  for await (const m of c.ServerStream({ text: 't', count: 5 }) as AsyncIterable<Msg>) got.push(m.text!)
  assert.equal(got.length, 5)
  const err = await refusal(unary(c, { text: 'e', fail_code: grpc.status.NOT_FOUND }))
  assert.equal(err.code, grpc.status.NOT_FOUND)
  assert.equal(err.metadata.get('x-err')[0], 'why-not')
  const s = seen.find((x) => x.text === 'tls')!
  assert.equal(s.metadata.get('x-forwarded-proto')[0], 'https')
})

test('metrics: calls counted by route, service, method and gRPC status name', async () => {
  const c = echo()
  await unary(c, { text: 'm1' })
  await refusal(unary(c, { text: 'm2', fail_code: grpc.status.FAILED_PRECONDITION }))
  await refusal(unary(client('nowhere.test'), { text: 'm3' }))
  const text = await registry.metrics()
  const count = (labels: string): number => Number(new RegExp(`^portico_grpc_calls_total\\{${labels}\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
  assert.ok(count('route="plain",service="portico.test.Echo",method="Unary",code="OK"') >= 1)
  assert.ok(count('route="plain",service="portico.test.Echo",method="Unary",code="FAILED_PRECONDITION"') >= 1)
  assert.ok(count('route="plain",service="portico.test.Echo",method="ServerStream",code="ABORTED"') >= 1)
  assert.ok(count('route="plain",service="portico.test.Echo",method="ServerStream",code="CANCELLED"') >= 1)
  assert.ok(count('route="",service="",method="",code="UNIMPLEMENTED"') >= 1)
  assert.ok(count('route="auth",service="portico.test.Echo",method="Unary",code="UNAUTHENTICATED"') >= 1)
})
