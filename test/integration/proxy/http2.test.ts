// Downstream HTTP/2 against real clients: node:http2 over TLS (ALPN h2, a CA made at test time) and
// h2c by prior knowledge, HTTP/1.1 on the same ports, curl --http2. The same front half as
// HTTP/1.1: routing, Host binding (421), HSTS, plugins (key-auth refusing), body limits, request
// bodies streamed upstream, SSE streamed back, many streams on one connection. One in-process
// gateway with three listeners serves the whole file.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import http from 'node:http'
import https from 'node:https'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { createPki, type Ca, type Issued } from '../../helpers/pki.js'
import { echo, startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'

const run = promisify(execFile)
const KEY = 'h2-key-0123456789abcdef'

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let a: Issued
let origin: Origin
let gw: InProcGateway
let tlsPort: number
let h2cPort: number
let h1OnlyPort: number
let mtlsPort: number
let alice: Issued
/** SSE: the origin sends one event, then waits for this before the second. */
let releaseSse: () => void = () => undefined

before(async () => {
  pki = await createPki()
  ca = await pki.ca()
  a = await ca.issue({ names: ['a.test', 'b.a.test'] })
  alice = await ca.issue({ cn: 'alice', client: true })
  origin = await startOrigin((req, res) => {
    if (req.url === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      res.write('data: one\n\n')
      releaseSse = () => res.end('data: two\n\n')
      return
    }
    echo(req, res)
  })
  process.env.PORTICO_TEST_H2_KEY = KEY
  gw = await startInProc(`
server:
  max_body_size: 64kb
  keep_alive_timeout: 1s
  listeners:
    - listen: 127.0.0.1:0
      tls:
        certificates: [{ cert_file: ${a.chainFile}, key_file: ${a.keyFile} }]
        hsts: { max_age: 1h }
    - listen: 127.0.0.1:0
      protocols: [http1, h2c]
      http2: { max_concurrent_streams: 64 }
    - listen: 127.0.0.1:0
      protocols: [http1]
      tls:
        certificates: [{ cert_file: ${a.chainFile}, key_file: ${a.keyFile} }]
    - listen: 127.0.0.1:0
      tls:
        certificates: [{ cert_file: ${a.chainFile}, key_file: ${a.keyFile} }]
        client_auth: { mode: required, ca_file: ${ca.certFile} }
consumers:
  - name: alice
    credentials: { key_auth: ["\${PORTICO_TEST_H2_KEY}"] }
upstreams:
  o: { targets: [{ url: ${origin.url} }] }
routes:
  - name: auth
    paths: [/auth/*]
    upstream: o
    plugins: [{ name: key-auth }]
  - { name: all, paths: [/*], upstream: o }
`)
  const addrs = gw.dp.addresses()
  tlsPort = addrs[0]!.port
  h2cPort = addrs[1]!.port
  h1OnlyPort = addrs[2]!.port
  mtlsPort = addrs[3]!.port
})
after(async () => {
  await gw?.close()
  await origin?.close()
  await pki?.remove()
})

interface H2Reply {
  status: number
  headers: http2.IncomingHttpHeaders
  body: string
}

function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string | Buffer[]): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': body === undefined ? 'GET' : 'POST', ...headers }, { endStream: body === undefined })
    let head: http2.IncomingHttpHeaders = {}
    const chunks: Buffer[] = []
    req.on('response', (h) => (head = h))
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks).toString() }))
    req.on('error', reject)
    if (typeof body === 'string') req.end(body)
    else if (body !== undefined) {
      // Several DATA frames, written one after the other.
      for (const b of body) req.write(b)
      req.end()
    }
  })
}

function connectTls(servername = 'a.test'): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${tlsPort}`, { ca: ca.cert, servername })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

function connectH2c(): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${h2cPort}`)
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

test('https listener: ALPN h2 by default; routed, forwarded as HTTP/1.1 upstream, no connection-specific fields back', async () => {
  const s = await connectTls()
  try {
    assert.equal((s.socket as import('node:tls').TLSSocket).alpnProtocol, 'h2')
    const r = await h2Request(s, { ':path': '/echo?x=1', ':authority': 'a.test', 'x-test': 'yes' })
    assert.equal(r.status, 200)
    const seen = JSON.parse(r.body) as { url: string; headers: Record<string, string> }
    assert.equal(seen.url, '/echo?x=1')
    assert.equal(seen.headers.host, `127.0.0.1:${origin.port}`)
    assert.equal(seen.headers['x-forwarded-host'], 'a.test')
    assert.equal(seen.headers['x-forwarded-proto'], 'https')
    assert.equal(seen.headers['x-test'], 'yes')
    assert.ok(!Object.keys(seen.headers).some((k) => k.startsWith(':')), 'no pseudo-header reaches the upstream')
    assert.equal(r.headers['strict-transport-security'], 'max-age=3600')
    assert.match(String(r.headers['x-request-id']), /./)
    assert.equal(r.headers.connection, undefined)
    assert.equal(r.headers['keep-alive'], undefined)
    // Host bound to the connection's certificate: a name it does not cover is a 421, as on HTTP/1.1.
    const other = await h2Request(s, { ':path': '/echo', ':authority': 'other.test' })
    assert.equal(other.status, 421)
    assert.equal((JSON.parse(other.body) as { error: string }).error, 'misdirected_request')
    // The catalogue's 404 over h2.
    const miss = await h2Request(s, { ':path': '/%2e%2e/%00', ':authority': 'a.test' })
    assert.equal(miss.status, 400)
  } finally {
    s.close()
  }
})

