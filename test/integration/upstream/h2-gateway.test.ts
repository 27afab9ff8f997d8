// HTTP/1.1 client → gateway → HTTP/2 upstream (protocol h2c, and h2 over TLS with a test CA):
// status, headers, streamed bodies both ways, 8 MiB bodies, 100 concurrent requests on shared
// connections, GOAWAY mid-run and REFUSED_STREAM under the route's retries, the read timeout,
// passive health and the breaker on h2 failures, and active health checks over h2c. One in-process
// gateway (the real loader and data plane) serves every test; the upstreams are node:http2 servers.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http2, { type Http2Server, type Http2SecureServer, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo, Socket } from 'node:net'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { createPki } from '../../helpers/pki.js'
import { pollUntil } from '../../helpers/poll.js'

interface Up {
  server: Http2Server | Http2SecureServer
  port: number
  connections: number
  sockets: Set<Socket>
  streams: number
}

async function up(server: Http2Server | Http2SecureServer, handler: (st: ServerHttp2Stream, h: http2.IncomingHttpHeaders, u: Up) => void): Promise<Up> {
  const u: Up = { server, port: 0, connections: 0, sockets: new Set(), streams: 0 }
  server.on('connection', (s: Socket) => {
    u.connections++
    u.sockets.add(s)
    s.once('close', () => u.sockets.delete(s))
  })
  server.on('stream', (st, h) => {
    u.streams++
    st.on('error', () => {}) // resets made on purpose error the server's stream too
    handler(st, h, u)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  u.port = (server.address() as AddressInfo).port
  return u
}

/** The upstream test handler: echo, stream, big, hold (barrier), slow, refuse-once, health. */
let healthy = true
let gate: (() => void) | null = null
let holdTarget = 0
const held: ServerHttp2Stream[] = []
const refusedKeys = new Set<string>()
const BIG = Buffer.alloc(8 * 1024 * 1024, 'portico!')

function handler(st: ServerHttp2Stream, h: http2.IncomingHttpHeaders): void {
  const path = String(h[':path'])
  if (path.startsWith('/echo')) {
    st.respond({ ':status': 201, 'x-method': String(h[':method']), 'x-path': path, 'x-got': String(h['x-test'] ?? ''), 'x-authority': String(h[':authority']), 'set-cookie': ['a=1', 'b=2'] })
    st.pipe(st as unknown as NodeJS.WritableStream)
  } else if (path === '/stream') {
    // The rest comes only once the client has read the first part: the response is streamed.
    st.respond({ ':status': 200 })
    st.write('part1;')
    gate = () => st.end('part2;part3;')
  } else if (path === '/big') {
    st.respond({ ':status': 200, 'content-length': String(BIG.length) })
    st.end(BIG)
  } else if (path === '/hold') {
    held.push(st)
    if (held.length === holdTarget) for (const s of held.splice(0)) { s.respond({ ':status': 200 }); s.end('held') }
  } else if (path === '/slow') {
    // never answers
  } else if (path.startsWith('/refuse-once/')) {
    if (!refusedKeys.has(path)) {
      refusedKeys.add(path)
      st.close(http2.constants.NGHTTP2_REFUSED_STREAM)
      return
    }
    st.respond({ ':status': 200 })
    st.end('second try')
  } else if (path === '/health') {
    st.respond({ ':status': healthy ? 200 : 503 })
    st.end()
  } else {
    st.respond({ ':status': 200 })
    st.end('ok')
  }
}

let gw: InProcGateway
let c: Up
let s: Up
let goaway: Up
let bad: Up
let pkiRemove: () => Promise<void>

before(async () => {
  const pki = await createPki()
  pkiRemove = pki.remove
  const ca = await pki.ca()
  const leaf = await ca.issue({ names: ['localhost'] })
  // Upstream receive windows above RFC 9113's 64 KiB, as a real upstream tunes them, so the 8 MiB
  // uploads are not a round trip per 64 KiB on a loaded CI host.
  const settings = { maxConcurrentStreams: 100, initialWindowSize: 1 << 20 }
  c = await up(http2.createServer({ settings }), handler)
  s = await up(http2.createSecureServer({ key: leaf.key, cert: leaf.chain, settings }), handler)
  for (const u of [c, s]) u.server.on('session', (sess) => sess.setLocalWindowSize(4 << 20))
  // At the 25th stream of each session: GOAWAY naming the stream before it as the last one
  // processed, then a graceful close. That stream and any later ones on the session are never
  // answered: the gateway must retry them on a new connection.
  const goneSessions = new WeakSet<http2.Http2Session>()
  const streamsOn = new WeakMap<http2.Http2Session, number>()
  goaway = await up(http2.createServer(), (st) => {
    const sess = st.session!
    if (goneSessions.has(sess)) return
    const n = (streamsOn.get(sess) ?? 0) + 1
    streamsOn.set(sess, n)
    if (n === 25) {
      goneSessions.add(sess)
      sess.goaway(http2.constants.NGHTTP2_NO_ERROR, st.id! - 2)
      setTimeout(() => sess.close(), 20)
      return
    }
    setImmediate(() => {
      if (st.destroyed) return
      st.respond({ ':status': 200 })
      st.end('ok')
    })
  })
  bad = await up(http2.createServer(), (st) => st.close(http2.constants.NGHTTP2_INTERNAL_ERROR))
  const caFile = ca.certFile
  gw = await startInProc(`
upstreams:
  c:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${c.port} }]
  s:
    protocol: h2
    tls: { ca_file: ${caFile} }
    targets: [{ url: https://localhost:${s.port} }]
  retried:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${goaway.port} }]
    retries: { attempts: 3, backoff: { base: 1ms, max: 5ms }, budget: { ratio: 1, min_per_second: 1000 } }
  refusing:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${c.port} }]
    retries: { attempts: 2, backoff: { base: 1ms, max: 2ms } }
  mixed:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${c.port} }, { url: http://127.0.0.1:${bad.port} }]
    health_checks: { passive: { consecutive_failures: 2, base_ejection_time: 60s } }
  breaker:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${bad.port} }]
    circuit_breaker: { consecutive_failures: 3, open_duration: 60s }
  probed:
    protocol: h2c
    targets: [{ url: http://127.0.0.1:${c.port} }]
    health_checks: { active: { path: /health, interval: 50ms, timeout: 2s, healthy: { successes: 1 }, unhealthy: { failures: 1 } } }
routes:
  - { name: c, paths: ['/c/*'], strip_prefix: /c, upstream: c }
  - { name: s, paths: ['/s/*'], strip_prefix: /s, upstream: s }
  - { name: t, paths: ['/t/*'], strip_prefix: /t, upstream: c, timeouts: { read: 300ms } }
  - { name: retried, paths: ['/g/*'], strip_prefix: /g, upstream: retried }
  - { name: refusing, paths: ['/rr/*'], strip_prefix: /rr, upstream: refusing }
  - { name: mixed, paths: ['/m/*'], strip_prefix: /m, upstream: mixed }
  - { name: breaker, paths: ['/b/*'], strip_prefix: /b, upstream: breaker }
  - { name: probed, paths: ['/p/*'], strip_prefix: /p, upstream: probed }
`)
})

after(async () => {
  await gw?.close()
  for (const u of [c, s, goaway, bad]) {
    if (u === undefined) continue
    for (const k of u.sockets) k.destroy()
    u.server.close()
  }
  await pkiRemove?.()
})

async function text(path: string, init: Parameters<typeof request>[1] = {}) {
  const r = await request(`${gw.url}${path}`, init)
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() }
}

for (const [name, prefix] of [['h2c', '/c'], ['h2 (TLS, test CA)', '/s']] as const) {
  test(`${name}: status, headers both ways, and request and response bodies streamed (each chunk travels before the next exists)`, async () => {
    // Full duplex: chunk i+1 is produced only after the echo of chunk i came back through the gateway.
    let echoed: (() => void) | null = null
    const body = Readable.from((async function* () {
      for (let i = 0; i < 4; i++) {
        yield Buffer.from(`chunk${i};`)
        await new Promise<void>((r) => (echoed = r))
      }
    })())
    const res = await request(`${gw.url}${prefix}/echo?q=1`, { method: 'POST', headers: { 'x-test': 'yes' }, body })
    assert.equal(res.statusCode, 201)
    let got = ''
    for await (const chunk of res.body) {
      got += String(chunk)
      const e = echoed as (() => void) | null
      echoed = null
      e?.()
    }
    assert.equal(got, 'chunk0;chunk1;chunk2;chunk3;')
    const h = res.headers
    assert.equal(h['x-method'], 'POST')
    assert.equal(h['x-path'], '/echo?q=1')
    assert.equal(h['x-got'], 'yes')
    assert.match(String(h['x-authority']), /^(127\.0\.0\.1|localhost):\d+$/) // the target's host as :authority
    assert.deepEqual(h['set-cookie'], ['a=1', 'b=2'])
    assert.ok(h['x-request-id'])
    assert.equal(h.via, '2 portico', 'the response came from the target over HTTP/2 (RFC 9110 §7.6.3)')

    const st = await request(`${gw.url}${prefix}/stream`)
    const it = st.body[Symbol.asyncIterator]()
    assert.equal(String((await it.next()).value), 'part1;')
    gate!()
    let rest = ''
    for (let n = await it.next(); n.done !== true; n = await it.next()) rest += String(n.value)
    assert.equal(rest, 'part2;part3;')
  })

  test(`${name}: 8 MiB up and 8 MiB down`, async () => {
    const up8 = Buffer.alloc(8 * 1024 * 1024, 'u')
    const r = await request(`${gw.url}${prefix}/echo`, { method: 'PUT', body: up8 })
    const back = Buffer.from(await r.body.arrayBuffer())
    assert.equal(r.statusCode, 201)
    assert.equal(back.length, up8.length)
    assert.ok(back.equals(up8))
    const d = await request(`${gw.url}${prefix}/big`)
    const down = Buffer.from(await d.body.arrayBuffer())
    assert.equal(down.length, BIG.length)
    assert.ok(down.equals(BIG))
  })
}

test('100 concurrent client requests ride one upstream h2c connection (the server allows 100 streams)', async () => {
  const before = c.connections
  holdTarget = 100
  // The upstream answers only when all 100 are open at once: they must have been multiplexed.
  const res = await Promise.all(Array.from({ length: 100 }, () => text('/c/hold')))
  assert.ok(res.every((r) => r.status === 200 && r.body === 'held'), JSON.stringify(res.find((r) => r.status !== 200)))
  assert.ok(c.connections - before <= 1, `${c.connections - before} new upstream connections`)
})

test('GOAWAY mid-run: no idempotent request fails (refused streams are retried on a new connection)', async () => {
  let next = 0
  const statuses: number[] = []
  const worker = async () => {
    while (next++ < 200) statuses.push((await text(`/g/x${next}`)).status)
  }
  await Promise.all(Array.from({ length: 20 }, worker))
  assert.equal(statuses.length, 200)
  assert.deepEqual(statuses.filter((x) => x !== 200), [])
  assert.ok(goaway.connections >= 3, `GOAWAY happened ${goaway.connections - 1} times`)
})

test('REFUSED_STREAM is retried by a route with retries, and is a 502 without them', async () => {
  const r = await text('/rr/refuse-once/a')
  assert.equal(r.status, 200)
  assert.equal(r.body, 'second try')
  const n = await text('/c/refuse-once/b')
  assert.equal(n.status, 502)
  assert.equal(JSON.parse(n.body).error, 'upstream_unreachable')
})

test('the read timeout applies to an h2 upstream that never answers: 504 upstream_timeout', async () => {
  const r = await text('/t/slow')
  assert.equal(r.status, 504)
  assert.equal(JSON.parse(r.body).error, 'upstream_timeout')
})

test('passive health ejects an h2c target that resets its streams; the breaker opens on them', async () => {
  const codes: number[] = []
  for (let i = 0; i < 8; i++) codes.push((await text('/m/x')).status)
  const st = gw.dp.status().upstreams.mixed!
  assert.equal(st.targets[1]!.ejected, true, JSON.stringify(st))
  assert.equal(st.targets[0]!.ejected, false)
  // After the ejection, every request reaches the good target.
  const afterEject = await Promise.all(Array.from({ length: 6 }, () => text('/m/x')))
  assert.ok(afterEject.every((r) => r.status === 200))
  assert.ok(codes.includes(502))

  const b: Array<{ status: number; error: string }> = []
  for (let i = 0; i < 4; i++) {
    const r = await text('/b/x')
    b.push({ status: r.status, error: JSON.parse(r.body).error })
  }
  assert.deepEqual(b.slice(0, 3).map((x) => x.error), ['upstream_unreachable', 'upstream_unreachable', 'upstream_unreachable'])
  assert.deepEqual(b[3], { status: 503, error: 'circuit_open' })
})

test('active health checks probe an h2c target: unhealthy on 503, back on 200', async () => {
  assert.equal((await text('/p/x')).status, 200)
  healthy = false
  try {
    await pollUntil(() => gw.dp.status().upstreams.probed!.targets[0]!.healthy === false, { timeoutMs: 15_000, what: 'the target marked unhealthy' })
    const r = await text('/p/x')
    assert.equal(r.status, 503)
    assert.equal(JSON.parse(r.body).error, 'no_healthy_target')
  } finally {
    healthy = true
  }
  await pollUntil(() => gw.dp.status().upstreams.probed!.targets[0]!.healthy, { timeoutMs: 15_000, what: 'the target healthy again' })
  assert.equal((await text('/p/x')).status, 200)
})
