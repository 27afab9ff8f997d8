// Purging the cache through the admin API of the real CLI in cluster mode: the purge must reach
// the memory tier of every worker, and the endpoint refuses what it should.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'

const TOKEN = 'cache-admin-test-token-0123456789'

/** Each request on its own connection, so the primary spreads them over both workers. */
async function getFresh(url: string): Promise<string | undefined> {
  const agent = new Agent({ pipelining: 0 })
  try {
    const res = await request(url, { dispatcher: agent })
    await res.body.dump()
    return res.headers['x-cache'] as string | undefined
  } finally {
    await agent.close()
  }
}

async function admin(gw: Gateway, method: 'GET' | 'DELETE', path: string, token: string | null = TOKEN) {
  const res = await request(`${gw.adminUrl}${path}`, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } })
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> }
}

describe('cache purge through the admin API (cluster, 2 workers)', () => {
  let origin: Origin
  let gw: Gateway
  let hits = 0

  before(async () => {
    origin = await startOrigin((req, res) => {
      req.resume()
      hits++
      res.writeHead(200, { 'cache-control': 'max-age=300', 'content-type': 'text/plain', 'content-length': '2' })
      res.end('ok')
    })
    gw = await startGateway({
      config: {
        admin: { token: TOKEN },
        upstreams: { o: { targets: [{ url: origin.url }] } },
        routes: [{ name: 'c', paths: ['/c/*'], upstream: 'o', plugins: [{ name: 'cache' }] }],
      },
      args: ['--workers', '2'],
    })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('DELETE /admin/cache?key= clears the entry in every worker; ?prefix= clears a subtree', async () => {
    const url = `${gw.url}/c/item`
    // Until both workers stored it: each worker misses once.
    await pollUntil(async () => {
      await getFresh(url)
      return hits === 2
    }, { what: 'both workers to cache /c/item', timeoutMs: 10_000 })
    const r = await admin(gw, 'DELETE', `/admin/cache?key=${encodeURIComponent('127.0.0.1/c/item')}`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body.purged, { memory: 2, tier2: 0, workers: 2 })
    // Both workers miss again.
    await pollUntil(async () => {
      await getFresh(url)
      return hits === 4
    }, { what: 'both workers to miss after the purge', timeoutMs: 10_000 })

    await getFresh(`${gw.url}/c/other`)
    const p = await admin(gw, 'DELETE', `/admin/cache?prefix=${encodeURIComponent('127.0.0.1/c/')}`)
    assert.equal(p.status, 200)
    assert.equal((p.body.purged as { memory: number }).memory, 3)
  })

  test('the endpoint needs the token, DELETE, and exactly one of key / prefix', async () => {
    assert.equal((await admin(gw, 'DELETE', '/admin/cache?prefix=', null)).status, 401)
    assert.equal((await admin(gw, 'DELETE', '/admin/cache?prefix=', 'wrong-token-wrong-token-wrong')).status, 401)
    const get = await admin(gw, 'GET', '/admin/cache?key=x')
    assert.equal(get.status, 405)
    for (const q of ['', '?key=a&prefix=b', '?key=']) {
      const bad = await admin(gw, 'DELETE', `/admin/cache${q}`)
      assert.equal(bad.status, 400, q)
      assert.equal(bad.body.error, 'bad_request')
    }
  })
})
