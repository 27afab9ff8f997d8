// WebSocket over HTTP/2 (RFC 8441) through an in-process gateway to a real `ws` origin on
// loopback: a raw node:http2 client opens extended CONNECT streams and writes/reads RFC 6455
// frames on them; the gateway's upstream side is an HTTP/1.1 Upgrade.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import { randomBytes } from 'node:crypto'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'
import { createPki, type Ca } from '../../helpers/pki.js'
import { ERR, FLAG, FRAME, RawH2, frame, literal } from '../../helpers/h2-frames.js'
import { closePayload, startWsOrigin, wsFrame, WsReader, type WsOrigin } from '../../helpers/ws.js'

const KEY = 'ws-h2-test-key-0123456789abcdef'
const OP = { TEXT: 1, BINARY: 2, CLOSE: 8 } as const

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let origin: WsOrigin
let gw: InProcGateway
let tlsPort: number
let h2cPort: number
let offPort: number

const routes = (o: WsOrigin): string => `
consumers:
  - { name: alice, credentials: { key_auth: ["${KEY}"] } }
upstreams:
  o: { targets: [ { url: ${o.url} } ] }
routes:
  - { name: echo, paths: [/ws, /ws/*], upstream: o, websocket: { enabled: true } }
  - { name: plain, paths: [/plain], upstream: o }
  - { name: keyed, paths: [/keyed], upstream: o, websocket: { enabled: true }, plugins: [ { name: key-auth } ] }
  - { name: capped, paths: [/capped], upstream: o, websocket: { enabled: true, max_connections: 2 } }
  - { name: idle, paths: [/idle], upstream: o, websocket: { enabled: true, idle_timeout: 300ms } }
  - { name: short, paths: [/short], upstream: o, websocket: { enabled: true, max_lifetime: 300ms } }
  - name: cors
    paths: [/cors]
    upstream: o
    websocket: { enabled: true }
    plugins: [ { name: cors, config: { origins: ["https://app.example.com"] } } ]
`

