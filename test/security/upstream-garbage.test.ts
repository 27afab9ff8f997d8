// A hostile or broken origin: a raw net.Server that sends HTTP/1.1 protocol garbage (a 204/304
// with a body, duplicate Content-Length, control characters, folded headers, too many or too large
// headers). The client must get 502 upstream_bad_response JSON (issue 11 item 11), never an empty
// reply or upstream_unreachable; a 304 with its 200's Content-Length is legal and relayed.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { startInProc, type InProcGateway } from '../helpers/inproc.js'
import { rawRequest } from '../helpers/raw.js'

const replies: Record<string, string> = {
  '/204-body': 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello',
  // A 304 may carry its 200's Content-Length and never has a body (RFC 9110 §8.6, RFC 9112 §6.3):
  // bytes after its head cannot be its body, so it is relayed and the connection is not reused.
  '/304-cl': 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 5\r\n\r\nhello',
  '/dup-cl': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  '/ctl': 'HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok',
  '/folded': 'HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nContent-Length: 2\r\n\r\nok',
  '/many': `HTTP/1.1 200 OK\r\n${Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\nContent-Length: 2\r\n\r\nok`,
  '/large': `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(100_000)}\r\nContent-Length: 2\r\n\r\nok`,
}

let origin: net.Server
let gw: InProcGateway
before(async () => {
  origin = net.createServer((s) => {
    let head = ''
    s.on('data', (c) => {
      head += c.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      const path = /^[A-Z]+ (\S+)/.exec(head)?.[1] ?? ''
      s.end(replies[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
    })
    s.on('error', () => {})
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  const port = (origin.address() as AddressInfo).port
  gw = await startInProc(`
server: { listen: 127.0.0.1:0 }
upstreams: { o: { targets: [ { url: http://127.0.0.1:${port} } ] } }
routes:
  - { name: any, paths: [/*], upstream: o }
`)
})
after(async () => {
  await gw?.close()
  await new Promise<void>((r) => origin.close(() => r()))
})

const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)

describe('a 304 with the Content-Length of its 200 is a complete response', () => {
  test('relayed as 304 without a body; the next request is answered by a fresh connection', async () => {
    const res = await rawRequest(gw.port, `GET /304-cl HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
    assert.equal(status(res), 304, res)
    assert.match(res, /etag: "v1"/i)
    assert.ok(res.endsWith('\r\n\r\n'), `a body followed the 304: ${JSON.stringify(res)}`)
    const next = await rawRequest(gw.port, `GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
    assert.equal(status(next), 404, next)
  })
})

describe('upstream protocol garbage → 502 upstream_bad_response', () => {
  for (const path of Object.keys(replies).filter((p) => p !== '/304-cl')) {
    test(path, async () => {
      const res = await rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
      assert.equal(status(res), 502, `${path}: ${res.slice(0, 200)}`)
      assert.match(res, /"error":"upstream_bad_response"/)
    })
  }
})
