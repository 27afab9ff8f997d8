// WebSocket proxying through an in-process gateway to a real `ws` origin on loopback (issue 14
// item 5): messages of every kind both ways, control frames, close codes, many sessions, the
// route's plugins on the handshake, limits and timeouts, reloads and upstream failures.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { WebSocket } from 'ws'
import { request } from 'undici'
import { freePort } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'
import { closed, nextMessage, openWs, refusedWs, startWsOrigin, type WsOrigin } from '../../helpers/ws.js'
import { registry } from '../../../src/observability/metrics.js'
import { createPki } from '../../helpers/pki.js'

const KEY = 'ws-test-key-0123456789abcdef'
const SECRET = 'ws-test-hs256-secret-0123456789abcdef0123'

function hs256(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
}

let origin: WsOrigin
let gw: InProcGateway
let ws: string
let deadPort: number

const config = (o: WsOrigin) => `
upstreams:
  o: { targets: [ { url: ${o.url} } ] }
  down: { targets: [ { url: http://127.0.0.1:${deadPort} } ], timeouts: { connect: 2s } }
consumers:
  - { name: alice, credentials: { key_auth: ["${KEY}"] } }
routes:
  - { name: echo, paths: [/echo, /echo/*], upstream: o, websocket: { enabled: true } }
  - { name: plain, paths: [/plain], upstream: o }
  - { name: keyed, paths: [/keyed], upstream: o, websocket: { enabled: true }, plugins: [ { name: key-auth } ] }
  - name: jwt
    paths: [/jwt]
    upstream: o
    websocket: { enabled: true }
    plugins: [ { name: jwt, config: { keys: [ { secret: "${SECRET}", algorithms: [HS256] } ] } } ]
  - { name: denied, paths: [/denied], upstream: o, websocket: { enabled: true }, plugins: [ { name: ip-restriction, config: { deny: [127.0.0.1] } } ] }
  - name: rated
    paths: [/rated]
    upstream: o
    websocket: { enabled: true }
    plugins: [ { name: rate-limit, config: { key: route, limits: [ { limit: 2, window: 1m } ] } } ]
  - { name: capped, paths: [/capped], upstream: o, websocket: { enabled: true, max_connections: 2 } }
  - { name: idle, paths: [/idle], upstream: o, websocket: { enabled: true, idle_timeout: 1s } }
  - { name: short, paths: [/short], upstream: o, websocket: { enabled: true, max_lifetime: 300ms } }
  - { name: gone, paths: [/gone], upstream: down, websocket: { enabled: true } }
  - name: cors
    paths: [/cors]
    upstream: o
    websocket: { enabled: true }
    plugins: [ { name: cors, config: { origins: ["https://app.example.com"] } } ]
`

before(async () => {
  deadPort = await freePort()
  origin = await startWsOrigin({ perMessageDeflate: true })
  gw = await startInProc(config(origin))
  ws = `ws://127.0.0.1:${gw.port}`
})
after(async () => {
  await gw.close()
  await origin.close()
})

