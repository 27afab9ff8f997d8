// Attacks from the client side against a real gateway and origin: request smuggling framings,
// header abuse, and path encodings that try to reach a protected route without its plugins.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startOrigin, echo, type Origin } from '../helpers/origin.js'
import { startInProc, type InProcGateway } from '../helpers/inproc.js'
import { rawRequest } from '../helpers/raw.js'

let origin: Origin
let gw: InProcGateway
before(async () => {
  origin = await startOrigin(echo)
  // /admin/* carries a plugin (standing in for auth) that stamps every request it lets through;
  // the origin must never see an /admin path without that stamp.
  gw = await startInProc(`
server: { listen: 127.0.0.1:0, max_header_size: 8kb }
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes:
  - name: admin
    paths: [/admin, /admin/*]
    upstream: o
    plugins: [ { name: headers, config: { request: { set: { x-guard: passed } } } } ]
  - { name: public, paths: [/public/*, /*], upstream: o }
`)
})
after(async () => {
  await gw.close()
  await origin.close()
})

const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)

describe('request smuggling framings are refused and never reach the origin', () => {
  const cases: Array<[string, string]> = [
    ['CL + TE', 'POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['TE + CL (order swapped)', 'POST /public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n'],
    ['duplicate Content-Length, different values', 'POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'],
    ['duplicate Content-Length, same value', 'POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd'],
    ['obs-fold continuation line', 'GET /public/x HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n'],
    ['bare LF line endings', 'GET /public/x HTTP/1.1\nHost: a\nX-A: b\n\n'],
    ['TE with a non-chunked coding', 'POST /public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabcd'],
    ['space before the colon', 'GET /public/x HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\nabcd'],
    ['two Host headers', 'GET /public/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['no Host on HTTP/1.1', 'GET /public/x HTTP/1.1\r\nX-A: b\r\n\r\n'],
  ]
  for (const [name, raw] of cases) {
    test(name, async () => {
      const before = origin.seen.length
      const res = await rawRequest(gw.port, raw)
      assert.equal(status(res), 400, `${name}: got ${res.split('\r\n')[0]}`)
      assert.equal(origin.seen.length, before, `${name} reached the origin`)
    })
  }

  test('a smuggled second request in the body is not executed separately', async () => {
    const before = origin.seen.length
    const smuggled = 'GET /admin/secret HTTP/1.1\r\nHost: a\r\n\r\n'
    const body = `0\r\n\r\n${smuggled}`
    await rawRequest(gw.port, `POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`)
    const adminHits = origin.seen.slice(before).filter((s) => s.url.startsWith('/admin') && s.headers['x-guard'] !== 'passed')
    assert.deepEqual(adminHits, [])
  })

  test('oversized headers → 431 JSON', async () => {
    const res = await rawRequest(gw.port, `GET /public/x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`)
    assert.equal(status(res), 431)
    assert.match(res, /"error":"header_fields_too_large"/)
  })
})

describe('no encoding of a path reaches /admin without its plugin', () => {
  const tricks = [
    '/public/../admin/secret',
    '/public/%2e%2e/admin/secret',
    '/public/%2E%2e/admin/secret',
    '/public/.%2e/admin/secret',
    '/public/..%2fadmin/secret',
    '/public/%2e%2e%2fadmin/secret',
    '/public/..%5cadmin/secret',
    '/public/..\\admin/secret',
    '//admin/secret',
    '/./admin/secret',
    '/%61dmin/secret',
    '/admin%2fsecret',
    '/public/%252e%252e/admin/secret',
    '/admin%00/secret',
    '/public/%c0%ae%c0%ae/admin/secret',
  ]
  // Paths are case-sensitive, as in Envoy and Kong: /ADMIN is a different path from /admin and goes
  // to whatever route matches it (here the public catch-all). Origins that fold case must be
  // protected with routes written for that (a ~regex with character classes).
  for (const path of tricks) {
    test(path, async () => {
      const before = origin.seen.length
      const res = await rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
      const code = status(res)
      assert.ok(code === 200 || code === 400 || code === 404, `unexpected ${code}`)
      for (const s of origin.seen.slice(before)) {
        if (/^\/admin(\/|$)/.test(lenientDecode(s.url))) {
          assert.equal(s.headers['x-guard'], 'passed', `${path} reached ${s.url} without the admin plugin`)
        }
      }
    })
  }

  test('the plain admin path does get its plugin', async () => {
    const res = await rawRequest(gw.port, 'GET /admin/secret HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    assert.equal(status(res), 200)
    assert.equal(origin.seen.at(-1)!.headers['x-guard'], 'passed')
  })
})

/** What an origin that decodes paths would see; invalid UTF-8 escapes stay as they are. */
function lenientDecode(url: string): string {
  try {
    return decodeURIComponent(url)
  } catch {
    return url
  }
}
