// request-size-limit through a real gateway and origin: declared and streamed (chunked) bodies.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'

describe('request-size-limit plugin', () => {
  const gw = pluginGateway({
    extra: `
plugins:
  - { name: request-size-limit, config: { max_size: 2kb } }
`,
    routes: `
  - { name: small, paths: [/small/*], upstream: o, plugins: [ { name: request-size-limit, config: { max_size: 100 } } ] }
  - { name: global-only, paths: [/g/*], upstream: o }
  - { name: core-lower, paths: [/core/*], upstream: o, max_body_size: 50 }
`,
  })

  const post = (path: string, body: string | Readable) => request(`${gw.url}${path}`, { method: 'POST', body })

  test('declared length over the route use → 413 before the origin sees anything; at the limit → proxied', async () => {
    const n = gw.up.seen.length
    const r = await post('/small/x', 'a'.repeat(101))
    assert.equal(r.statusCode, 413)
    assert.equal(((await r.body.json()) as { error: string }).error, 'payload_too_large')
    assert.equal(gw.up.seen.length, n)
    const ok = await post('/small/x', 'a'.repeat(100))
    assert.equal(ok.statusCode, 200)
    assert.equal(((await ok.body.json()) as { body: string }).body.length, 100)
  })

  test('a chunked body is counted as it streams and cut at the plugin limit', async () => {
    async function* chunks() {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(30, 97)
    }
    const r = await post('/small/x', Readable.from(chunks()))
    assert.equal(r.statusCode, 413)
    assert.match(((await r.body.json()) as { message: string }).message, /100 bytes/)
  })

  test('the global use applies to routes without their own; the route max_body_size still wins when lower', async () => {
    assert.equal((await post('/g/x', 'a'.repeat(2049))).statusCode, 413)
    const ok = await post('/g/x', 'a'.repeat(2048))
    assert.equal(ok.statusCode, 200)
    await ok.body.dump()
    const r = await post('/core/x', 'a'.repeat(51))
    assert.equal(r.statusCode, 413)
    await r.body.dump()
  })
})