describe('messages through the tunnel', () => {
  test('text and binary come back as they went', async () => {
    const c = await openWs(`${ws}/echo`)
    c.send('hello')
    assert.equal(await nextMessage(c), 'hello')
    const bin = randomBytes(1000)
    c.send(bin)
    assert.deepEqual(await nextMessage(c), bin)
    c.close()
  })

  test('a fragmented message arrives whole', async () => {
    const c = await openWs(`${ws}/echo`)
    c.send('frag-', { fin: false })
    c.send('men-', { fin: false })
    c.send('ted', { fin: true })
    assert.equal(await nextMessage(c), 'frag-men-ted')
    c.close()
  })

  test('4 MiB messages both ways', async () => {
    const c = await openWs(`${ws}/echo`)
    const big = randomBytes(4 * 1024 * 1024)
    c.send(big)
    const back = (await nextMessage(c)) as Buffer
    assert.equal(back.length, big.length)
    assert.ok(back.equals(big))
    c.close()
  })

  test('1000 messages stay in order', async () => {
    const c = await openWs(`${ws}/echo`)
    const got: string[] = []
    const all = new Promise<void>((resolve) =>
      c.on('message', (d) => {
        got.push(d.toString())
        if (got.length === 1000) resolve()
      }),
    )
    for (let i = 0; i < 1000; i++) c.send(`m${i}`)
    await all
    assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => `m${i}`))
    c.close()
  })

  test('ping/pong both ways', async () => {
    const c = await openWs(`${ws}/echo`)
    const pong = new Promise<string>((resolve) => c.once('pong', (d) => resolve(d.toString())))
    c.ping('from-client')
    assert.equal(await pong, 'from-client')
    const ping = new Promise<string>((resolve) => c.once('ping', (d) => resolve(d.toString())))
    c.send('ping-me')
    assert.equal(await ping, 'from-origin')
    assert.equal(await nextMessage(c), 'pong:from-origin')
    c.close()
  })

  test('close codes both ways', async () => {
    const a = await openWs(`${ws}/echo`)
    const before = origin.closes.length
    a.close(4001, 'client says bye')
    await closed(a)
    await pollUntil(() => origin.closes.length > before, { what: 'origin saw the close' })
    assert.ok(origin.closes.slice(before).includes(4001))

    const b = await openWs(`${ws}/echo`)
    const done = closed(b)
    b.send('close:4002')
    const c = await done
    assert.equal(c.code, 4002)
    assert.equal(c.reason, 'origin says bye')
  })

  test('50 concurrent sessions, counted while open', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => openWs(`${ws}/echo`)))
    await pollUntil(() => (gw.dp.status().websockets?.routes.echo ?? 0) >= 50, { what: '50 sessions in status' })
    const answers = await Promise.all(
      clients.map((c, i) => {
        const m = nextMessage(c)
        c.send(`c${i}`)
        return m
      }),
    )
    assert.deepEqual(answers, clients.map((_, i) => `c${i}`))
    const metrics = await registry.metrics()
    assert.match(metrics, /portico_websocket_connections\{route="echo"\} (5\d|[6-9]\d)/)
    await Promise.all(clients.map((c) => (c.close(), closed(c))))
    await pollUntil(() => gw.dp.status().websockets?.routes.echo === undefined, { what: 'sessions released' })
    assert.match(await registry.metrics(), /portico_websocket_handshakes_total\{route="echo",result="accepted"\} \d+/)
  })

  test('subprotocol and extensions are negotiated end to end; forwarding headers reach the origin', async () => {
    const c = await openWs(`${ws}/echo/sub?x=1`, { protocols: ['chat.v2', 'chat.v1'], perMessageDeflate: true, headers: { 'x-request-id': 'ws-sub-1' } })
    assert.equal(c.protocol, 'chat.v1')
    assert.match(c.extensions, /permessage-deflate/)
    c.send('compressed?')
    assert.equal(await nextMessage(c), 'compressed?')
    const seen = origin.handshakes.at(-1)!
    assert.equal(seen.url, '/echo/sub?x=1')
    assert.equal(seen.headers['x-request-id'], 'ws-sub-1')
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(seen.headers['x-forwarded-proto'], 'http')
    assert.match(String(seen.headers.via), /portico/)
    c.close()
  })

  test('the 101 carries the request id and Via', async () => {
    const c = new WebSocket(`${ws}/echo`, { headers: { 'x-request-id': 'ws-101-1' } })
    const opened = new Promise((r) => c.once('open', r))
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      c.once('upgrade', resolve)
      c.once('error', reject)
    })
    assert.equal(res.headers['x-request-id'], 'ws-101-1')
    assert.match(String(res.headers.via), /portico/)
    await opened
    c.close()
  })
})

