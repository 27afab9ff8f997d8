// The HTTP/2 upstream dispatcher (src/upstream/h2-pool.ts) against real node:http2 servers on
// loopback, h2c and h2 (TLS with a test CA): stream sharing up to the server's
// SETTINGS_MAX_CONCURRENT_STREAMS (connections counted on the server side), trailers delivered
// through onResponseEnd and undici's request() API, GOAWAY, REFUSED_STREAM, timeouts, connect
// failures, idle close. The failure classes are checked through upstream/failure.ts, which the
// proxy's retries and health decisions read.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import http2, { type Http2Server, type Http2SecureServer, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { H2Pool } from '../../../src/upstream/h2-pool.js'
import { FailureKind, failureKind, failureReply } from '../../../src/upstream/failure.js'
import { Cluster } from '../../../src/upstream/cluster.js'
import { UpstreamClient } from '../../../src/upstream/client.js'
import { fakeContext } from '../../helpers/context.js'
import { createPki } from '../../helpers/pki.js'
import { pollUntil } from '../../helpers/poll.js'
import { freePort } from '../../helpers/ports.js'

type Server = Http2Server | Http2SecureServer

interface Running {
  server: Server
  url: string
  /** TCP connections accepted so far. */
  connections: number
  /** Most streams seen open at once on any one connection. */
  peakStreams: number
  open: Set<import('node:net').Socket>
}

async function listen(server: Server, scheme: 'http' | 'https'): Promise<Running> {
  const r: Running = { server, url: '', connections: 0, peakStreams: 0, open: new Set() }
  server.on('connection', (s: import('node:net').Socket) => {
    r.connections++
    r.open.add(s)
    s.once('close', () => r.open.delete(s))
  })
  server.on('session', (sess) => {
    let open = 0
    sess.on('stream', (st) => {
      open++
      r.peakStreams = Math.max(r.peakStreams, open)
      st.once('close', () => open--)
    })
  })
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
  const port = (server.address() as AddressInfo).port
  r.url = `${scheme}://${scheme === 'https' ? 'localhost' : '127.0.0.1'}:${port}`
  after(() => {
    for (const s of r.open) s.destroy()
    server.close()
  })
  return r
}

function pool(url: string, o: Partial<ConstructorParameters<typeof H2Pool>[1]> = {}): H2Pool {
  const p = new H2Pool(url, { tls: null, connectTimeout: 5000, maxSessions: 8, idleTimeout: 4000, ...o })
  after(() => p.destroy())
  return p
}

interface Outcome {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  trailers: Record<string, string | string[] | undefined>
}

/** Dispatches with a new-style handler (the interface the proxy's exchange implements). */
function call(p: Dispatcher, opts: Partial<Dispatcher.DispatchOptions> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let status = 0
    let headers = {}
    const chunks: Buffer[] = []
    p.dispatch({ path: '/', method: 'GET', headersTimeout: 10_000, bodyTimeout: 10_000, ...opts }, {
      onResponseStart(_c, s, h) {
        status = s
        headers = h
      },
      onResponseData(_c, chunk) {
        chunks.push(chunk)
      },
      onResponseEnd(_c, trailers) {
        resolve({ status, headers, body: Buffer.concat(chunks).toString(), trailers })
      },
      onResponseError(_c, err) {
        reject(err)
      },
    })
  })
}

test('h2c: 100 concurrent requests (GETs and streamed POSTs) share one connection when the server allows 100 streams', async () => {
  const srv = await listen(http2.createServer({ settings: { maxConcurrentStreams: 100 } }), 'http')
  let seen = 0
  const held: ServerHttp2Stream[] = []
  srv.server.on('stream', (st) => {
    st.resume()
    st.on('end', () => {
      held.push(st)
      // Answer only once all 100 are open at once: proves they were multiplexed, not serialised.
      if (++seen === 100) for (const s of held) { s.respond({ ':status': 200 }); s.end('ok') }
    })
  })
  const p = pool(srv.url)
  const res = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      i % 2 === 0 ? call(p) : call(p, { method: 'POST', body: Readable.from([Buffer.from('x'), Buffer.from('y')]) }),
    ),
  )
  assert.ok(res.every((r) => r.status === 200 && r.body === 'ok'))
  assert.equal(srv.connections, 1)
  assert.equal(srv.peakStreams, 100)
})

