// key-auth and consumers through a real gateway and a real origin: identity upstream and in the
// access log path, hidden credentials, per-consumer plugins merged after the route's, and attacks
// (wrong key, key in two places, spoofed x-consumer-name).
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'

const ALICE = 'alice-key-0123456789abcdef'
const BOB = 'bob-key-0123456789abcdef0'
const BOB_HASH = createHash('sha256').update(BOB).digest('hex')

type Seen = { url: string; headers: Record<string, string> }

describe('key-auth plugin with consumers', () => {
  before(() => {
    process.env.PORTICO_TEST_ALICE_KEY = ALICE
  })
  const gw = pluginGateway({
    extra: `
consumers:
  - name: alice
    roles: [admin]
    credentials: { key_auth: ["\${PORTICO_TEST_ALICE_KEY}"] }
    plugins:
      - name: headers
        config: { request: { set: { x-tier: gold } } }
  - name: bob
    credentials: { key_auth: ["sha256:${BOB_HASH}"] }
`,
    routes: `
  - name: protected
    paths: [/p/*]
    upstream: o
    plugins:
      - name: key-auth
      - name: headers
        config: { request: { set: { x-route-plugin: yes } } }
  - name: shown
    paths: [/shown/*]
    upstream: o
    plugins:
      - name: key-auth
        config: { hide_credentials: false, query_names: [] }
  - name: open
    paths: [/open/*]
    upstream: o
`,
  })
  after(() => {
    delete process.env.PORTICO_TEST_ALICE_KEY
  })

  async function get(path: string, headers: Record<string, string> = {}) {
    const r = await request(`${gw.url}${path}`, { headers })
    const text = await r.body.text()
    return { status: r.statusCode, headers: r.headers, json: JSON.parse(text) as Seen & { error?: string; message?: string } }
  }

  test('a key from ${ENV} identifies the consumer; the upstream sees its name, not the key', async () => {
    const r = await get('/p/x', { apikey: ALICE, 'x-consumer-name': 'spoofed' })
    assert.equal(r.status, 200)
    assert.equal(r.json.headers['x-consumer-name'], 'alice')
    assert.equal(r.json.headers.apikey, undefined)
    // The consumer's own `headers` use ran, and replaced the route's use of the same plugin (merge by name).
    assert.equal(r.json.headers['x-tier'], 'gold')
    assert.equal(r.json.headers['x-route-plugin'], undefined)
  })

  test('a key configured as sha256: works; a consumer without plugins keeps the route pipeline', async () => {
    const r = await get('/p/x', { 'x-api-key': BOB })
    assert.equal(r.status, 200)
    assert.equal(r.json.headers['x-consumer-name'], 'bob')
    assert.equal(r.json.headers['x-tier'], undefined)
    assert.equal(r.json.headers['x-route-plugin'], 'yes')
  })

  test('a key in the query is accepted and removed before the upstream (other parameters kept)', async () => {
    const r = await get(`/p/q?a=1&apikey=${encodeURIComponent(BOB)}&b=2`)
    assert.equal(r.status, 200)
    assert.equal(r.json.url, '/p/q?a=1&b=2')
    assert.equal(r.json.headers['x-consumer-name'], 'bob')
  })

  test('hide_credentials: false forwards the key; query_names: [] ignores query keys', async () => {
    const r = await get('/shown/x', { apikey: BOB })
    assert.equal(r.status, 200)
    assert.equal(r.json.headers.apikey, BOB)
    assert.equal((await get(`/shown/x?apikey=${BOB}`)).status, 401)
  })

  test('missing, wrong, near-miss and empty keys all get the same 401', async () => {
    const bodies = new Set<string>()
    for (const headers of [{} as Record<string, string>, { apikey: 'nope' }, { apikey: ALICE.slice(0, -1) + 'x' }, { apikey: ' ' + ALICE.slice(1) }, { apikey: '' }, { 'x-api-key': ALICE.toUpperCase() }]) {
      const r = await get('/p/x', headers)
      assert.equal(r.status, 401, JSON.stringify(headers))
      assert.equal(r.json.error, 'unauthorized')
      assert.equal(r.headers['www-authenticate'], 'ApiKey realm="portico"')
      assert.ok(!JSON.stringify(r.json).includes(ALICE.slice(0, 8)))
      bodies.add(r.json.message!)
    }
    assert.equal(bodies.size, 1, 'the reply does not say which part failed')
    assert.equal(gw.up.seen.filter((s) => s.url === '/p/x' && s.headers.apikey === 'nope').length, 0)
  })

  test('a key in both header and query (even the same valid key) is refused', async () => {
    assert.equal((await get(`/p/x?apikey=${BOB}`, { apikey: BOB })).status, 401)
    assert.equal((await get(`/p/x?apikey=${BOB}`, { apikey: ALICE })).status, 401)
    assert.equal((await get(`/p/x`, { apikey: BOB, 'x-api-key': ALICE })).status, 401)
    assert.equal((await get(`/p/x?apikey=${BOB}&apikey=${ALICE}`)).status, 401)
  })

  test('a route without key-auth is untouched', async () => {
    const r = await get('/open/x')
    assert.equal(r.status, 200)
    assert.equal(r.json.headers['x-consumer-name'], undefined)
  })
})
