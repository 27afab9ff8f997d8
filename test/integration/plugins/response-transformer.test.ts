// response-transformer through a real gateway and origin: headers, JSON body rewrite with the new
// Content-Length (fixed-length and chunked upstream bodies), what streams through unchanged, an
// upstream dying mid-body, and the cache storing the transformed body.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'

const DOC = JSON.stringify({ id: 1, secret: 's', user: { name: 'ann', token: 't' } })

describe('response-transformer plugin', () => {
  let hits = 0
  const gw = pluginGateway({
    origin: (req, res) => {
      const url = req.url ?? ''
      if (url.startsWith('/cached')) hits++
      if (url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.write(DOC.slice(0, 10))
        setImmediate(() => res.end(DOC.slice(10)))
      } else if (url === '/big') {
        const body = JSON.stringify({ secret: 's', pad: 'x'.repeat(5000) })
        res.writeHead(200, { 'content-type': 'application/json' })
        res.write(body.slice(0, 2000))
        setImmediate(() => res.end(body.slice(2000)))
      } else if (url === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': DOC.length })
        res.end(DOC)
      } else if (url === '/gzip') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': 3 })
        res.end('abc')
      } else if (url === '/dies') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 100 })
        res.write('{"secret":')
        setImmediate(() => res.destroy())
      } else if (url === '/cached') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': DOC.length, 'cache-control': 'max-age=60' })
        res.end(DOC)
      } else if (url === '/notfound') {
        const b = JSON.stringify({ error: 'nope', secret: 's' })
        res.writeHead(404, { 'content-type': 'application/problem+json', 'content-length': b.length })
        res.end(b)
      } else {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': DOC.length, 'x-powered-by': 'php', etag: '"e1"' })
        res.end(req.method === 'HEAD' ? undefined : DOC)
      }
    },
    routes: `
  - name: t
    paths: [/*]
    upstream: o
    plugins:
      - name: response-transformer
        config:
          headers: { remove: [x-powered-by], set: { x-shaped: "yes" }, rename: { etag: x-etag } }
          body: { remove: [secret, user.token], set: { v: 2 }, add: { user.role: guest }, rename: { id: key } }
          max_body_bytes: 1kb
  - name: cached
    paths: [/cached]
    upstream: o
    plugins:
      - { name: response-transformer, config: { body: { remove: [secret] } } }
      - { name: cache, config: { heuristic_fraction: 0 } }
`,
  })

  test('headers and JSON body are rewritten; Content-Length is the new length', async () => {
    const r = await request(`${gw.url}/doc`)
    const text = await r.body.text()
    assert.equal(r.statusCode, 200)
    assert.deepEqual(JSON.parse(text), { key: 1, user: { name: 'ann', role: 'guest' }, v: 2 })
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(text))
    assert.equal(r.headers['x-powered-by'], undefined)
    assert.equal(r.headers['x-shaped'], 'yes')
    assert.equal(r.headers['x-etag'], '"e1"')
  })

  test('a chunked upstream body is collected and sent with a Content-Length; error statuses too', async () => {
    const r = await request(`${gw.url}/chunked`)
    const text = await r.body.text()
    assert.deepEqual(JSON.parse(text), { key: 1, user: { name: 'ann', role: 'guest' }, v: 2 })
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(text))
    const nf = await request(`${gw.url}/notfound`)
    assert.equal(nf.statusCode, 404)
    assert.deepEqual(await nf.body.json(), { error: 'nope', v: 2, user: { role: 'guest' } })
  })

  test('unchanged: over max_body_bytes (streamed), non-JSON, compressed, HEAD', async () => {
    const big = await request(`${gw.url}/big`)
    const b = (await big.body.json()) as { secret?: string; pad: string }
    assert.equal(b.secret, 's')
    assert.equal(b.pad.length, 5000)
    assert.equal(big.headers['x-shaped'], 'yes')
    const t = await request(`${gw.url}/text`)
    assert.equal(await t.body.text(), DOC)
    const g = await request(`${gw.url}/gzip`)
    assert.equal(g.headers['content-encoding'], 'gzip')
    assert.equal(Buffer.from(await g.body.arrayBuffer()).toString(), 'abc')
    const h = await request(`${gw.url}/doc`, { method: 'HEAD' })
    assert.equal(h.statusCode, 200)
    assert.equal(h.headers['content-length'], String(DOC.length))
    await h.body.dump()
  })

  test('an upstream that dies mid-body gets a 502, not a half-rewritten body', async () => {
    const r = await request(`${gw.url}/dies`)
    assert.equal(r.statusCode, 502)
    const e = (await r.body.json()) as { error: string; message: string }
    assert.equal(e.error, 'upstream_unreachable')
    assert.match(e.message, /closed the connection/)
  })

  test('the cache stores the transformed body: a HIT serves it too', async () => {
    const url = `${gw.url}/cached`
    const a = await request(url)
    const ab = await a.body.text()
    const b = await request(url)
    const bb = await b.body.text()
    assert.equal(a.headers['x-cache'], 'MISS')
    assert.equal(b.headers['x-cache'], 'HIT')
    assert.deepEqual(JSON.parse(ab), { id: 1, user: { name: 'ann', token: 't' } })
    assert.equal(bb, ab)
    assert.equal(Number(b.headers['content-length']), Buffer.byteLength(bb))
    assert.equal(hits, 1)
  })
})