test('h2c: past the server\'s SETTINGS_MAX_CONCURRENT_STREAMS a second (and third) connection opens, never more streams than allowed', async () => {
  const srv = await listen(http2.createServer({ settings: { maxConcurrentStreams: 40 } }), 'http')
  let seen = 0
  const held: ServerHttp2Stream[] = []
  srv.server.on('stream', (st) => {
    held.push(st)
    if (++seen === 100) for (const s of held) { s.respond({ ':status': 200 }); s.end('ok') }
  })
  const p = pool(srv.url)
  const res = await Promise.all(Array.from({ length: 100 }, () => call(p)))
  assert.ok(res.every((r) => r.status === 200))
  assert.equal(srv.connections, 3) // 40 + 40 + 20
  assert.ok(srv.peakStreams <= 40, `peak ${srv.peakStreams}`)
})

test('h2c: with max sessions reached, requests wait for a free stream instead of failing', async () => {
  const srv = await listen(http2.createServer({ settings: { maxConcurrentStreams: 5 } }), 'http')
  srv.server.on('stream', (st) => setTimeout(() => { st.respond({ ':status': 200 }); st.end('ok') }, 5))
  const p = pool(srv.url, { maxSessions: 1 })
  const res = await Promise.all(Array.from({ length: 30 }, () => call(p)))
  assert.ok(res.every((r) => r.status === 200))
  assert.equal(srv.connections, 1)
  assert.ok(srv.peakStreams <= 5)
})

test('trailers reach onResponseEnd, and request() exposes them; headers, status and the request body arrive intact', async () => {
  const srv = await listen(http2.createServer(), 'http')
  srv.server.on('stream', (st, h) => {
    const chunks: Buffer[] = []
    st.on('data', (c: Buffer) => chunks.push(c))
    st.on('end', () => {
      st.respond({ ':status': 201, 'content-type': 'application/grpc', 'set-cookie': ['a=1', 'b=2'], 'x-seen-authority': String(h[':authority']), 'x-seen-te': String(h.te) }, { waitForTrailers: true })
      st.once('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine', 'x-trace-bin': 'AAEC' }))
      st.end(Buffer.concat(chunks))
    })
  })
  const p = pool(srv.url)
  const r = await call(p, { method: 'POST', body: 'hello', headers: { host: 'svc.internal', te: 'trailers', connection: 'keep-alive', 'transfer-encoding': 'chunked' } })
  assert.equal(r.status, 201)
  assert.equal(r.body, 'hello')
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2'])
  assert.equal(r.headers['x-seen-authority'], 'svc.internal') // Host → :authority
  assert.equal(r.headers['x-seen-te'], 'trailers') // TE: trailers passes (gRPC needs it); connection headers are dropped
  assert.equal(r.headers[':status'], undefined)
  assert.deepEqual({ s: r.trailers['grpc-status'], m: r.trailers['grpc-message'], b: r.trailers['x-trace-bin'] }, { s: '0', m: 'fine', b: 'AAEC' })
  // undici's own request() API over the same dispatcher (what the buffered client and health checks use).
  const res = await p.request({ path: '/', method: 'POST', body: 'again' })
  assert.equal(res.statusCode, 201)
  assert.equal(await res.body.text(), 'again')
  assert.equal(res.trailers['grpc-status'], '0')
})

test('an 8 MiB body goes up and comes back through flow control', async () => {
  const srv = await listen(http2.createServer(), 'http')
  srv.server.on('stream', (st) => {
    st.respond({ ':status': 200 })
    st.pipe(st as unknown as NodeJS.WritableStream)
  })
  const p = pool(srv.url)
  const big = Buffer.alloc(8 * 1024 * 1024, 'abcdefgh')
  const r = await p.request({ path: '/', method: 'PUT', body: Readable.from([big.subarray(0, 3e6), big.subarray(3e6)]) })
  const back = Buffer.from(await r.body.arrayBuffer())
  assert.equal(back.length, big.length)
  assert.ok(back.equals(big))
})

test('GOAWAY: the streams the server accepted finish, the next request opens a new connection', async () => {
  const srv = await listen(http2.createServer(), 'http')
  const held: ServerHttp2Stream[] = []
  srv.server.on('stream', (st, h) => {
    if (h[':path'] === '/now') {
      st.respond({ ':status': 200 })
      st.end('new')
      return
    }
    held.push(st)
    if (held.length === 5) {
      // Graceful shutdown of the session (GOAWAY NO_ERROR, last stream id = 9), then answer the five.
      st.session!.close()
      setImmediate(() => { for (const s of held) { s.respond({ ':status': 200 }); s.end('old') } })
    }
  })
  const p = pool(srv.url)
  const res = await Promise.all(Array.from({ length: 5 }, () => call(p)))
  assert.ok(res.every((r) => r.body === 'old'))
  await pollUntil(() => p.sessions === 0, { timeoutMs: 15_000, what: 'the drained session to close' })
  assert.equal((await call(p, { path: '/now' })).body, 'new')
  assert.equal(srv.connections, 2)
})