test('HTTP/1.1 still served on the same TLS port (ALPN http/1.1 and no ALPN); protocols: [http1] turns h2 off', async () => {
  for (const ALPNProtocols of [['http/1.1'], undefined]) {
    const r = await new Promise<{ status: number; alpn: string | false | null; hsts: unknown }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: tlsPort, path: '/echo', servername: 'a.test', headers: { host: 'a.test' }, ca: ca.cert, agent: false, ...(ALPNProtocols === undefined ? {} : { ALPNProtocols }) }, (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, alpn: (res.socket as import('node:tls').TLSSocket).alpnProtocol, hsts: res.headers['strict-transport-security'] }))
      })
      req.on('error', reject)
      req.end()
    })
    assert.equal(r.status, 200)
    assert.equal(r.hsts, 'max-age=3600')
    assert.equal(r.alpn, ALPNProtocols === undefined ? false : 'http/1.1')
  }
  // HTTP/1.1's limits hold on the h2-capable server too: an oversized head is the catalogue's 431.
  const big = await new Promise<number>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: tlsPort, path: '/echo', servername: 'a.test', headers: { host: 'a.test', 'x-big': 'x'.repeat(20_000) }, ca: ca.cert, agent: false, ALPNProtocols: ['http/1.1'] } as https.RequestOptions, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
  assert.equal(big, 431)
  // The listener with protocols: [http1] never offers h2.
  const alpn = await new Promise<string | false | null>((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${h1OnlyPort}`, { ca: ca.cert, servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] } as http2.SecureClientSessionOptions)
    s.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ERR_HTTP2_ERROR' || /ALPN|protocol/i.test(err.message) ? resolve(false) : reject(err)))
    s.once('connect', () => {
      const p = (s.socket as import('node:tls').TLSSocket).alpnProtocol
      s.destroy()
      resolve(p)
    })
  })
  assert.notEqual(alpn, 'h2')
})

test('mTLS on h2: a verified client certificate is forwarded as x-client-cert-*; none is refused at the handshake', async () => {
  const s = await new Promise<http2.ClientHttp2Session>((resolve, reject) => {
    const c = http2.connect(`https://127.0.0.1:${mtlsPort}`, { ca: ca.cert, servername: 'a.test', cert: alice.cert, key: alice.key })
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
  try {
    const r = await h2Request(s, { ':path': '/echo', ':authority': 'a.test', 'x-client-cert-subject': 'CN=admin' })
    assert.equal(r.status, 200)
    const seen = JSON.parse(r.body) as { headers: Record<string, string> }
    assert.equal(seen.headers['x-client-cert-verified'], 'SUCCESS')
    assert.match(seen.headers['x-client-cert-subject']!, /CN=alice/)
  } finally {
    s.close()
  }
  let c: http2.ClientHttp2Session | undefined
  const refused = await new Promise<unknown>((resolve) => {
    c = http2.connect(`https://127.0.0.1:${mtlsPort}`, { ca: ca.cert, servername: 'a.test' })
    c.on('error', (e) => resolve(e))
    c.on('close', () => resolve('closed'))
    const r = c.request({ ':path': '/echo', ':authority': 'a.test' })
    r.on('error', (e) => resolve(e))
    r.on('response', () => resolve('answered'))
    r.resume()
  })
  c?.destroy()
  assert.match(String(refused), /certificate required/)
})

test('h2c by prior knowledge and HTTP/1.1 on one cleartext port; 200 concurrent streams on one connection', async () => {
  const s = await connectH2c()
  try {
    const r = await h2Request(s, { ':path': '/echo', ':authority': 'api.test' })
    assert.equal(r.status, 200)
    const seen = JSON.parse(r.body) as { headers: Record<string, string> }
    assert.equal(seen.headers['x-forwarded-proto'], 'http')
    assert.equal(seen.headers['x-forwarded-host'], 'api.test')
    // RFC 9110 §7.6.3: Via names the protocol each hop received (HTTP/2 is "2"); the origin is HTTP/1.1.
    assert.equal(seen.headers.via, '2 portico')
    assert.equal(r.headers.via, '1.1 portico')
    // More streams than max_concurrent_streams (64): the client queues the rest, every one answers.
    const all = await Promise.all(Array.from({ length: 200 }, (_, i) => h2Request(s, { ':path': `/echo/${i}`, ':authority': 'api.test' })))
    assert.deepEqual(all.map((x) => x.status), Array(200).fill(200))
    assert.equal((JSON.parse(all[137]!.body) as { url: string }).url, '/echo/137')
    assert.equal(s.remoteSettings.maxConcurrentStreams, 64)
  } finally {
    s.close()
  }
  const h1 = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: h2cPort, path: '/echo', agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    }).on('error', reject)
  })
  assert.equal(h1, 200)
})