describe('the route decides on the handshake', () => {
  test('a route without websocket.enabled → 501, no upstream connection', async () => {
    const before = origin.connections
    const r = await refusedWs(`${ws}/plain`)
    assert.equal(r.status, 501)
    assert.equal(r.body.error, 'not_implemented')
    assert.equal(origin.connections, before)
  })

  test('key-auth: no key → 401 JSON and no upstream connection; the key opens it', async () => {
    const before = origin.connections
    const r = await refusedWs(`${ws}/keyed`)
    assert.equal(r.status, 401)
    assert.equal(r.body.error, 'unauthorized')
    assert.equal(typeof r.body.request_id, 'string')
    assert.equal(origin.connections, before)
    const c = await openWs(`${ws}/keyed`, { headers: { apikey: KEY } })
    c.send('in')
    assert.equal(await nextMessage(c), 'in')
    const seen = origin.handshakes.at(-1)!
    assert.equal(seen.headers.apikey, undefined, 'the key is hidden from the upstream')
    c.close()
  })

  test('jwt: no token → 401 and no upstream connection; a valid token opens it', async () => {
    const before = origin.connections
    const r = await refusedWs(`${ws}/jwt`)
    assert.equal(r.status, 401)
    assert.equal(origin.connections, before)
    const bad = await refusedWs(`${ws}/jwt`, { headers: { authorization: `Bearer ${hs256({ sub: 'u' }).slice(0, -2)}xx` } })
    assert.equal(bad.status, 401)
    assert.equal(origin.connections, before)
    const token = hs256({ sub: 'u1', exp: Math.floor(Date.now() / 1000) + 60 })
    const c = await openWs(`${ws}/jwt`, { headers: { authorization: `Bearer ${token}` } })
    c.send('jwt ok')
    assert.equal(await nextMessage(c), 'jwt ok')
    c.close()
  })

  test('ip-restriction → 403, no upstream connection', async () => {
    const before = origin.connections
    const r = await refusedWs(`${ws}/denied`)
    assert.equal(r.status, 403)
    assert.equal(r.body.error, 'forbidden')
    assert.equal(origin.connections, before)
  })

  test('rate-limit counts handshakes: the third in the window → 429', async () => {
    const a = await openWs(`${ws}/rated`)
    const b = await openWs(`${ws}/rated`)
    const r = await refusedWs(`${ws}/rated`)
    assert.equal(r.status, 429)
    assert.equal(r.body.error, 'too_many_requests')
    assert.ok(r.headers['retry-after'] !== undefined)
    a.close()
    b.close()
  })

  test('cors: a handshake from an origin the policy does not allow → 403; an allowed one opens', async () => {
    const r = await refusedWs(`${ws}/cors`, { headers: { origin: 'https://evil.example.com' } })
    assert.equal(r.status, 403)
    const c = await openWs(`${ws}/cors`, { headers: { origin: 'https://app.example.com' } })
    c.close()
  })

  test('max_connections: the third session → 503 websocket_limit, a freed slot takes a new one', async () => {
    const a = await openWs(`${ws}/capped`)
    const b = await openWs(`${ws}/capped`)
    const r = await refusedWs(`${ws}/capped`)
    assert.equal(r.status, 503)
    assert.equal(r.body.error, 'websocket_limit')
    a.close()
    const c = await pollUntil(() => openWs(`${ws}/capped`), { what: 'a freed slot', timeoutMs: 10_000 })
    b.close()
    c.close()
  })

  test('idle_timeout closes a quiet session with 1001; traffic keeps it open', async () => {
    const c = await openWs(`${ws}/idle`)
    const done = closed(c)
    // Traffic for longer than the idle timeout: the session stays. What is asserted is that
    // nothing happens (no close) while time passes with gaps shorter than idle_timeout (1 s), so
    // there is no event to wait on: the bounded 250 ms gaps are the thing under test, and 6 of them
    // (1.5 s) outlast the timeout. A gap stretched by a busy host stays well under 1 s.
    for (let i = 0; i < 6; i++) {
      c.send(`t${i}`)
      assert.equal(await nextMessage(c), `t${i}`)
      await new Promise((r) => setTimeout(r, 250))
    }
    assert.equal(c.readyState, WebSocket.OPEN)
    const { code } = await done
    assert.equal(code, 1001)
  })

  test('max_lifetime closes a session however busy', async () => {
    const c = await openWs(`${ws}/short`)
    const done = closed(c)
    const timer = setInterval(() => c.readyState === WebSocket.OPEN && c.send('busy'), 20)
    const { code } = await done
    clearInterval(timer)
    assert.equal(code, 1001)
  })

  test('upstream down → 502 upstream_unreachable JSON', async () => {
    const r = await refusedWs(`${ws}/gone`)
    assert.equal(r.status, 502)
    assert.equal(r.body.error, 'upstream_unreachable')
  })

  test('plain HTTP on a websocket route still proxies', async () => {
    const r = await request(`${gw.url}/echo`)
    assert.equal(r.statusCode, 426)
    assert.equal(await r.body.text(), 'websocket only')
  })
})