test('RST_STREAM(REFUSED_STREAM) is "refused" (retryable like a refused connection), other reset codes are resets', async () => {
  const srv = await listen(http2.createServer(), 'http')
  srv.server.on('stream', (st, h) => {
    st.on('error', () => {}) // closing with an error code errors the server's own stream too
    if (h[':path'] === '/refuse') return st.close(http2.constants.NGHTTP2_REFUSED_STREAM)
    if (h[':path'] === '/reset') return st.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
    st.respond({ ':status': 200 })
    st.end()
  })
  const p = pool(srv.url)
  const refused = await call(p, { path: '/refuse' }).then(() => null, (e: Error) => e)
  assert.equal((refused as { code?: string } | null)?.code, 'PORTICO_H2_REFUSED_STREAM')
  assert.equal(failureKind(refused!), FailureKind.Connect)
  const reset = await call(p, { path: '/reset' }).then(() => null, (e: Error) => e)
  assert.equal((reset as { code?: string } | null)?.code, 'PORTICO_H2_STREAM_RESET')
  assert.equal(failureKind(reset!), FailureKind.Reset)
  assert.equal(failureReply(reset!, { total: 1, read: 1, perTry: undefined }, false)?.code, 'upstream_unreachable')
  // The session survives stream errors.
  assert.equal((await call(p)).status, 200)
  assert.equal(srv.connections, 1)
})

test('headers and body timeouts fail with undici\'s timeout errors (504 upstream_timeout)', async () => {
  const srv = await listen(http2.createServer(), 'http')
  srv.server.on('stream', (st, h) => {
    if (h[':path'] === '/body') {
      st.respond({ ':status': 200 })
      st.write('first')
    } // '/head': never answers
  })
  const p = pool(srv.url)
  const head = await call(p, { path: '/head', headersTimeout: 200 }).then(() => null, (e: Error) => e)
  assert.equal((head as { code?: string } | null)?.code, 'UND_ERR_HEADERS_TIMEOUT')
  assert.equal(failureReply(head!, { total: 1, read: 200, perTry: undefined }, false)?.code, 'upstream_timeout')
  const body = await call(p, { path: '/body', bodyTimeout: 200 }).then(() => null, (e: Error) => e)
  assert.equal((body as { code?: string } | null)?.code, 'UND_ERR_BODY_TIMEOUT')
})

test('timeouts of a second or more (swept, not a timer per stream): never early, a body that keeps coming is not idle', async () => {
  const srv = await listen(http2.createServer(), 'http')
  srv.server.on('stream', (st, h) => {
    if (h[':path'] === '/body') {
      st.respond({ ':status': 200 })
      st.write('first')
    } else if (h[':path'] === '/trickle') {
      // A chunk every 200 ms for 2 s: every gap is well inside the 1.5 s idle timeout.
      st.respond({ ':status': 200 })
      let n = 0
      const t = setInterval(() => {
        if (st.destroyed) return clearInterval(t)
        if (++n === 10) {
          clearInterval(t)
          st.end(`c${n}`)
        } else st.write(`c${n},`)
      }, 200)
    } // '/head': never answers
  })
  const p = pool(srv.url)
  let t0 = Date.now()
  const head = await call(p, { path: '/head', headersTimeout: 1000 }).then(() => null, (e: Error) => e)
  assert.equal((head as { code?: string } | null)?.code, 'UND_ERR_HEADERS_TIMEOUT')
  assert.ok(Date.now() - t0 >= 1000, `the head timeout fired after ${Date.now() - t0} ms, not before 1000`)
  t0 = Date.now()
  const body = await call(p, { path: '/body', bodyTimeout: 1000 }).then(() => null, (e: Error) => e)
  assert.equal((body as { code?: string } | null)?.code, 'UND_ERR_BODY_TIMEOUT')
  assert.ok(Date.now() - t0 >= 1000, `the body timeout fired after ${Date.now() - t0} ms, not before 1000`)
  const trickle = await call(p, { path: '/trickle', headersTimeout: 1500, bodyTimeout: 1500 })
  assert.equal(trickle.status, 200)
  assert.equal(trickle.body.split(',').length, 10, 'the whole body, its 2 s longer than the idle timeout')
})

