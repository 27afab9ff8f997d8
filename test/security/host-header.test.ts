// Host header abuse: a Host that is not a host (userinfo, path, query, non-numeric port) is refused
// before routing, so the router, cache keys and X-Forwarded-Host can never disagree on what it
// names (issue 11 items 3 and 4). Real gateway, real origin, raw sockets for what clients refuse to send.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { echo } from '../helpers/origin.js'
import { pluginGateway } from '../helpers/scaffold.js'
import { rawRequest } from '../helpers/raw.js'

const gw = pluginGateway({
  origin: echo,
  extra: `
server: { listen: 127.0.0.1:0 }
`,
  routes: `
  - { name: victim, hosts: [victim], paths: [/*], upstream: o, preserve_host: true }
  - { name: any, paths: [/*], upstream: o }
`,
})

const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
const body = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>

describe('a Host that is not a host → 400 invalid_host, never reaches the origin', () => {
  for (const host of ['victim:@evil.example', 'victim/x', 'a?b', 'victim:80x', 'victim:123456', 'a#b', 'a b', 'a@b', '[::1', '[::1]x', '[]', 'a%zz', 'ä']) {
    test(JSON.stringify(host), async () => {
      const before = gw.up.seen.length
      const res = await rawRequest(gw.port, `GET /cache/poison HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
      assert.equal(status(res), 400, res.split('\r\n')[0])
      const b = body(res)
      assert.equal(b.error, 'invalid_host')
      assert.equal(b.status, 400)
      assert.equal(typeof b.request_id, 'string')
      assert.equal(gw.up.seen.length, before)
    })
  }
})

describe('valid hosts still route', () => {
  for (const host of ['victim', 'victim:8080', 'VICTIM:', '127.0.0.1:1', '[::1]:80', '[v1.fe]', 'xn--bcher-kva.example', 'a%41b']) {
    test(JSON.stringify(host), async () => {
      const res = await rawRequest(gw.port, `GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      assert.equal(status(res), 200, res.split('\r\n')[0])
    })
  }

  test('preserve_host forwards exactly the validated Host', async () => {
    const before = gw.up.seen.length
    const res = await rawRequest(gw.port, `GET /x HTTP/1.1\r\nHost: victim:8080\r\nConnection: close\r\n\r\n`)
    assert.equal(status(res), 200)
    assert.equal(gw.up.seen[before]?.headers.host, 'victim:8080')
  })
})

describe('requests the gateway cannot serve get the JSON error shape (issue 11 item 22)', () => {
  test('HTTP/1.1 without Host → 400 bad_request JSON, not an empty reply', async () => {
    const before = gw.up.seen.length
    const res = await rawRequest(gw.port, 'GET /x HTTP/1.1\r\nX-A: b\r\n\r\n')
    assert.equal(status(res), 400, res.split('\r\n')[0])
    const b = body(res)
    assert.equal(b.error, 'bad_request')
    assert.equal(typeof b.request_id, 'string')
    assert.equal(gw.up.seen.length, before)
  })

  test('HTTP/1.0 without Host is still served', async () => {
    const res = await rawRequest(gw.port, 'GET /x HTTP/1.0\r\n\r\n')
    assert.equal(status(res), 200, res.split('\r\n')[0])
  })

  test('a WebSocket upgrade → 501 not_implemented, never proxied as a plain GET', async () => {
    const before = gw.up.seen.length
    const res = await rawRequest(
      gw.port,
      'GET /ws HTTP/1.1\r\nHost: victim\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    assert.equal(status(res), 501, res.split('\r\n')[0])
    assert.equal(body(res).error, 'not_implemented')
    assert.equal(gw.up.seen.length, before)
  })
})
