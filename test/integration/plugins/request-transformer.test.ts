// request-transformer through a real gateway and a real echo origin: headers, query, path, JSON
// body (Content-Length fixed), and what passes unchanged (big, chunked, non-JSON bodies).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'
import { pollUntil } from '../../helpers/poll.js'

interface Echo {
  method: string
  url: string
  headers: Record<string, string>
  body: string
}

describe('request-transformer plugin', () => {
  const gw = pluginGateway({
    routes: `
  - name: t
    paths: [/api/*]
    upstream: o
    plugins:
      - name: request-transformer
        config:
          headers: { set: { x-gw: "$route" }, remove: [x-secret], rename: { x-old: x-new } }
          query: { rename: { q: search }, remove: [debug], set: { v: "2" }, add: { tag: [a, "b c"] } }
          path: { pattern: "^/api/(\\\\w+)", replacement: "/v2/$1" }
          body:
            remove: [password, user.ssn]
            set: { source: gateway, "meta.version": 2 }
            add: { user.role: guest }
            rename: { name: user.name }
          max_body_bytes: 200
  - name: stalled
    paths: [/stalled]
    upstream: o
    plugins:
      - { name: request-transformer, config: { body: { set: { a: 1 } }, body_timeout: 150ms } }
  - name: sized
    paths: [/limited]
    upstream: o
    max_body_size: 50
    plugins:
      - { name: request-transformer, config: { body: { set: { a: 1 } } } }
`,
  })

  const post = async (path: string, body: string | Readable, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
    const r = await request(`${gw.url}${path}`, { method: 'POST', body, headers })
    assert.equal(r.statusCode, 200)
    return (await r.body.json()) as Echo
  }

  test('headers, query and path are rewritten', async () => {
    const r = await request(`${gw.url}/api/users?q=x&debug=1&v=1&keep=%2F&v=3`, { headers: { 'x-secret': 's', 'x-old': 'o' } })
    const e = (await r.body.json()) as Echo
    assert.equal(e.url, '/v2/users?search=x&keep=%2F&v=2&tag=a&tag=b%20c')
    assert.equal(e.headers['x-gw'], 't')
    assert.equal(e.headers['x-secret'], undefined)
    assert.equal(e.headers['x-old'], undefined)
    assert.equal(e.headers['x-new'], 'o')
  })

  test('JSON body: fields removed, set, added, renamed; Content-Length matches the new body', async () => {
    const e = await post('/api/x', JSON.stringify({ name: 'ann', password: 'p', user: { ssn: '1', role: 'admin' } }))
    assert.deepEqual(JSON.parse(e.body), { source: 'gateway', meta: { version: 2 }, user: { role: 'admin', name: 'ann' } })
    assert.equal(Number(e.headers['content-length']), Buffer.byteLength(e.body))
    assert.equal(e.headers['transfer-encoding'], undefined)
  })

  test('+json types are transformed; a JSON array top is left alone where paths do not apply', async () => {
    const e = await post('/api/x', '{"password":1}', { 'content-type': 'application/merge-patch+json; charset=utf-8' })
    assert.deepEqual(JSON.parse(e.body), { source: 'gateway', meta: { version: 2 }, user: { role: 'guest' } })
  })

  test('passes unchanged: non-JSON type, invalid JSON, scalar JSON, body over max_body_bytes, chunked body', async () => {
    assert.equal((await post('/api/x', '{"password":1}', { 'content-type': 'text/plain' })).body, '{"password":1}')
    assert.equal((await post('/api/x', '{"password":', { 'content-type': 'application/json' })).body, '{"password":')
    assert.equal((await post('/api/x', '42')).body, '42')
    const big = JSON.stringify({ password: 'x'.repeat(300) })
    const b = await post('/api/x', big)
    assert.equal(b.body, big)
    assert.equal(Number(b.headers['content-length']), big.length)
    const chunked = await post('/api/x', Readable.from([Buffer.from('{"password"'), Buffer.from(':1}')]))
    assert.equal(chunked.body, '{"password":1}')
  })

  test('attack: prototype keys in the body stay data; the route body limit still holds', async () => {
    const e = await post('/api/x', '{"__proto__":{"polluted":true},"password":1}')
    assert.deepEqual(JSON.parse(e.body).__proto__, { polluted: true })
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    const r = await request(`${gw.url}/limited`, { method: 'POST', body: JSON.stringify({ x: 'y'.repeat(100) }), headers: { 'content-type': 'application/json' } })
    assert.equal(r.statusCode, 413)
    await r.body.dump()
  })

  test('a client that sends half its declared body and stops gets no upstream request', async () => {
    const before = gw.up.seen.length
    const net = await import('node:net')
    const sock = net.connect(gw.port, '127.0.0.1')
    await new Promise<void>((r) => sock.once('connect', () => r()))
    sock.write('POST /api/x HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{"pass')
    // The gateway has the request (the plugin is waiting for the rest of its body) before the client goes.
    await pollUntil(() => gw.gw.dp.status().inFlight === 1, { what: 'the half-sent request in flight' })
    sock.destroy()
    const r = await request(`${gw.url}/api/ok`)
    await r.body.dump()
    assert.equal(gw.up.seen.length, before + 1) // only the follow-up request
  })

  test('a body that stops arriving mid-way gets 408 after body_timeout, and the connection is closed', async () => {
    const before = gw.up.seen.length
    const net = await import('node:net')
    const sock = net.connect(gw.port, '127.0.0.1')
    const data: Buffer[] = []
    sock.on('data', (c: Buffer) => data.push(c))
    const closed = new Promise<void>((r) => sock.once('close', () => r()))
    sock.write('POST /stalled HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{"a"')
    await closed
    const text = Buffer.concat(data).toString()
    assert.match(text, /^HTTP\/1\.1 408/)
    assert.match(text, /request_timeout/)
    assert.equal(gw.up.seen.length, before)
  })
})