test('an aborted request resets only its stream; a refused connection fails the waiting requests with ECONNREFUSED', async () => {
  const srv = await listen(http2.createServer(), 'http')
  let cancelled = 0
  // The client aborts once the server has the stream (not after a fixed delay: on a loaded host the
  // connection may not even be up by then, and a stream never sent is never reset).
  let hangSeen: () => void = () => {}
  const hanging = new Promise<void>((r) => (hangSeen = r))
  srv.server.on('stream', (st, h) => {
    st.on('close', () => { if (st.rstCode === http2.constants.NGHTTP2_CANCEL) cancelled++ })
    if (h[':path'] === '/ok') { st.respond({ ':status': 200 }); st.end() }
    if (h[':path'] === '/hang') hangSeen()
  })
  const p = pool(srv.url)
  const err = await new Promise<Error>((resolve) => {
    p.dispatch({ path: '/hang', method: 'GET' }, {
      onRequestStart(c) { void hanging.then(() => c.abort(new Error('client gone'))) },
      onResponseError(_c, e) { resolve(e) },
    })
  })
  assert.equal(err.message, 'client gone')
  await pollUntil(() => cancelled === 1, { timeoutMs: 15_000, what: 'RST_STREAM(CANCEL) at the server' })
  assert.equal((await call(p, { path: '/ok' })).status, 200)

  const port = (srv.server.address() as AddressInfo).port
  // A reserved port nothing listens on (see helpers/ports.ts): no other test can be given it.
  const deadPort = await freePort()
  assert.notEqual(deadPort, port)
  const dead = pool(`http://127.0.0.1:${deadPort}`)
  const errs = await Promise.all(Array.from({ length: 3 }, () => call(dead).then(() => null, (e: Error) => e)))
  for (const e of errs) {
    assert.equal((e as { code?: string } | null)?.code, 'ECONNREFUSED')
    assert.equal(failureKind(e!), FailureKind.Connect)
  }
})

test('an idle session closes after the idle timeout', async () => {
  const srv = await listen(http2.createServer(), 'http')
  srv.server.on('stream', (st) => { st.respond({ ':status': 200 }); st.end() })
  const p = pool(srv.url, { idleTimeout: 100 })
  await call(p)
  assert.equal(srv.open.size, 1)
  await pollUntil(() => srv.open.size === 0 && p.sessions === 0, { timeoutMs: 15_000, what: 'the idle connection to close' })
})

test('h2 over TLS: the upstream CA verifies the server, ALPN is h2, and verification stays on without it', async () => {
  const pki = await createPki()
  after(() => pki.remove())
  const ca = await pki.ca()
  const leaf = await ca.issue({ names: ['localhost'] })
  const srv = await listen(http2.createSecureServer({ key: leaf.key, cert: leaf.chain }), 'https')
  srv.server.on('stream', (st) => {
    st.respond({ ':status': 200, 'x-alpn': String((st.session!.socket as import('node:tls').TLSSocket).alpnProtocol) }, { waitForTrailers: true })
    st.once('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }))
    st.end('secure')
  })
  const p = pool(srv.url, { tls: { ca: ca.cert } })
  const r = await call(p)
  assert.equal(r.body, 'secure')
  assert.equal(r.headers['x-alpn'], 'h2')
  assert.equal(r.trailers['grpc-status'], '0')
  const untrusted = pool(srv.url, { tls: {} })
  const e = await call(untrusted).then(() => null, (err: Error) => err)
  assert.ok(e !== null, 'an unverified server must not be used')
  assert.match(String((e as { code?: string }).code), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/)
  assert.equal(failureReply(e, { total: 1, read: 1, perTry: undefined }, false)?.code, 'upstream_unreachable')
})

test('h2c against an HTTP/1.1-only server fails as "did not speak HTTP/2", a connect-class failure', async () => {
  const h1 = http.createServer((_req, res) => res.end('h1'))
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r))
  after(() => h1.close())
  const p = pool(`http://127.0.0.1:${(h1.address() as AddressInfo).port}`)
  const e = await call(p).then(() => null, (err: Error) => err)
  assert.equal((e as { code?: string } | null)?.code, 'PORTICO_H2_CONNECT')
  assert.equal(failureKind(e!), FailureKind.Connect)
  assert.equal(failureReply(e!, { total: 1, read: 1, perTry: undefined }, false)?.code, 'upstream_unreachable')
})

test('the upstream call (UpstreamClient over a Cluster with protocol h2c) goes out on the H2Pool', async () => {
  const srv = await listen(http2.createServer(), 'http')
  srv.server.on('stream', (st, h) => {
    st.respond({ ':status': 200, 'x-path': String(h[':path']), 'x-authority': String(h[':authority']) })
    st.end('via cluster')
  })
  const cluster = new Cluster('h2c-up', { protocol: 'h2c', targets: [{ url: `${srv.url}/base` }] })
  after(() => cluster.close())
  const r = await new UpstreamClient(cluster).request({ method: 'GET', path: '/x?y=1', headers: {}, timeoutMs: 5000, maxBytes: 1024, ctx: fakeContext() })
  assert.equal(r.status, 200)
  assert.equal(r.body.toString(), 'via cluster')
  assert.equal(r.headers['x-path'], '/base/x?y=1')
  assert.equal(r.headers['x-authority'], new URL(srv.url).host)
  assert.equal(srv.connections, 1)
})
