// WebSocket handshake abuse: a tunnel opens only on a route that enabled WebSocket, for a
// well-formed handshake, after the target answered with a real 101 for that handshake. Everything
// else is an HTTP answer that closes the connection, so bytes sent after a refused handshake
// (a smuggled request, the classic "426 then tunnel" trick) never reach the target.
// Real gateway, raw sockets on both sides for what clients and servers would not send.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { createHash } from 'node:crypto'
import { startInProc, type InProcGateway } from '../helpers/inproc.js'
import { rawRequest } from '../helpers/raw.js'
import { pollUntil } from '../helpers/poll.js'

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
const ACCEPT = createHash('sha1').update(KEY + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')

/** A raw TCP origin: answers each connection's first request with `reply(head)` and records every byte it got. */
interface RawOrigin {
  port: number
  received: string[]
  connections: number
  close(): Promise<void>
}
async function rawOrigin(reply: (head: string) => string): Promise<RawOrigin> {
  const sockets = new Set<net.Socket>()
  const o: RawOrigin = { port: 0, received: [], connections: 0, close: async () => {} }
  const server = net.createServer((s) => {
    o.connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => s.destroy())
    let all = ''
    let answered = false
    s.on('data', (c) => {
      all += c.toString('latin1')
      o.received.push(c.toString('latin1'))
      if (!answered && all.includes('\r\n\r\n')) {
        answered = true
        s.write(reply(all.slice(0, all.indexOf('\r\n\r\n'))))
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  o.port = (server.address() as AddressInfo).port
  o.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy()
      server.close(() => r())
    })
  return o
}

const handshake = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n${extra}\r\n`
const SMUGGLED = 'GET /internal/admin HTTP/1.1\r\nHost: internal\r\n\r\n'
const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
const body = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>

let real: RawOrigin // a correct WebSocket 101
let refusing: RawOrigin // 426, keeps the connection open
let plain200: RawOrigin // a 200 with a body, no 101
let badAccept: RawOrigin // 101 with the wrong accept
let h2c: RawOrigin // 101 to another protocol
let gw: InProcGateway

before(async () => {
  real = await rawOrigin(() => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`)
  refusing = await rawOrigin(() => 'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n')
  plain200 = await rawOrigin(() => 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello')
  badAccept = await rawOrigin(() => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n')
  h2c = await rawOrigin(() => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n')
  const up = (name: string, o: RawOrigin) => `  ${name}: { targets: [ { url: http://127.0.0.1:${o.port} } ] }`
  gw = await startInProc(`
upstreams:
${up('real', real)}
${up('refusing', refusing)}
${up('plain200', plain200)}
${up('badaccept', badAccept)}
${up('h2c', h2c)}
routes:
  - { name: off, paths: [/off], upstream: real }
  - { name: on, paths: [/on], upstream: real, websocket: { enabled: true } }
  - { name: refusing, paths: [/refusing], upstream: refusing, websocket: { enabled: true } }
  - { name: plain200, paths: [/plain200], upstream: plain200, websocket: { enabled: true } }
  - { name: badaccept, paths: [/badaccept], upstream: badaccept, websocket: { enabled: true } }
  - { name: h2c, paths: [/h2c], upstream: h2c, websocket: { enabled: true } }
`)
})
after(async () => {
  await gw.close()
  await Promise.all([real, refusing, plain200, badAccept, h2c].map((o) => o.close()))
})

describe('no tunnel without an enabled route and a real 101', () => {
  test('Upgrade on a route with websocket disabled → 501, nothing reaches the target, smuggled bytes included', async () => {
    const before = real.connections
    const res = await rawRequest(gw.port, handshake('/off') + SMUGGLED)
    assert.equal(status(res), 501, res.split('\r\n')[0])
    assert.equal(body(res).error, 'not_implemented')
    assert.match(res, /connection: close/i)
    assert.equal((res.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one answer only: the smuggled request is not served')
    assert.equal(real.connections, before)
  })

  test('Upgrade: websocket without Connection: upgrade → 501, not proxied as a plain GET', async () => {
    const before = real.connections
    const res = await rawRequest(gw.port, `GET /on HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`)
    assert.equal(status(res), 501, res.split('\r\n')[0])
    assert.equal(real.connections, before)
  })

  test('the target refuses (426): relayed, connection closed, bytes after it never reach the target', async () => {
    const res = await rawRequest(gw.port, handshake('/refusing', 'Sec-WebSocket-Version: 99\r\n'))
    assert.equal(status(res), 426, res.split('\r\n')[0])
    // Same again with a request smuggled right behind the handshake: the target must see only the handshake.
    const seen = refusing.received.length
    const s = net.connect(gw.port, '127.0.0.1')
    await new Promise((r) => s.once('connect', r))
    s.write(handshake('/refusing'))
    let out = ''
    s.on('data', (c) => (out += c.toString()))
    await pollUntil(() => out.includes('426'), { what: 'the 426' })
    s.write(SMUGGLED)
    await new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())))
    const got = refusing.received.slice(seen).join('')
    assert.doesNotMatch(got, /internal\/admin/)
    assert.equal((out.match(/HTTP\/1\.1 /g) ?? []).length, 1)
  })

  test('a 200 instead of a 101: relayed as an answer, no tunnel', async () => {
    const seen = plain200.received.length
    const res = await rawRequest(gw.port, handshake('/plain200'))
    assert.equal(status(res), 200)
    assert.match(res, /\r\n\r\nhello$/)
    assert.match(res, /connection: close/i)
    assert.doesNotMatch(plain200.received.slice(seen).join(''), /internal/)
  })

  test('a 101 with the wrong Sec-WebSocket-Accept → 502 upstream_bad_response, no tunnel', async () => {
    const res = await rawRequest(gw.port, handshake('/badaccept'))
    assert.equal(status(res), 502, res.split('\r\n')[0])
    assert.equal(body(res).error, 'upstream_bad_response')
  })

  test('a 101 to another protocol (h2c) → 502, no tunnel', async () => {
    const res = await rawRequest(gw.port, handshake('/h2c'))
    assert.equal(status(res), 502, res.split('\r\n')[0])
  })

  test('a real 101 opens the tunnel (the control case for the tests above)', async () => {
    const res = await rawRequest(gw.port, handshake('/on'))
    assert.equal(status(res), 101, res.split('\r\n')[0])
    assert.match(res, new RegExp(`sec-websocket-accept: ${ACCEPT.replace(/[+/=]/g, '\\$&')}`, 'i'))
  })
})

describe('malformed handshakes → 400, nothing reaches the target', () => {
  const cases: Array<[string, string]> = [
    ['no Sec-WebSocket-Key', 'GET /on HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n'],
    ['a key that is not 16 bytes of base64', 'GET /on HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short==\r\n\r\n'],
    ['two keys', `GET /on HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`],
    ['POST', `POST /on HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nContent-Length: 0\r\n\r\n`],
    ['Content-Length with Transfer-Encoding', `GET /on HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n`],
    ['a body (Content-Length), which would become the first frames', `GET /on HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nContent-Length: 6\r\n\r\n\x82\x04abcd`],
    ['a chunked body', `GET /on HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`],
    ['two Host headers', `GET /on HTTP/1.1\r\nHost: gw\r\nHost: other\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`],
  ]
  for (const [name, raw] of cases) {
    test(name, async () => {
      const before = real.connections
      const res = await rawRequest(gw.port, raw)
      assert.equal(status(res), 400, res.split('\r\n')[0])
      assert.equal(real.connections, before)
    })
  }

  test('an encoded path trick is refused before routing (invalid_path)', async () => {
    const res = await rawRequest(gw.port, handshake('/on%2F..%2Foff'))
    assert.equal(status(res), 400)
    assert.equal(body(res).error, 'invalid_path')
  })
})
