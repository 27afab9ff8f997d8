// gRPC-Web translated to gRPC, with a hand-written gRPC-Web client (undici over HTTP/1.1, node:http2
// over h2c; bodies framed by hand) against a real @grpc/grpc-js server, which only speaks
// application/grpc over HTTP/2: binary and -text (base64) unary calls, a server stream with its
// trailer frame (flag 0x80) after the messages, an error after messages, a trailers-only upstream
// error and the gateway's own refusal as headers, a malformed -text body, a CORS preflight answered
// by the cors plugin, and the access log/metrics status of a gRPC-Web call.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import * as grpc from '@grpc/grpc-js'
import { request } from 'undici'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { Echo, echoMethods, startGrpcServer, type GrpcServer, type Msg } from '../../helpers/grpc.js'
import { registry } from '../../../src/observability/metrics.js'

let up: GrpcServer
let gw: InProcGateway
let port: number
const seenMeta: grpc.Metadata[] = []

before(async () => {
  up = await startGrpcServer([
    [
      Echo.service,
      {
        Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
          seenMeta.push(call.metadata)
          const m = call.request
          if (m.fail_code) return cb({ code: m.fail_code, details: 'told to fail' })
          const trailer = new grpc.Metadata()
          trailer.set('x-trail', 'done')
          cb(null, { text: `echo:${m.text}`, data: m.data }, trailer)
        },
        ServerStream(call: grpc.ServerWritableStream<Msg, Msg>) {
          const m = call.request
          for (let i = 0; i < (m.count ?? 0); i++) call.write({ text: `${m.text}#${i}` })
          if (m.fail_code) return void call.emit('error', { code: m.fail_code, details: 'broke off' })
          call.end()
        },
      },
    ],
  ])
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      protocols: [http1, h2c]
upstreams:
  echo: { protocol: h2c, targets: [{ url: http://127.0.0.1:${up.port} }] }
routes:
  - name: web
    hosts: [web.test]
    paths: [/portico.test.Echo/*]
    methods: [POST]
    upstream: echo
    plugins:
      - name: cors
        config: { origins: [https://app.test], expose_headers: [grpc-status, grpc-message, x-trail] }
`)
  port = gw.dp.addresses()[0]!.port
})

after(async () => {
  await gw?.close()
  up?.close()
})

function frame(msg: Buffer, flag = 0): Buffer {
  const f = Buffer.alloc(5 + msg.length)
  f[0] = flag
  f.writeUInt32BE(msg.length, 1)
  msg.copy(f, 5)
  return f
}

/** A gRPC-Web response body: its messages and the trailer frame's fields. */
function parse(body: Buffer): { messages: Msg[]; trailers: Record<string, string> | null; flags: number[] } {
  const messages: Msg[] = []
  const flags: number[] = []
  let trailers: Record<string, string> | null = null
  for (let off = 0; off < body.length; ) {
    const flag = body[off]!
    const n = body.readUInt32BE(off + 1)
    const payload = body.subarray(off + 5, off + 5 + n)
    off += 5 + n
    flags.push(flag)
    if (flag & 0x80) {
      trailers = {}
      for (const line of payload.toString('latin1').split('\r\n')) {
        if (line === '') continue
        const i = line.indexOf(':')
        trailers[line.slice(0, i).trim()] = line.slice(i + 1).trim()
      }
    } else messages.push(echoMethods.ServerStream!.responseDeserialize(payload))
  }
  return { messages, trailers, flags }
}

async function webCall(method: string, m: Msg, opts: { text?: boolean; host?: string; headers?: Record<string, string>; rawBody?: string } = {}) {
  const body = frame(echoMethods.Unary!.requestSerialize(m))
  const r = await request(`http://127.0.0.1:${port}/portico.test.Echo/${method}`, {
    method: 'POST',
    headers: {
      host: opts.host ?? 'web.test',
      'content-type': opts.text ? 'application/grpc-web-text' : 'application/grpc-web+proto',
      accept: opts.text ? 'application/grpc-web-text' : 'application/grpc-web',
      'x-grpc-web': '1',
      ...opts.headers,
    },
    body: opts.rawBody ?? (opts.text ? body.toString('base64') : body),
  })
  const raw = Buffer.from(await r.body.arrayBuffer())
  const bytes = opts.text ? Buffer.from(raw.toString('latin1'), 'base64') : raw
  return { status: r.statusCode, headers: r.headers, raw, ...parse(bytes) }
}

test('HTTP/1.1, binary: a unary call reaches the gRPC server; the answer, then the trailers as the 0x80 frame', async () => {
  const data = Buffer.alloc(5000, 3)
  const r = await webCall('Unary', { text: 'hi', data })
  assert.equal(r.status, 200)
  assert.equal(r.headers['content-type'], 'application/grpc-web+proto')
  assert.equal(r.messages.length, 1)
  assert.equal(r.messages[0]!.text, 'echo:hi')
  assert.ok(data.equals(r.messages[0]!.data!))
  assert.equal(r.trailers?.['grpc-status'], '0')
  assert.equal(r.trailers?.['x-trail'], 'done')
  assert.deepEqual(r.flags, [0, 0x80], 'one message frame, then the trailer frame, last')
})

test('HTTP/1.1, -text: base64 request decoded for the upstream, base64 response with its trailer frame', async () => {
  const r = await webCall('Unary', { text: 'texty', data: Buffer.from([0, 1, 2, 250, 251]) }, { text: true })
  assert.equal(r.status, 200)
  assert.equal(r.headers['content-type'], 'application/grpc-web-text+proto')
  assert.match(r.raw.toString('latin1'), /^[A-Za-z0-9+/=]+$/)
  assert.equal(r.messages[0]!.text, 'echo:texty')
  assert.deepEqual(r.messages[0]!.data, Buffer.from([0, 1, 2, 250, 251]))
  assert.equal(r.trailers?.['grpc-status'], '0')
})

test('-text: messages base64-encoded one by one (padding mid-body) are decoded', async () => {
  // Two segments, the first padded: a client that encodes each write on its own sends this.
  const msg = frame(echoMethods.Unary!.requestSerialize({ text: 'seg' }))
  const a = msg.subarray(0, 4).toString('base64')
  const b = msg.subarray(4).toString('base64')
  assert.ok(a.endsWith('='))
  const r = await webCall('Unary', {}, { text: true, rawBody: a + b })
  assert.equal(r.messages[0]?.text, 'echo:seg')
})

test('server stream over HTTP/1.1: every message, then the trailer frame; an error after messages is in the trailer frame', async () => {
  const ok = await webCall('ServerStream', { text: 's', count: 5 })
  assert.deepEqual(ok.messages.map((m) => m.text), ['s#0', 's#1', 's#2', 's#3', 's#4'])
  assert.equal(ok.trailers?.['grpc-status'], '0')
  const broken = await webCall('ServerStream', { text: 'b', count: 2, fail_code: grpc.status.ABORTED }, { text: true })
  assert.deepEqual(broken.messages.map((m) => m.text), ['b#0', 'b#1'])
  assert.equal(broken.trailers?.['grpc-status'], String(grpc.status.ABORTED))
  assert.equal(decodeURIComponent(broken.trailers!['grpc-message']!), 'broke off')
})

test('a trailers-only upstream error and the gateway refusal are headers-only gRPC-Web answers with HTTP 200', async () => {
  const e = await webCall('Unary', { text: 'x', fail_code: grpc.status.FAILED_PRECONDITION })
  assert.equal(e.status, 200)
  assert.equal(e.headers['content-type'], 'application/grpc-web+proto')
  assert.equal(e.headers['grpc-status'], String(grpc.status.FAILED_PRECONDITION))
  assert.equal(e.raw.length, 0)
  const nr = await webCall('Unary', { text: 'x' }, { host: 'nowhere.test', text: true })
  assert.equal(nr.status, 200)
  assert.equal(nr.headers['content-type'], 'application/grpc-web-text+proto')
  assert.equal(nr.headers['grpc-status'], String(grpc.status.UNIMPLEMENTED))
})

test('a -text body that is not base64 is refused (INTERNAL), nothing garbled reaches the upstream', async () => {
  const before = seenMeta.length
  const r = await webCall('Unary', {}, { text: true, rawBody: 'not base64 at all!' })
  assert.equal(r.status, 200)
  const status = r.headers['grpc-status'] ?? r.trailers?.['grpc-status']
  assert.equal(status, String(grpc.status.INTERNAL))
  assert.match(decodeURIComponent(String(r.headers['grpc-message'])), /base64/)
  assert.equal(seenMeta.length, before, 'the upstream handler never ran')
})

test('h2c client, binary gRPC-Web: translated the same way (trailers in the body, not HTTP/2 trailers)', async () => {
  const s = http2.connect(`http://127.0.0.1:${port}`)
  s.on('error', () => undefined)
  try {
    const out = await new Promise<{ head: http2.IncomingHttpHeaders; body: Buffer; h2trailers: boolean }>((resolve, reject) => {
      const st = s.request({ ':method': 'POST', ':path': '/portico.test.Echo/Unary', ':authority': 'web.test', 'content-type': 'application/grpc-web' })
      let head: http2.IncomingHttpHeaders = {}
      let h2trailers = false
      const chunks: Buffer[] = []
      st.on('response', (h) => (head = h))
      st.on('trailers', () => (h2trailers = true))
      st.on('data', (c: Buffer) => chunks.push(c))
      st.on('end', () => resolve({ head, body: Buffer.concat(chunks), h2trailers }))
      st.on('error', reject)
      st.end(frame(echoMethods.Unary!.requestSerialize({ text: 'h2' })))
    })
    assert.equal(out.head['content-type'], 'application/grpc-web+proto')
    assert.equal(out.h2trailers, false)
    const p = parse(out.body)
    assert.equal(p.messages[0]!.text, 'echo:h2')
    assert.equal(p.trailers?.['grpc-status'], '0')
  } finally {
    s.close()
  }
})

test('CORS: the preflight is answered by the cors plugin; the call carries the CORS response headers', async () => {
  const pre = await request(`http://127.0.0.1:${port}/portico.test.Echo/Unary`, {
    method: 'OPTIONS',
    headers: { host: 'web.test', origin: 'https://app.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web,x-user-agent' },
  })
  await pre.body.dump()
  assert.equal(pre.statusCode, 204)
  assert.equal(pre.headers['access-control-allow-origin'], 'https://app.test')
  const r = await webCall('Unary', { text: 'cors' }, { headers: { origin: 'https://app.test' } })
  assert.equal(r.headers['access-control-allow-origin'], 'https://app.test')
  assert.match(String(r.headers['access-control-expose-headers']), /grpc-status/)
  assert.equal(r.messages[0]!.text, 'echo:cors')
})

test('metrics: gRPC-Web calls are counted by their gRPC status', async () => {
  const text = await registry.metrics()
  assert.match(text, /^portico_grpc_calls_total\{route="web",service="portico.test.Echo",method="Unary",code="OK"\} [1-9]/m)
  assert.match(text, /^portico_grpc_calls_total\{route="web",service="portico.test.Echo",method="Unary",code="FAILED_PRECONDITION"\} [1-9]/m)
  assert.match(text, /^portico_grpc_calls_total\{route="web",service="portico.test.Echo",method="ServerStream",code="ABORTED"\} [1-9]/m)
})
