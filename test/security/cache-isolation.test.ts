// Attacks on the shared cache: one consumer's stored response served to another (RFC 9111 §3.5,
// for every auth plugin, not only Authorization), and cache-key collisions between parts of the
// key (host, path, query, extra headers, consumer). Real in-process gateway, real origin.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { pluginGateway } from '../helpers/scaffold.js'
import { compileKey } from '../../src/plugins/cache/key.js'
import type { RequestContext } from '../../src/core/context.js'

const ALICE = 'alice-key-0123456789'
const BOB = 'bob-key-0123456789'

async function get(url: string, headers: Record<string, string> = {}) {
  const r = await request(url, { headers })
  return { status: r.statusCode, headers: r.headers as Record<string, string | undefined>, body: await r.body.text() }
}

describe('a response stored for one consumer is never served to another', () => {
  let n = 0
  // The origin answers with the caller's identity and only Last-Modified (heuristically
  // cacheable, no Cache-Control): the case that leaked.
  const gw = pluginGateway({
    origin: (req, res) => {
      req.resume()
      const body = `for ${String(req.headers['x-consumer-name'])} #${++n}`
      const lm = new Date(Date.now() - 3_600_000).toUTCString()
      const extra: Record<string, string> = req.url?.startsWith('/public') ? { 'cache-control': 'public, max-age=60' } : {}
      res.writeHead(200, { 'content-type': 'text/plain', 'last-modified': lm, ...extra })
      res.end(body)
    },
    extra: `
consumers:
  - { name: alice, credentials: { key_auth: ["${ALICE}"] } }
  - { name: bob, credentials: { key_auth: ["${BOB}"] } }
`,
    routes: `
  - name: header-key
    paths: [/account, /public]
    upstream: o
    plugins: [ { name: key-auth }, { name: cache } ]
  - name: query-key
    paths: [/q/*]
    upstream: o
    plugins: [ { name: key-auth, config: { header_names: [], query_names: [apikey] } }, { name: cache } ]
  - name: per-consumer
    paths: [/mine/*]
    upstream: o
    plugins: [ { name: key-auth }, { name: cache, config: { key: { consumer: true } } } ]
`,
  })

  test('key in a header: bob does not get alice\'s stored body', async () => {
    const a = await get(`${gw.url}/account`, { apikey: ALICE })
    assert.equal(a.status, 200)
    assert.match(a.body, /^for alice/)
    const b = await get(`${gw.url}/account`, { apikey: BOB })
    assert.equal(b.status, 200)
    assert.notEqual(b.headers['x-cache'], 'HIT')
    assert.match(b.body, /^for bob/)
  })

  test('key in the query: the same', async () => {
    const a = await get(`${gw.url}/q/x?apikey=${ALICE}`)
    assert.match(a.body, /^for alice/)
    // Without the key in the cache key (query: none would drop it), the path alone collides.
    const b = await get(`${gw.url}/q/x?apikey=${BOB}`)
    assert.match(b.body, /^for bob/)
  })

  test('a response that says public is shared (RFC 9111 §3.5)', async () => {
    const a = await get(`${gw.url}/public`, { apikey: ALICE })
    assert.match(a.body, /^for alice/)
    const b = await get(`${gw.url}/public`, { apikey: BOB })
    assert.equal(b.headers['x-cache'], 'HIT')
  })

  test('key: { consumer: true } caches per consumer on purpose', async () => {
    const a1 = await get(`${gw.url}/mine/x`, { apikey: ALICE })
    const a2 = await get(`${gw.url}/mine/x`, { apikey: ALICE })
    assert.equal(a2.headers['x-cache'], 'HIT')
    assert.equal(a2.body, a1.body)
    const b = await get(`${gw.url}/mine/x`, { apikey: BOB })
    assert.notEqual(b.headers['x-cache'], 'HIT')
    assert.match(b.body, /^for bob/)
  })
})

describe('cache keys are built from separator-safe parts', () => {
  const ctx = (host: string, path: string, query = '', headers: Record<string, string> = {}, consumer?: string) =>
    ({ host, path, query, req: { headers }, consumer }) as unknown as RequestContext

  test('a host carrying a path or a query does not collide with another host\'s path', () => {
    const k = compileKey({})
    assert.notEqual(k(ctx('victim/cache/account', '/cache/poison')), k(ctx('victim', '/cache/account/cache/poison')))
    assert.notEqual(k(ctx('victim?x=', '/a')), k(ctx('victim', '?x=/a')))
    // an ordinary host keeps the documented, purgeable shape host + path + ?query
    assert.equal(k(ctx('api.example', '/a', 'b=1')), 'api.example/a?b=1')
  })

  test('extra header values cannot shift into each other', () => {
    const k = compileKey({ headers: ['x-a', 'x-b'] })
    assert.notEqual(k(ctx('h', '/', '', { 'x-a': 'v;x-b=w' })), k(ctx('h', '/', '', { 'x-a': 'v', 'x-b': 'w;' })))
    assert.notEqual(k(ctx('h', '/', '', { 'x-a': 'v;x-b=' })), k(ctx('h', '/', '', { 'x-a': 'v' })))
  })

  test('the consumer part is separate from the header parts', () => {
    const k = compileKey({ headers: ['x-a'], consumer: true })
    assert.notEqual(k(ctx('h', '/', '', { 'x-a': 'v' }, 'bob')), k(ctx('h', '/', '', { 'x-a': 'v;bob' })))
    assert.notEqual(k(ctx('h', '/', '', {}, 'alice')), k(ctx('h', '/', '', {}, 'bob')))
  })
})
