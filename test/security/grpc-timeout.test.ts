// grpc-timeout is the client's to set, and the gateway turns it into a deadline and a header sent
// upstream: huge, zero, negative, fractional, over-long and garbage values must neither crash the
// gateway nor give a negative or unbounded deadline. A value that parses is capped by the route's
// total timeout; one that does not is dropped (no deadline, not forwarded); "0n" is already expired.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { startInProc, type InProcGateway } from '../helpers/inproc.js'
import { parseGrpcTimeout } from '../../src/proxy/grpc-status.js'

let upstream: http2.Http2Server
const seen: Array<string | undefined> = []
let gw: InProcGateway
let port: number

before(async () => {
  upstream = http2.createServer()
  upstream.on('stream', (st, h) => {
    seen.push(h['grpc-timeout'] as string | undefined)
    st.resume()
    st.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true })
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      protocols: [h2c]
upstreams:
  g: { protocol: h2c, targets: [{ url: http://127.0.0.1:${(upstream.address() as AddressInfo).port} }] }
routes:
  - { name: g, paths: [/*], upstream: g, timeouts: { total: 5s } }
`)
  port = gw.dp.addresses()[0]!.port
})
after(async () => {
  await gw?.close()
  upstream?.close()
})

async function call(timeout: string): Promise<http2.IncomingHttpHeaders> {
  const s = http2.connect(`http://127.0.0.1:${port}`)
  s.on('error', () => undefined)
  try {
    return await new Promise((resolve, reject) => {
      const st = s.request({ ':method': 'POST', ':path': '/svc/M', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': timeout })
      st.on('response', resolve)
      st.on('error', reject)
      st.resume()
      st.end(Buffer.alloc(5))
    })
  } finally {
    s.close()
  }
}

test('a huge grpc-timeout is capped by the route total: the upstream gets at most 5 s', async () => {
  for (const v of ['99999999H', '99999999M', '99999999S']) {
    const h = await call(v)
    assert.equal(h['grpc-status'], '0', v)
    const sent = parseGrpcTimeout(seen.at(-1))
    assert.ok(sent !== null && sent > 0 && sent <= 5000, `${v} → ${seen.at(-1)}`)
  }
})

test('"0n" (and any zero) is an expired deadline: DEADLINE_EXCEEDED, nothing sent upstream', async () => {
  for (const v of ['0n', '0S', '00000000H']) {
    const before = seen.length
    const h = await call(v)
    assert.equal(h[':status'], 200)
    assert.equal(h['grpc-status'], '4', v)
    assert.equal(seen.length, before, `${v} must not reach the upstream`)
  }
})

test('malformed values are dropped: the call goes through without them, the gateway keeps serving', async () => {
  for (const v of ['-5S', '1.5S', '123456789S', 'S', '10', '10x', '1 S', '0x10S', 'Infinity', 'NaNm', '9'.repeat(4000) + 'S']) {
    const h = await call(v)
    assert.equal(h['grpc-status'], '0', v.slice(0, 20))
    assert.equal(seen.at(-1), undefined, `${v.slice(0, 20)} must not be forwarded`)
  }
  const h = await call('1S')
  assert.equal(h['grpc-status'], '0')
  const sent = parseGrpcTimeout(seen.at(-1))
  assert.ok(sent !== null && sent > 0 && sent <= 1000, String(seen.at(-1)))
})