describe('reload', () => {
  test('an open session keeps its Snapshot and upstream; new handshakes use the new config', async () => {
    const second = await startWsOrigin({ prefix: 'v2:' })
    const g = await startInProc(`
upstreams:
  a: { targets: [ { url: ${origin.url} } ] }
  b: { targets: [ { url: ${second.url} } ] }
routes:
  - { name: live, paths: [/live], upstream: a, websocket: { enabled: true } }
  - { name: other, paths: [/other], upstream: a, websocket: { enabled: true } }
`)
    try {
      const old = await openWs(`ws://127.0.0.1:${g.port}/live`)
      old.send('before')
      assert.equal(await nextMessage(old), 'before')
      await g.reload(`
upstreams:
  a: { targets: [ { url: ${origin.url} } ] }
  b: { targets: [ { url: ${second.url} } ] }
routes:
  - { name: live, paths: [/live], upstream: b, websocket: { enabled: true } }
  - { name: other, paths: [/other], upstream: a }
`)
      old.send('after')
      assert.equal(await nextMessage(old), 'after', 'the old session still talks to the old upstream')
      const fresh = await openWs(`ws://127.0.0.1:${g.port}/live`)
      fresh.send('new')
      assert.equal(await nextMessage(fresh), 'v2:new')
      const r = await refusedWs(`ws://127.0.0.1:${g.port}/other`)
      assert.equal(r.status, 501, 'websocket now off on that route')
      old.close()
      fresh.close()
    } finally {
      await g.close()
      await second.close()
    }
  })

  test('drain: sessions still open at the drain timeout get close code 1001', async () => {
    const g = await startInProc(`
upstreams: { a: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: d, paths: [/d], upstream: a, websocket: { enabled: true, idle_timeout: 0 } } ]
`)
    const c = await openWs(`ws://127.0.0.1:${g.port}/d`)
    const done = closed(c)
    c.send('x')
    assert.equal(await nextMessage(c), 'x')
    await g.dp.drain(200)
    const { code } = await done
    assert.equal(code, 1001)
  })
})

describe('upgrades that are not WebSocket', () => {
  test('Upgrade: h2c (curl --http2 on http://) is served as the plain request it also is', async () => {
    const { startOrigin, echo } = await import('../../helpers/origin.js')
    const { rawRequest } = await import('../../helpers/raw.js')
    const o = await startOrigin(echo)
    const g = await startInProc(`
upstreams: { o: { targets: [ { url: ${o.url} } ] } }
routes: [ { name: r, paths: [/r], upstream: o } ]
`)
    try {
      const res = await rawRequest(g.port, 'GET /r HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n')
      assert.match(res, /^HTTP\/1\.1 200 /)
      assert.match(res, /connection: close/i)
      const echoed = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> }
      for (const h of ['upgrade', 'http2-settings']) assert.equal(echoed.headers[h], undefined, h)
      assert.equal(o.seen.length, 1)
    } finally {
      await g.close()
      await o.close()
    }
  })
})

