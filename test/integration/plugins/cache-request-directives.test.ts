// cache: the request directives only-if-cached, min-fresh and max-stale (RFC 9111 §5.2.1), and
// which statuses are stored by default (RFC 9111 §3 with RFC 9110 §15.1 for heuristics). Real
// in-process gateway and origin; the origin counts what reaches it.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'
import { pollUntil } from '../../helpers/poll.js'

async function get(url: string, headers: Record<string, string> = {}) {
  const r = await request(url, { headers })
  return { status: r.statusCode, headers: r.headers as Record<string, string | undefined>, body: await r.body.text() }
}

describe('cache request directives and default statuses', () => {
  const hits = new Map<string, number>()
  const hitsOf = (p: string) => hits.get(p) ?? 0
  const gw = pluginGateway({
    origin: (req, res) => {
      req.resume()
      const path = req.url!.split('?')[0]!
      hits.set(path, hitsOf(path) + 1)
      const m = /\/s(\d{3})$/.exec(path)
      const status = m === null ? 200 : Number(m[1])
      const cc = path.startsWith('/short') ? 'max-age=1' : path.startsWith('/mr') ? 'max-age=1, must-revalidate' : path.startsWith('/heur') ? undefined : 'max-age=60'
      const h: Record<string, string> = { 'content-type': 'text/plain', date: new Date().toUTCString() }
      if (cc !== undefined) h['cache-control'] = cc
      if (path.startsWith('/heur')) h['last-modified'] = new Date(Date.now() - 3_600_000).toUTCString()
      res.writeHead(status, h)
      res.end(`#${hitsOf(path)}`)
    },
    routes: `
  - { name: c, paths: ["/*"], upstream: o, plugins: [ { name: cache } ] }
`,
  })

  test('only-if-cached without a stored response → 504 not_cached, origin not asked', async () => {
    const r = await get(`${gw.url}/oic`, { 'cache-control': 'only-if-cached' })
    assert.equal(r.status, 504)
    assert.equal((JSON.parse(r.body) as { error: string }).error, 'not_cached')
    assert.equal(hitsOf('/oic'), 0)
    await get(`${gw.url}/oic`)
    const h = await get(`${gw.url}/oic`, { 'cache-control': 'only-if-cached' })
    assert.equal(h.status, 200)
    assert.equal(h.headers['x-cache'], 'HIT')
    assert.equal(hitsOf('/oic'), 1)
  })

  test('min-fresh: an entry that will not stay fresh long enough is not used', async () => {
    await get(`${gw.url}/mf`)
    assert.equal((await get(`${gw.url}/mf`, { 'cache-control': 'min-fresh=10' })).headers['x-cache'], 'HIT')
    const r = await get(`${gw.url}/mf`, { 'cache-control': 'min-fresh=120' })
    assert.notEqual(r.headers['x-cache'], 'HIT')
    assert.equal(hitsOf('/mf'), 2)
  })

  test('max-stale: a stale entry is served to a client that accepts it, not past the bound', async () => {
    await get(`${gw.url}/short`)
    // wait until the 1 s lifetime is over (Age counts whole seconds)
    await pollUntil(async () => (await get(`${gw.url}/short`, { 'cache-control': 'only-if-cached' })).status === 504, { what: 'entry stale', timeoutMs: 10_000 })
    const before = hitsOf('/short')
    const r = await get(`${gw.url}/short`, { 'cache-control': 'max-stale=600' })
    assert.equal(r.headers['x-cache'], 'STALE')
    assert.equal(r.body, '#1')
    assert.equal(hitsOf('/short'), before)
    const unbounded = await get(`${gw.url}/short`, { 'cache-control': 'max-stale' })
    assert.equal(unbounded.headers['x-cache'], 'STALE')
  })

  test('max-stale does not override must-revalidate', async () => {
    await get(`${gw.url}/mr`)
    await pollUntil(async () => (await get(`${gw.url}/mr`, { 'cache-control': 'only-if-cached' })).status === 504, { what: 'entry stale', timeoutMs: 10_000 })
    const before = hitsOf('/mr')
    const r = await get(`${gw.url}/mr`, { 'cache-control': 'max-stale=600' })
    assert.notEqual(r.headers['x-cache'], 'STALE')
    assert.equal(hitsOf('/mr'), before + 1)
  })

  test('by default any final status with explicit freshness is stored; heuristics only for RFC 9110 §15.1 statuses', async () => {
    for (const s of [299, 302, 400, 500]) {
      await get(`${gw.url}/s${s}`)
      const r = await get(`${gw.url}/s${s}`)
      assert.equal(r.status, s)
      assert.equal(r.headers['x-cache'], 'HIT', `status ${s} with max-age`)
    }
    // /heur…: Last-Modified only; 302 is not heuristically cacheable, 404 is.
    await get(`${gw.url}/heur/s302`)
    assert.notEqual((await get(`${gw.url}/heur/s302`)).headers['x-cache'], 'HIT')
  })
})