test('an h2 connection with no open stream for keep_alive_timeout gets GOAWAY and closes', async () => {
  const s = await connectH2c()
  const goaway = new Promise<number>((resolve) => s.once('goaway', (code: number) => resolve(code)))
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()))
  assert.equal((await h2Request(s, { ':path': '/echo', ':authority': 'api.test' })).status, 200)
  assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR)
  await closed
})

test('plugins run on h2: key-auth refuses without a key (401 JSON) and admits with one', async () => {
  const s = await connectH2c()
  try {
    const no = await h2Request(s, { ':path': '/auth/x', ':authority': 'api.test' })
    assert.equal(no.status, 401)
    const body = JSON.parse(no.body) as { error: string; request_id: string }
    assert.equal(body.request_id, no.headers['x-request-id'])
    const yes = await h2Request(s, { ':path': '/auth/x', ':authority': 'api.test', apikey: KEY })
    assert.equal(yes.status, 200)
  } finally {
    s.close()
  }
})

test('request bodies stream upstream (with and without content-length); max_body_size holds on h2', async () => {
  const s = await connectTls()
  try {
    const chunks = [Buffer.from('a'.repeat(20_000)), Buffer.from('b'.repeat(20_000)), Buffer.from('c')]
    const r = await h2Request(s, { ':path': '/upload', ':authority': 'a.test' }, chunks)
    assert.equal(r.status, 200)
    const seen = JSON.parse(r.body) as { body: string; headers: Record<string, string> }
    assert.equal(seen.body, Buffer.concat(chunks).toString())
    const sized = await h2Request(s, { ':path': '/upload', ':authority': 'a.test', 'content-length': '5' }, 'hello')
    assert.equal((JSON.parse(sized.body) as { body: string; headers: Record<string, string> }).body, 'hello')
    // Over the limit without a declared length (counted as it streams), and with one (refused up front).
    const tooBig = await h2Request(s, { ':path': '/upload', ':authority': 'a.test' }, [Buffer.alloc(40_000), Buffer.alloc(40_000)]).catch((e: Error) => e)
    assert.ok(!(tooBig instanceof Error) && tooBig.status === 413, `got ${tooBig instanceof Error ? tooBig.message : tooBig.status}`)
    // A declared length over the limit is refused before any of the body is sent.
    const declared = s.request({ ':method': 'POST', ':path': '/upload', ':authority': 'a.test', 'content-length': '100000' }, { endStream: false })
    declared.on('error', () => undefined)
    const head = await new Promise<http2.IncomingHttpHeaders>((resolve) => declared.once('response', resolve))
    assert.equal(head[':status'], 413)
    declared.close()
    // The session survives the refusals.
    assert.equal((await h2Request(s, { ':path': '/echo', ':authority': 'a.test' })).status, 200)
  } finally {
    s.close()
  }
})

test('SSE streams over h2: the first event arrives while the upstream response is still open', async () => {
  const s = await connectTls()
  try {
    const req = s.request({ ':path': '/sse', ':authority': 'a.test', accept: 'text/event-stream' })
    const head = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.once('response', resolve))
    assert.equal(head[':status'], 200)
    assert.equal(head['content-type'], 'text/event-stream')
    assert.equal(head.connection, undefined)
    req.setEncoding('utf8')
    let text = ''
    await new Promise<void>((resolve) => {
      const onData = (c: string): void => {
        text += c
        if (text.includes('data: one\n\n')) {
          req.off('data', onData)
          resolve()
        }
      }
      req.on('data', onData)
    })
    assert.ok(!text.includes('two'))
    const rest = new Promise<string>((resolve) => {
      let more = ''
      req.on('data', (c: string) => (more += c))
      req.on('end', () => resolve(more))
    })
    releaseSse()
    assert.match(await rest, /data: two/)
  } finally {
    s.close()
  }
})

test('curl --http2 (ALPN) and --http2-prior-knowledge (h2c)', async (t) => {
  const v = await run('curl', ['-V']).catch(() => null)
  if (v === null || !/HTTP2/.test(v.stdout)) return t.skip('curl without HTTP/2 here')
  const tls = await run('curl', ['-sS', '--http2', '--cacert', ca.certFile, '--resolve', `a.test:${tlsPort}:127.0.0.1`, '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `https://a.test:${tlsPort}/echo`])
  assert.equal(tls.stdout, '2 200')
  const h2c = await run('curl', ['-sS', '--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `http://127.0.0.1:${h2cPort}/echo`])
  assert.equal(h2c.stdout, '2 200')
})