test('an Upgrade other than websocket on a request with a body → 501, nothing proxied', async () => {
  const { rawRequest } = await import('../../helpers/raw.js')
  const res = await rawRequest(gw.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\nabc')
  assert.match(res, /^HTTP\/1\.1 501 /)
  assert.match(res, /"error":"not_implemented"/)
})

describe('upstream guards and deadlines on the handshake', () => {
  test('a target that accepts and never answers → 504 upstream_timeout; failures open the breaker → 503 circuit_open', async () => {
    const net = await import('node:net')
    const held = new Set<import('node:net').Socket>()
    const silent = net.createServer((s) => {
      held.add(s)
      s.on('error', () => s.destroy())
    })
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const port = (silent.address() as import('node:net').AddressInfo).port
    const g = await startInProc(`
upstreams:
  silent: { targets: [ { url: http://127.0.0.1:${port} } ], timeouts: { read: 300ms } }
  broken: { targets: [ { url: http://127.0.0.1:${deadPort} } ], circuit_breaker: { consecutive_failures: 2, open_duration: 1m } }
routes:
  - { name: silent, paths: [/silent], upstream: silent, websocket: { enabled: true } }
  - { name: broken, paths: [/broken], upstream: broken, websocket: { enabled: true } }
`)
    try {
      const t = await refusedWs(`ws://127.0.0.1:${g.port}/silent`)
      assert.equal(t.status, 504)
      assert.equal(t.body.error, 'upstream_timeout')
      for (let i = 0; i < 2; i++) assert.equal((await refusedWs(`ws://127.0.0.1:${g.port}/broken`)).status, 502)
      const e = await refusedWs(`ws://127.0.0.1:${g.port}/broken`)
      assert.equal(e.status, 503)
      assert.equal(e.body.error, 'circuit_open')
      assert.ok(e.headers['retry-after'] !== undefined)
    } finally {
      await g.close()
      for (const s of held) s.destroy()
      await new Promise((r) => silent.close(r))
    }
  })
})

describe('wss:// upstreams', () => {
  test('a target signed by a private CA: the upstream tls.ca_file verifies it (101, echo); without it → 502', async () => {
    const pki = await createPki()
    const ca = await pki.ca('Portico WS Private CA')
    const leaf = await ca.issue({ names: ['ws.internal'], sans: ['IP:127.0.0.1'] })
    const secure = await startWsOrigin({ tls: { cert: leaf.chain, key: leaf.key } })
    const g = await startInProc(`
upstreams:
  trusted: { targets: [ { url: ${secure.url} } ], tls: { ca_file: ${ca.certFile} } }
  untrusted: { targets: [ { url: ${secure.url} } ] }
routes:
  - { name: trusted, paths: [/trusted], upstream: trusted, websocket: { enabled: true } }
  - { name: untrusted, paths: [/untrusted], upstream: untrusted, websocket: { enabled: true } }
`)
    try {
      const c = await openWs(`ws://127.0.0.1:${g.port}/trusted`)
      c.send('over wss')
      assert.equal(await nextMessage(c), 'over wss')
      assert.equal(secure.handshakes.length, 1)
      c.close()
      await closed(c)

      const r = await refusedWs(`ws://127.0.0.1:${g.port}/untrusted`)
      assert.equal(r.status, 502)
      assert.equal(r.body.error, 'upstream_unreachable')
      assert.equal(secure.handshakes.length, 1, 'verification failed before any handshake reached the origin')
    } finally {
      await g.close()
      await secure.close()
      await pki.remove()
    }
  })
})
