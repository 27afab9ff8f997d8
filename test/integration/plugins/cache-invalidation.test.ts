// cache: invalidation by unsafe requests (RFC 9111 §4.4) is per target URI, plus the URIs in the
// response's Location and Content-Location (same host), never the whole route: a store in flight
// for another URI still lands. Real in-process gateway, real origin with a held-back response.
import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'
import { pollUntil } from '../../helpers/poll.js'

async function send(url: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE' = 'GET') {
  const r = await request(url, { method, body: method === 'GET' ? undefined : 'x' })
  return { status: r.statusCode, cache: r.headers['x-cache'] as string | undefined, body: await r.body.text() }
}

describe('cache invalidation per URI', () => {
  const held = new Map<string, () => void>()
  const heldOnce = new Set<string>()
  let n = 0
  // Registered before the gateway's own after hook, so it runs first: a held response is let go
  // before the gateway drains.
  after(() => {
    for (const f of held.values()) f()
  })
  const gw = pluginGateway({
    origin: (req, res) => {
      req.resume()
      const url = req.url!
      const answer = () => {
        const headers: Record<string, string> = { 'content-type': 'text/plain', 'cache-control': 'max-age=300' }
        if (req.method === 'POST' && url === '/make') {
          headers.location = '/made?id=1'
          headers['content-location'] = `http://${String(req.headers.host)}/made/view`
        }
        if (req.method === 'POST' && url === '/elsewhere') headers.location = 'http://other.example/made?id=1'
        res.writeHead(req.method === 'POST' ? 201 : 200, headers)
        res.end(`${url} #${++n}`)
      }
      // Only the first GET of a /slow path is held; later ones answer at once.
      if (url.startsWith('/slow') && req.method === 'GET' && !heldOnce.has(url)) {
        heldOnce.add(url)
        held.set(url, answer)
      }
      else answer()
    },
    routes: `
  - { name: c, paths: ["/*"], upstream: o, plugins: [ { name: cache } ] }
`,
  })

  const slowGetWith = async (path: string, during: () => Promise<unknown>) => {
    const pending = send(`${gw.url}${path}`)
    await pollUntil(() => held.has(path), { what: `origin holds ${path}` })
    await during()
    held.get(path)!()
    held.delete(path)
    assert.equal((await pending).cache, 'MISS')
    return send(`${gw.url}${path}`)
  }

  test('a PUT to another URI during a slow GET does not stop the GET from being stored', async () => {
    const second = await slowGetWith('/slow/a', () => send(`${gw.url}/other`, 'PUT'))
    assert.equal(second.cache, 'HIT')
  })

  test('a PUT to the same URI during a slow GET does', async () => {
    const second = await slowGetWith('/slow/b', () => send(`${gw.url}/slow/b`, 'PUT'))
    assert.equal(second.cache, 'MISS')
  })

  test('an unsafe request removes its target only', async () => {
    await send(`${gw.url}/t1`)
    await send(`${gw.url}/t2`)
    assert.equal((await send(`${gw.url}/t1`)).cache, 'HIT')
    await send(`${gw.url}/t1`, 'DELETE')
    assert.equal((await send(`${gw.url}/t1`)).cache, 'MISS')
    assert.equal((await send(`${gw.url}/t2`)).cache, 'HIT')
  })

  test('Location and Content-Location of the response are invalidated too (same host only)', async () => {
    await send(`${gw.url}/made?id=1`)
    await send(`${gw.url}/made/view`)
    assert.equal((await send(`${gw.url}/made?id=1`)).cache, 'HIT')
    assert.equal((await send(`${gw.url}/made/view`)).cache, 'HIT')
    await send(`${gw.url}/elsewhere`, 'POST') // Location on another host: nothing here changes
    assert.equal((await send(`${gw.url}/made?id=1`)).cache, 'HIT')
    assert.equal((await send(`${gw.url}/make`, 'POST')).status, 201)
    assert.equal((await send(`${gw.url}/made?id=1`)).cache, 'MISS')
    assert.equal((await send(`${gw.url}/made/view`)).cache, 'MISS')
  })
})
