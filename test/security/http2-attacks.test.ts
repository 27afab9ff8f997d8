// Known HTTP/2 attacks against an h2c listener, each sent as raw frames over a plain TCP socket
// (test/helpers/h2-frames.ts): rapid reset (CVE-2023-44487), CONTINUATION flood (CVE-2024-27316
// class), SETTINGS and PING floods, an HPACK bomb and an oversized header list. Each must end in a
// refusal (GOAWAY ENHANCE_YOUR_CALM, a closed connection, or RST_STREAM), and the gateway must go
// on serving a well-behaved client afterwards.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import { startOrigin, type Origin } from '../helpers/origin.js'
import { startInProc, type InProcGateway } from '../helpers/inproc.js'
import { pollUntil } from '../helpers/poll.js'
import { ERR, FLAG, FRAME, RawH2, frame, indexed, indexedLiteral, literal, requestBlock } from '../helpers/h2-frames.js'
import { registry } from '../../src/observability/metrics.js'

let origin: Origin
let gw: InProcGateway
let port: number

before(async () => {
  origin = await startOrigin()
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      protocols: [http1, h2c]
      http2: { max_resets_per_second: 50, max_control_frames_per_second: 50 }
upstreams:
  o: { targets: [{ url: ${origin.url} }] }
routes:
  - { name: all, paths: [/*], upstream: o }
`)
  port = gw.port
})
after(async () => {
  await gw?.close()
  await origin?.close()
})

/** A well-behaved client still gets its 200: the worker is healthy after the attack. */
async function healthy(): Promise<void> {
  const s = http2.connect(`http://127.0.0.1:${port}`)
  try {
    const status = await new Promise<number>((resolve, reject) => {
      s.once('error', reject)
      const r = s.request({ ':path': '/ok' })
      r.on('response', (h) => resolve(Number(h[':status'])))
      r.on('error', reject)
      r.resume()
    })
    assert.equal(status, 200)
  } finally {
    s.close()
  }
}

async function closedCount(reason: string): Promise<number> {
  const m = (await registry.getSingleMetric('portico_connections_closed_total')?.get())?.values ?? []
  return m.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0)
}

const until = (fn: () => boolean): Promise<unknown> => pollUntil(() => (fn() ? true : undefined), { timeoutMs: 20_000 })

test('rapid reset (CVE-2023-44487): HEADERS + RST_STREAM bursts get GOAWAY ENHANCE_YOUR_CALM and the connection closed', async () => {
  const before = await closedCount('h2_rapid_reset')
  const c = new RawH2(port)
  await c.ready()
  const burst: Buffer[] = []
  for (let i = 0; i < 500; i++) {
    const id = 1 + 2 * i
    burst.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, requestBlock(`/r${i}`)), frame(FRAME.RST_STREAM, 0, id, Buffer.from([0, 0, 0, ERR.CANCEL])))
  }
  c.write(Buffer.concat(burst))
  await until(() => c.closed)
  assert.equal(c.goaway()?.code, ERR.ENHANCE_YOUR_CALM)
  assert.equal((await closedCount('h2_rapid_reset')) - before, 1)
  // Streams reset before they were routed cost no upstream request; the session ended mid-burst.
  assert.ok(origin.seen.filter((r) => /^\/r\d/.test(r.url)).length < 500)
  await healthy()
})

test('a client that leaves with many uploads open: every stream and exchange ends, the worker stays up', async () => {
  // 80 uploads left open (past max_resets_per_second: 50 once they all end in a reset), then the
  // client's socket closes. The streams' resets arrive on a session already destroyed: counting
  // them must not send it a GOAWAY (goaway() throws there; h2spec found that crash), and the h2c
  // socket must not stay half-open (it did: the exchanges were never finished).
  const c = new RawH2(port)
  await c.ready()
  const opens: Buffer[] = []
  for (let i = 0; i < 80; i++) {
    opens.push(frame(FRAME.HEADERS, FLAG.END_HEADERS, 1 + 2 * i, Buffer.concat([literal(':method', 'POST'), literal(':scheme', 'http'), literal(':path', `/up${i}`), literal(':authority', 'localhost')])))
    opens.push(frame(FRAME.DATA, 0, 1 + 2 * i, Buffer.from('part')))
  }
  c.write(Buffer.concat(opens))
  await until(() => gw.dp.status().inFlight === 80)
  c.close()
  await until(() => gw.dp.status().inFlight === 0)
  await healthy()
})

test('CONTINUATION flood: endless CONTINUATION frames without END_HEADERS close the connection', async () => {
  const c = new RawH2(port)
  await c.ready()
  c.write(frame(FRAME.HEADERS, 0, 1, requestBlock('/c')))
  const block = frame(FRAME.CONTINUATION, 0, 1, Buffer.concat(Array.from({ length: 8 }, (_, i) => literal(`x-flood-${i}`, 'v'.repeat(1000)))))
  let sent = 0
  // 16 MB of header block offered; the server must stop it long before.
  while (sent < 2000 && !c.closed) {
    if (!c.write(block)) await new Promise((r) => setTimeout(r, 5))
    sent++
    if (sent % 100 === 0) await new Promise((r) => setImmediate(r))
  }
  await until(() => c.closed)
  assert.ok(sent < 2000, `the server read ${sent} CONTINUATION frames (8 kB each) without closing`)
  assert.deepEqual(c.answered(), [], 'no request came out of it')
  await healthy()
})

test('SETTINGS flood and PING flood: GOAWAY ENHANCE_YOUR_CALM past max_control_frames_per_second', async () => {
  const before = await closedCount('h2_control_flood')
  for (const f of [frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100])), frame(FRAME.PING, 0, 0, Buffer.alloc(8))]) {
    const c = new RawH2(port)
    await c.ready()
    c.write(Buffer.concat(Array.from({ length: 1000 }, () => f)))
    await until(() => c.closed)
    assert.equal(c.goaway()?.code, ERR.ENHANCE_YOUR_CALM)
    // Far fewer acknowledgements than frames sent.
    const acks = c.frames.filter((x) => x.type === f[3] && (x.flags & FLAG.ACK) !== 0).length
    assert.ok(acks < 200, `${acks} acknowledgements`)
  }
  assert.equal((await closedCount('h2_control_flood')) - before, 2)
  await healthy()
})

