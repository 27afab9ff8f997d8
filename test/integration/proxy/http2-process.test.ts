// HTTP/2 through the real `portico` process: the access log line says HTTP/2.0, /metrics counts the
// request, and SIGTERM drains an h2c session with GOAWAY while its in-flight stream finishes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import { request } from 'undici'
import { startOrigin } from '../../helpers/origin.js'
import { startGateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

test('h2c: access log and metrics for HTTP/2 requests; SIGTERM sends GOAWAY and the in-flight stream completes', { timeout: 120_000 }, async () => {
  let release: () => void = () => undefined
  const origin = await startOrigin((req, res) => {
    if (req.url === '/slow') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first,')
      release = () => res.end('last')
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok')
  })
  const gw = await startGateway({
    config: ({ port, adminPort }) => `
server:
  drain_timeout: 30s
  listeners:
    - listen: 127.0.0.1:${port}
      protocols: [http1, h2c]
admin: { listen: 127.0.0.1:${adminPort} }
log: { level: info, access_log: true }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: h2route, paths: [/*], upstream: o }]
`,
    args: ['--no-cluster'],
    readyTimeoutMs: 60_000,
  })
  const session = http2.connect(gw.url)
  session.on('error', () => undefined)
  try {
    const first = await new Promise<number>((resolve, reject) => {
      const r = session.request({ ':path': '/hello', 'x-request-id': 'h2-log-1' })
      r.on('response', (h) => resolve(Number(h[':status'])))
      r.on('error', reject)
      r.resume()
    })
    assert.equal(first, 200)
    const line = await pollUntil(() => gw.stdout().split('\n').find((l) => l.includes('"request_id":"h2-log-1"')), { timeoutMs: 15_000, what: 'the access log line' })
    const entry = JSON.parse(line) as Record<string, unknown>
    assert.equal(entry.protocol, 'HTTP/2.0')
    assert.equal(entry.route, 'h2route')
    assert.equal(entry.status, 200)
    const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text()
    assert.match(metrics, /portico_requests_total\{[^}]*route="h2route"[^}]*\} [1-9]/)

    // A stream in flight, then SIGTERM: GOAWAY reaches the client, the stream still completes.
    const slow = session.request({ ':path': '/slow' })
    slow.setEncoding('utf8')
    let body = ''
    slow.on('data', (c: string) => (body += c))
    const ended = new Promise<void>((resolve, reject) => {
      slow.on('end', resolve)
      slow.on('error', reject)
    })
    await pollUntil(() => body.includes('first,'), { timeoutMs: 15_000, what: 'the first chunk' })
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)))
    const stopping = gw.stop(60_000)
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR)
    release()
    await ended
    assert.equal(body, 'first,last')
    const exit = await stopping
    assert.equal(exit.code, 0)
  } finally {
    session.destroy()
    await gw.stop()
    await origin.close()
  }
})
