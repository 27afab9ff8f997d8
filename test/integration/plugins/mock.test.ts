// mock through a real gateway: fixed responses, no upstream call, other plugins still apply.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'

describe('mock plugin', () => {
  const gw = pluginGateway({
    routes: `
  - name: json
    paths: [/json]
    upstream: o
    plugins:
      - { name: mock, config: { status: 201, body: { id: 7, tags: [a] }, headers: { X-Mock: "yes" } } }
      - { name: rate-limit, config: { limits: [ { limit: 2, window: 1m } ] } }
  - name: text
    paths: [/text]
    upstream: o
    plugins: [ { name: mock, config: { status: 503, body: "down for maintenance" } } ]
`,
  })

  test('JSON mock: status, headers and body; the origin is never called; rate-limit still applies first', async () => {
    const r = await request(`${gw.url}/json`, { method: 'POST', body: 'ignored' })
    assert.equal(r.statusCode, 201)
    assert.equal(r.headers['content-type'], 'application/json')
    assert.equal(r.headers['x-mock'], 'yes')
    assert.ok(r.headers['ratelimit'] !== undefined)
    assert.deepEqual(await r.body.json(), { id: 7, tags: ['a'] })
    await (await request(`${gw.url}/json`)).body.dump()
    const limited = await request(`${gw.url}/json`)
    assert.equal(limited.statusCode, 429)
    await limited.body.dump()
    assert.equal(gw.up.seen.length, 0)
  })

  test('text mock and HEAD', async () => {
    const r = await request(`${gw.url}/text`)
    assert.equal(r.statusCode, 503)
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8')
    assert.equal(await r.body.text(), 'down for maintenance')
    const h = await request(`${gw.url}/text`, { method: 'HEAD' })
    assert.equal(h.statusCode, 503)
    assert.equal(await h.body.text(), '')
    assert.equal(gw.up.seen.length, 0)
  })
})