before(async () => {
  pki = await createPki()
  ca = await pki.ca()
  const leaf = await ca.issue({ names: ['ws.test'] })
  origin = await startWsOrigin()
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      tls:
        certificates: [{ cert_file: ${leaf.chainFile}, key_file: ${leaf.keyFile} }]
    - listen: 127.0.0.1:0
      protocols: [h2c]
    - listen: 127.0.0.1:0
      protocols: [h2c]
      http2: { enable_connect_protocol: false }
${routes(origin)}`)
  const addrs = gw.dp.addresses()
  tlsPort = addrs[0]!.port
  h2cPort = addrs[1]!.port
  offPort = addrs[2]!.port
})
after(async () => {
  await gw?.close()
  await origin?.close()
  await pki?.remove()
})

/** A session once the gateway's SETTINGS arrived (extended CONNECT may be used only after them, RFC 8441 §3). */
async function connect(url: string): Promise<http2.ClientHttp2Session> {
  const s = http2.connect(url, url.startsWith('https:') ? { ca: ca.cert, servername: 'ws.test' } : {})
  s.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    s.once('remoteSettings', () => resolve())
    s.once('error', reject)
  })
  return s
}

const tlsUrl = (): string => `https://127.0.0.1:${tlsPort}`

interface Opened {
  stream: http2.ClientHttp2Stream
  status: number
  headers: http2.IncomingHttpHeaders
  reader: WsReader
  /** The body of an answer other than 200, as text. */
  body(): Promise<string>
}

/** One extended CONNECT stream; resolves on the gateway's answer. */
function open(session: http2.ClientHttp2Session, path: string, extra: http2.OutgoingHttpHeaders = {}): Promise<Opened> {
  const stream = session.request(
    { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': path, ':authority': 'ws.test', 'sec-websocket-version': '13', ...extra },
    { endStream: false },
  )
  const reader = new WsReader()
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => {
    chunks.push(c)
    reader.feed(c)
  })
  const ended = new Promise<void>((resolve) => stream.once('close', () => (reader.end(), resolve())))
  stream.on('error', () => undefined)
  return new Promise((resolve, reject) => {
    stream.once('response', (headers) =>
      resolve({ stream, status: Number(headers[':status']), headers, reader, body: async () => (await ended, Buffer.concat(chunks).toString()) }),
    )
    stream.once('error', reject)
  })
}

async function openOk(session: http2.ClientHttp2Session, path = '/ws', extra: http2.OutgoingHttpHeaders = {}): Promise<Opened> {
  const o = await open(session, path, extra)
  assert.equal(o.status, 200)
  return o
}

async function closeSession(s: http2.ClientHttp2Session): Promise<void> {
  if (s.destroyed) return
  await new Promise<void>((resolve) => s.close(() => resolve()))
}

describe('SETTINGS_ENABLE_CONNECT_PROTOCOL', () => {
  test('advertised on h2 (TLS) and h2c by default, not when switched off', async () => {
    for (const [url, want] of [[tlsUrl(), true], [`http://127.0.0.1:${h2cPort}`, true], [`http://127.0.0.1:${offPort}`, false]] as const) {
      const s = await connect(url)
      try {
        assert.equal(s.remoteSettings.enableConnectProtocol === true, want, url)
      } finally {
        await closeSession(s)
      }
    }
  })
})

describe('messages through an extended CONNECT stream', () => {
  test('text and binary come back as they went; the 200 carries no accept, and the origin saw an HTTP/1.1 handshake', async () => {
    const s = await connect(tlsUrl())
    try {
      const c = await openOk(s, '/ws/a?x=1', { 'x-request-id': 'ws-h2-1' })
      assert.equal(c.headers['sec-websocket-accept'], undefined)
      assert.equal(c.headers['x-request-id'], 'ws-h2-1')
      c.stream.write(wsFrame(OP.TEXT, 'hello h2'))
      assert.deepEqual(await c.reader.next(), { opcode: OP.TEXT, data: Buffer.from('hello h2') })
      const bin = randomBytes(1000)
      c.stream.write(wsFrame(OP.BINARY, bin))
      assert.deepEqual(await c.reader.next(), { opcode: OP.BINARY, data: bin })
      const seen = origin.handshakes.at(-1)!
      assert.equal(seen.url, '/ws/a?x=1')
      assert.equal(seen.headers['x-request-id'], 'ws-h2-1')
      assert.equal(seen.headers['x-forwarded-proto'], 'https')
      assert.match(String(seen.headers['sec-websocket-key']), /^[A-Za-z0-9+/]{22}==$/)
      c.stream.close()
    } finally {
      await closeSession(s)
    }
  })

  test('h2c too', async () => {
    const s = await connect(`http://127.0.0.1:${h2cPort}`)
    try {
      const c = await openOk(s)
      c.stream.write(wsFrame(OP.TEXT, 'over h2c'))
      assert.equal((await c.reader.next()).data.toString(), 'over h2c')
      c.stream.close()
    } finally {
      await closeSession(s)
    }
  })

  test('a 1 MiB message both ways', async () => {
    const s = await connect(tlsUrl())
    try {
      const c = await openOk(s)
      const big = randomBytes(1024 * 1024)
      c.stream.write(wsFrame(OP.BINARY, big))
      const back = await c.reader.next()
      assert.equal(back.opcode, OP.BINARY)
      assert.equal(back.data.length, big.length)
      assert.ok(back.data.equals(big))
      c.stream.close()
    } finally {
      await closeSession(s)
    }
  })

  test('the subprotocol the origin picked comes back on the 200', async () => {
    const s = await connect(tlsUrl())
    try {
      const c = await openOk(s, '/ws', { 'sec-websocket-protocol': 'chat.v2, chat.v1' })
      assert.equal(c.headers['sec-websocket-protocol'], 'chat.v1')
      assert.equal(origin.handshakes.at(-1)!.headers['sec-websocket-protocol'], 'chat.v2, chat.v1')
      c.stream.close()
    } finally {
      await closeSession(s)
    }
  })

  test('close codes both ways', async () => {
    const s = await connect(tlsUrl())
    try {
      const a = await openOk(s)
      const before = origin.closes.length
      a.stream.write(wsFrame(OP.CLOSE, closePayload(4001, 'client says bye')))
      const echo = await a.reader.next()
      assert.equal(echo.opcode, OP.CLOSE)
      assert.equal(echo.data.readUInt16BE(0), 4001)
      await pollUntil(() => origin.closes.length > before, { what: 'origin saw the close' })
      assert.ok(origin.closes.slice(before).includes(4001))
      a.stream.close()

      const b = await openOk(s)
      b.stream.write(wsFrame(OP.TEXT, 'close:4002'))
      const c = await b.reader.next()
      assert.equal(c.opcode, OP.CLOSE)
      assert.equal(c.data.readUInt16BE(0), 4002)
      assert.equal(c.data.subarray(2).toString(), 'origin says bye')
      b.stream.close()
    } finally {
      await closeSession(s)
    }
  })

  test('50 concurrent WebSocket streams on one connection, counted in /status while open', async () => {
    const s = await connect(tlsUrl())
    try {
      const streams = await Promise.all(Array.from({ length: 50 }, () => openOk(s)))
      await pollUntil(() => (gw.dp.status().websockets?.routes.echo ?? 0) >= 50, { what: '50 sessions in status' })
      const answers = await Promise.all(
        streams.map(async (c, i) => {
          c.stream.write(wsFrame(OP.TEXT, `c${i}`))
          return (await c.reader.next()).data.toString()
        }),
      )
      assert.deepEqual(answers, streams.map((_, i) => `c${i}`))
      for (const c of streams) c.stream.close()
      await pollUntil(() => gw.dp.status().websockets?.routes.echo === undefined, { what: 'sessions released' })
    } finally {
      await closeSession(s)
    }
  })
})

describe('refusals', () => {
  test('key-auth: no key → 401 JSON and no upstream connection; the key opens it', async () => {
    const s = await connect(tlsUrl())
    try {
      const before = origin.connections
      const r = await open(s, '/keyed')
      assert.equal(r.status, 401)
      const body = JSON.parse(await r.body()) as Record<string, unknown>
      assert.equal(body.error, 'unauthorized')
      assert.equal(origin.connections, before)
      const c = await openOk(s, '/keyed', { apikey: KEY })
      c.stream.write(wsFrame(OP.TEXT, 'keyed'))
      assert.equal((await c.reader.next()).data.toString(), 'keyed')
      c.stream.close()
    } finally {
      await closeSession(s)
    }
  })

  test('cors: a stream from an origin the policy does not allow → 403; an allowed one opens', async () => {
    const s = await connect(tlsUrl())
    try {
      const r = await open(s, '/cors', { origin: 'https://evil.example.com' })
      assert.equal(r.status, 403)
      assert.equal((JSON.parse(await r.body()) as Record<string, unknown>).error, 'forbidden')
      const c = await openOk(s, '/cors', { origin: 'https://app.example.com' })
      c.stream.close()
    } finally {
      await closeSession(s)
    }
  })

  test('max_connections counts HTTP/2 sessions: the third → 503 websocket_limit', async () => {
    const s = await connect(tlsUrl())
    try {
      const a = await openOk(s, '/capped')
      const b = await openOk(s, '/capped')
      const r = await open(s, '/capped')
      assert.equal(r.status, 503)
      assert.equal((JSON.parse(await r.body()) as Record<string, unknown>).error, 'websocket_limit')
      // Closed as a WebSocket client does: a close frame, then END_STREAM.
      for (const c of [a, b]) c.stream.end(wsFrame(OP.CLOSE, closePayload(1000)))
      await pollUntil(() => gw.dp.status().websockets?.routes.capped === undefined, { what: 'capped sessions released' })
    } finally {
      await closeSession(s)
    }
  })

  test("the target's answer other than 101 is relayed as that status (no sec-websocket-version → the origin's 400)", async () => {
    const s = await connect(tlsUrl())
    try {
      const r = await open(s, '/ws', { 'sec-websocket-version': '' })
      assert.equal(r.status, 400)
      await r.body()
    } finally {
      await closeSession(s)
    }
  })

  test('an extended CONNECT for another protocol → 501 JSON', async () => {
    const s = await connect(tlsUrl())
    try {
      const r = await open(s, '/ws', { ':protocol': 'webtransport' })
      assert.equal(r.status, 501)
      const body = JSON.parse(await r.body()) as Record<string, unknown>
      assert.equal(body.error, 'not_implemented')
      assert.equal(typeof body.request_id, 'string')
    } finally {
      await closeSession(s)
    }
  })

  test('a route without websocket.enabled → 501, as for an HTTP/1.1 upgrade', async () => {
    const s = await connect(tlsUrl())
    try {
      const before = origin.connections
      const r = await open(s, '/plain')
      assert.equal(r.status, 501)
      assert.equal((JSON.parse(await r.body()) as Record<string, unknown>).error, 'not_implemented')
      assert.equal(origin.connections, before)
    } finally {
      await closeSession(s)
    }
  })

  test('an extended CONNECT without :path or :scheme never reaches a route: nghttp2 resets the stream (malformed, RFC 8441 §4)', async () => {
    for (const [missing, block] of [
      [':path', [literal(':method', 'CONNECT'), literal(':protocol', 'websocket'), literal(':scheme', 'http'), literal(':authority', 'ws.test')]],
      [':scheme', [literal(':method', 'CONNECT'), literal(':protocol', 'websocket'), literal(':path', '/ws'), literal(':authority', 'ws.test')]],
    ] as const) {
      const before = origin.connections
      const raw = new RawH2(h2cPort)
      try {
        await raw.ready()
        raw.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Buffer.concat([...block, literal('sec-websocket-version', '13')])))
        await pollUntil(() => raw.resets(1).length > 0 || raw.answered().includes(1), { what: `an answer to a CONNECT without ${missing}` })
        const status = raw.frames.find((f) => f.type === FRAME.HEADERS && f.stream === 1)
        if (status !== undefined) assert.fail(`stream answered with HEADERS, expected a reset (${missing})`)
        assert.equal(raw.resets(1)[0]!.code, ERR.PROTOCOL_ERROR, missing)
        assert.equal(origin.connections, before)
      } finally {
        raw.close()
      }
    }
  })

  test('a plain CONNECT (no :protocol) keeps its 405', async () => {
    const s = await connect(tlsUrl())
    try {
      const stream = s.request({ ':method': 'CONNECT', ':authority': 'ws.test:443' }, { endStream: false })
      stream.on('error', () => undefined)
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve))
      assert.equal(headers[':status'], 405)
      stream.close()
    } finally {
      await closeSession(s)
    }
  })
})

