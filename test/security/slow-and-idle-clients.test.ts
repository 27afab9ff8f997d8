// Attack class: holding connections open without sending requests (file-descriptor and memory
// exhaustion, slowloris by silence) and outlasting timers that fire late. Issue 11 items 7 and 16.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { request } from 'undici'
import { startOrigin, type Origin } from '../helpers/origin.js'
import { pollUntil } from '../helpers/poll.js'
import { startInProc, type InProcGateway } from '../helpers/inproc.js'
import { registry } from '../../src/observability/metrics.js'

async function closedCount(reason: string): Promise<number> {
  const m = await registry.getSingleMetric('portico_connections_closed_total')?.get()
  return m?.values.find((v) => v.labels.reason === reason)?.value ?? 0
}

interface Conn {
  socket: net.Socket
  closed: boolean
  data: string
  closedAt: number
}

function connect(port: number, send?: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const c: Conn = { socket: net.connect(port, '127.0.0.1'), closed: false, data: '', closedAt: 0 }
    c.socket.on('data', (d) => (c.data += d.toString()))
    c.socket.on('close', () => {
      c.closed = true
      c.closedAt = Date.now()
    })
    c.socket.on('error', () => undefined)
    c.socket.once('connect', () => {
      if (send !== undefined) c.socket.write(send)
      resolve(c)
    })
    c.socket.once('error', reject)
  })
}

describe('connections that never send a byte', () => {
  let origin: Origin
  let gw: InProcGateway
  before(async () => {
    origin = await startOrigin()
    gw = await startInProc(`server: { listen: 127.0.0.1:0, header_timeout: 1s, keep_alive_timeout: 30s }
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: r, paths: [/*], upstream: o } ]
`)
  })
  after(async () => {
    await gw.close()
    await origin.close()
  })

  test('200 silent connections are closed after header_timeout (counted from accept); a connection that spoke is kept', async () => {
    const silent = await Promise.all(Array.from({ length: 200 }, () => connect(gw.port)))
    // A client that sent a request and waits on keep-alive is not silent: keep_alive_timeout (30 s) applies.
    const spoke = await connect(gw.port, 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n')
    await pollUntil(() => spoke.data.includes('200 OK'), { timeoutMs: 30_000, what: 'the request on the speaking connection' })
    await pollUntil(() => silent.every((c) => c.closed), { timeoutMs: 30_000, intervalMs: 100, what: 'the silent connections to be closed' })
    assert.equal(spoke.closed, false, 'a keep-alive connection inside keep_alive_timeout was closed')
    assert.match(silent[0]!.data, /^HTTP\/1\.1 408 /)
    spoke.socket.destroy()
  })

  test('a half-sent request head gets its 408 near header_timeout, not on Node\'s 30 s check tick', async () => {
    const t0 = Date.now()
    const half = await connect(gw.port, 'GET /x HTTP/1.1\r\nHost: a\r\nX-Slow: ')
    await pollUntil(() => half.closed, { timeoutMs: 40_000, intervalMs: 50, what: 'the half-sent head to time out' })
    assert.match(half.data, /^HTTP\/1\.1 408 /)
    // 1 s configured; Node's default tick would answer at up to 31 s. 10 s leaves room for a busy host.
    assert.ok(half.closedAt - t0 < 10_000, `408 after ${half.closedAt - t0} ms`)
  })
})

describe('server.max_connections', () => {
  let origin: Origin
  let gw: InProcGateway
  before(async () => {
    origin = await startOrigin()
    gw = await startInProc(`server: { listen: 127.0.0.1:0, max_connections: 5, keep_alive_timeout: 30s }
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: r, paths: [/*], upstream: o } ]
`)
  })
  after(async () => {
    await gw.close()
    await origin.close()
  })

  test('the connection above the cap is closed at accept, counted, and a freed slot is served again', async () => {
    const before = await closedCount('max_connections')
    const held = await Promise.all(Array.from({ length: 5 }, () => connect(gw.port, 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n')))
    await pollUntil(() => held.every((c) => c.data.includes('200 OK')), { timeoutMs: 30_000, what: 'five served connections' })
    const extra = await connect(gw.port, 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n')
    await pollUntil(() => extra.closed, { timeoutMs: 30_000, what: 'the sixth connection to be closed' })
    assert.equal(extra.data, '', 'the connection above max_connections was served')
    assert.equal((await closedCount('max_connections')) - before, 1)
    held[0]!.socket.destroy()
    await pollUntil(async () => {
      const r = await request(`${gw.url}/again`, { reset: true }).catch(() => undefined)
      await r?.body.dump()
      return r?.statusCode === 200
    }, { timeoutMs: 30_000, what: 'a new connection to be served once a slot is free' })
    for (const c of held) c.socket.destroy()
  })
})

describe('a request body trickled byte by byte into a buffering route', () => {
  let origin: Origin
  let gw: InProcGateway
  before(async () => {
    origin = await startOrigin()
    gw = await startInProc(`server: { listen: 127.0.0.1:0, body_timeout: 2s }
upstreams: { o: { targets: [ { url: ${origin.url} } ], timeouts: { read: 5s, total: 30s } } }
consumers:
  - { name: carol, credentials: { hmac_auth: [ { key_id: carol-1, secret: "hmac-secret-0123456789abcdef" } ] } }
routes: [ { name: signed, paths: [/s/*], upstream: o, plugins: [ { name: hmac-auth, config: { max_body_size: 1kb } } ] } ]
`)
  })
  after(async () => {
    await gw.close()
    await origin.close()
  })

  test('gets 408 at server.body_timeout although each byte comes well inside the read timeout', async (t) => {
    const t0 = Date.now()
    const c = await connect(gw.port, 'POST /s/x HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 200\r\n\r\n')
    // The attack itself: one byte every 500 ms (the read timeout is 5 s), 100 s for the whole body.
    const drip = setInterval(() => c.socket.write('x'), 500)
    t.after(() => clearInterval(drip))
    await pollUntil(() => c.closed || c.data.includes('\r\n\r\n'), { timeoutMs: 40_000, intervalMs: 50, what: 'an answer to the trickled body' })
    clearInterval(drip)
    assert.match(c.data, /^HTTP\/1\.1 408 /, c.data)
    assert.match(c.data, /did not arrive within 2000ms/)
    assert.ok(Date.now() - t0 < 20_000, `answered after ${Date.now() - t0} ms`)
    assert.equal(origin.seen.length, 0)
    c.socket.destroy()
  })
})