test('HPACK bomb: a small block that decodes past max_header_list_size is refused; so is a plainly oversized list', async () => {
  // One 4000-byte value enters the dynamic table, then is referenced 100 times: ~200 bytes on the
  // wire, 400 kB decoded (the default limit is server.max_header_size, 16 kB).
  const c = new RawH2(port)
  await c.ready()
  const bomb = Buffer.concat([requestBlock('/bomb'), indexedLiteral('x-bomb', 'b'.repeat(4000)), ...Array.from({ length: 100 }, () => indexed(62))])
  c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, bomb))
  await until(() => c.resets(1).length > 0 || c.closed)
  assert.deepEqual(c.answered(), [], 'the bomb got no response')
  const r = c.resets(1)[0]
  assert.ok(c.closed || r?.code === ERR.ENHANCE_YOUR_CALM, `reset ${JSON.stringify(r)}`)
  c.close()

  // Plain literals, 18 kB over HEADERS + CONTINUATION (each frame within max_frame_size).
  const d = new RawH2(port)
  await d.ready()
  d.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, requestBlock('/big', 'localhost', [literal('x-big', 'x'.repeat(12_000))])))
  d.write(frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, literal('x-big2', 'y'.repeat(6000))))
  await until(() => d.resets(1).length > 0 || d.closed)
  assert.deepEqual(d.answered(), [])
  assert.ok(d.closed || d.resets(1)[0]?.code === ERR.ENHANCE_YOUR_CALM, `reset ${JSON.stringify(d.resets(1))}`)
  d.close()
  assert.equal(origin.seen.filter((s) => s.url === '/bomb' || s.url === '/big').length, 0)
  await healthy()
})