describe('timeouts', () => {
  test('idle_timeout closes a quiet stream with 1001; max_lifetime closes a busy one with 1001', async () => {
    const s = await connect(tlsUrl())
    try {
      const quiet = await openOk(s, '/idle')
      const q = await quiet.reader.next()
      assert.equal(q.opcode, OP.CLOSE)
      assert.equal(q.data.readUInt16BE(0), 1001)
      quiet.stream.close()

      const busy = await openOk(s, '/short')
      // Messages keep flowing until the lifetime is over: the close comes whatever the traffic.
      const pump = setInterval(() => busy.stream.writable && busy.stream.write(wsFrame(OP.TEXT, 'busy')), 20)
      let m = await busy.reader.next()
      while (m.opcode !== OP.CLOSE) m = await busy.reader.next()
      clearInterval(pump)
      assert.equal(m.data.readUInt16BE(0), 1001)
      busy.stream.close()
    } finally {
      await closeSession(s)
    }
  })
})

describe('drain', () => {
  test('sessions still open at the drain timeout get close code 1001', async () => {
    const leaf = await ca.issue({ names: ['ws.test'] })
    const g = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      tls:
        certificates: [{ cert_file: ${leaf.chainFile}, key_file: ${leaf.keyFile} }]
upstreams: { a: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: d, paths: [/d], upstream: a, websocket: { enabled: true, idle_timeout: 0 } } ]
`)
    const s = await connect(`https://127.0.0.1:${g.dp.addresses()[0]!.port}`)
    try {
      const c = await openOk(s, '/d')
      c.stream.write(wsFrame(OP.TEXT, 'x'))
      assert.equal((await c.reader.next()).data.toString(), 'x')
      const drained = g.dp.drain(200)
      const close = await c.reader.next()
      assert.equal(close.opcode, OP.CLOSE)
      assert.equal(close.data.readUInt16BE(0), 1001)
      // The client's closing handshake, as a browser would answer.
      c.stream.end(wsFrame(OP.CLOSE, closePayload(1001)))
      await drained
    } finally {
      s.destroy()
      await g.close()
    }
  })
})
