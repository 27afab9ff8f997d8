// Hostile JSON bodies into the JSON body rules of request-transformer: nesting deep enough to
// overflow a recursive serializer (depth 10 000) is a 400 invalid_body before any parse, never a
// 500 with a stack per request; the depth limit is configurable. A deep body from the upstream
// through response-transformer is passed on unchanged. Real gateway and origin.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { pluginGateway } from '../helpers/scaffold.js'

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)

describe('deeply nested JSON', () => {
  const gw = pluginGateway({
    origin: (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = req.url === '/out/deep' ? `{"a":${nested(10_000)}}` : Buffer.concat(chunks).toString()
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(body)
      })
    },
    routes: `
  - name: in
    paths: [/in/*]
    upstream: o
    plugins: [ { name: request-transformer, config: { body: { set: { tagged: true } } } } ]
  - name: shallow
    paths: [/shallow/*]
    upstream: o
    plugins: [ { name: request-transformer, config: { body: { set: { tagged: true } }, max_depth: 3 } } ]
  - name: out
    paths: [/out/*]
    upstream: o
    plugins: [ { name: response-transformer, config: { body: { set: { tagged: true } } } } ]
`,
  })

  const post = (path: string, body: string) => request(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })

  test('depth 10 000 → 400 invalid_body, the origin never sees it', async () => {
    const before = gw.up.seen.length
    const r = await post('/in/x', `{"a":${nested(10_000)}}`)
    const body = (await r.body.json()) as { status: number; error: string; request_id: string }
    assert.equal(r.statusCode, 400)
    assert.equal(body.error, 'invalid_body')
    assert.ok(body.request_id)
    assert.equal(gw.up.seen.length, before)
  })

  test('brackets inside strings do not count', async () => {
    const r = await post('/shallow/x', JSON.stringify({ s: '[[[[[[[[[[{{{{{{' }))
    const seen = JSON.parse(((await r.body.json()) as { body: string }).body ?? '{}') as unknown
    assert.equal(r.statusCode, 200, JSON.stringify(seen))
  })

  test('max_depth is configurable: 3 levels pass, 4 do not', async () => {
    const ok = await post('/shallow/x', '{"a":{"b":[1]}}')
    await ok.body.dump()
    assert.equal(ok.statusCode, 200)
    const no = await post('/shallow/x', '{"a":{"b":[[1]]}}')
    await no.body.dump()
    assert.equal(no.statusCode, 400)
  })

  test('a deep body from the upstream passes response-transformer unchanged', async () => {
    const r = await request(`${gw.url}/out/deep`)
    const text = await r.body.text()
    assert.equal(r.statusCode, 200)
    assert.equal(text.length, `{"a":${nested(10_000)}}`.length)
  })
})
