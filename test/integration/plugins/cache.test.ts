// cache plugin through a real in-process gateway and real origins: what is stored, what is served
// from the cache, what reaches the origin.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { request, Agent } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pluginGateway } from '../../helpers/scaffold.js'
import { pollUntil } from '../../helpers/poll.js'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { Redis } from 'ioredis'
import { purgeZones } from '../../../src/plugins/cache/zone.js'

/** Per-path origin behaviour: status, headers and body, and a counter of hits. */
interface Behaviour {
  status?: number
  headers?: Record<string, string>
  body?: string | ((req: IncomingMessage) => string)
  /** Answers a conditional request (If-None-Match / If-Modified-Since) itself, e.g. with 304. */
  conditional?: (req: IncomingMessage, res: ServerResponse) => boolean
  /** Resolves when the response may be sent (holds it until then). */
  gate?: Promise<void>
}

function originFor(table: Map<string, Behaviour>, hits: Map<string, number>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume()
    const path = (req.url ?? '/').split('?')[0]!
    hits.set(path, (hits.get(path) ?? 0) + 1)
    const b = table.get(path) ?? { status: 404, body: 'nope' }
    const send = () => {
      if (b.conditional?.(req, res) === true) return
      const body = typeof b.body === 'function' ? b.body(req) : (b.body ?? '')
      res.writeHead(b.status ?? 200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...b.headers })
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    if (b.gate !== undefined) void b.gate.then(send)
    else send()
  }
}

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'POST' = 'GET') {
  const r = await request(url, { method, headers })
  const body = await r.body.text()
  return { status: r.statusCode, headers: r.headers as Record<string, string | undefined>, body }
}

describe('cache plugin', () => {
  const table = new Map<string, Behaviour>()
  const hits = new Map<string, number>()
  const hitsOf = (p: string) => hits.get(p) ?? 0

  const gw = pluginGateway({
    origin: originFor(table, hits),
    routes: `
  - name: cached
    paths: [/c/*]
    upstream: o
    plugins:
      - name: cache
        config: { max_object_size: 8kb }
  - name: small
    paths: [/small/*]
    upstream: o
    plugins:
      - name: cache
        config: { max_size: 16kb, max_object_size: 4kb }
  - name: plain
    paths: [/p/*]
    upstream: o
  - name: impatient
    paths: [/lt/*]
    upstream: o
    plugins:
      - name: cache
        config: { lock_timeout: 100ms }
`,
  })

  test('MISS then HIT with Age; the origin is asked once', async () => {
    table.set('/c/basic', { headers: { 'cache-control': 'max-age=60' }, body: 'hello' })
    const a = await get(`${gw.url}/c/basic`)
    assert.equal(a.status, 200)
    assert.equal(a.headers['x-cache'], 'MISS')
    assert.equal(a.body, 'hello')
    const b = await get(`${gw.url}/c/basic`)
    assert.equal(b.headers['x-cache'], 'HIT')
    assert.equal(b.body, 'hello')
    assert.equal(b.headers['content-length'], '5')
    assert.equal(b.headers['content-type'], 'text/plain')
    assert.match(b.headers.age ?? '', /^\d+$/)
    // Per-request fields are the gateway's, not replayed from the first request.
    assert.notEqual(b.headers['x-request-id'], a.headers['x-request-id'])
    assert.equal(hitsOf('/c/basic'), 1)
    // The query is part of the key.
    const c = await get(`${gw.url}/c/basic?x=1`)
    assert.equal(c.headers['x-cache'], 'MISS')
    assert.equal(hitsOf('/c/basic'), 2)
  })

  test('a route without the plugin is not cached and has no x-cache', async () => {
    table.set('/p/x', { headers: { 'cache-control': 'max-age=60' }, body: 'p' })
    await get(`${gw.url}/p/x`)
    const r = await get(`${gw.url}/p/x`)
    assert.equal(r.headers['x-cache'], undefined)
    assert.equal(hitsOf('/p/x'), 2)
  })

  test('Vary: variants are stored separately and never mixed', async () => {
    table.set('/c/vary', {
      headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
      body: (req) => `lang=${String(req.headers['accept-language'])}`,
    })
    const en1 = await get(`${gw.url}/c/vary`, { 'accept-language': 'en' })
    const fr1 = await get(`${gw.url}/c/vary`, { 'accept-language': 'fr' })
    const en2 = await get(`${gw.url}/c/vary`, { 'accept-language': 'en' })
    const fr2 = await get(`${gw.url}/c/vary`, { 'accept-language': 'fr' })
    const none = await get(`${gw.url}/c/vary`)
    assert.deepEqual([en1.body, fr1.body, en2.body, fr2.body, none.body], ['lang=en', 'lang=fr', 'lang=en', 'lang=fr', 'lang=undefined'])
    assert.deepEqual([en1.headers['x-cache'], fr1.headers['x-cache'], en2.headers['x-cache'], fr2.headers['x-cache'], none.headers['x-cache']], ['MISS', 'MISS', 'HIT', 'HIT', 'MISS'])
    assert.equal(hitsOf('/c/vary'), 3)
  })

  test('Vary: * is never stored', async () => {
    table.set('/c/varystar', { headers: { 'cache-control': 'max-age=60', vary: '*' }, body: 'x' })
    await get(`${gw.url}/c/varystar`)
    const r = await get(`${gw.url}/c/varystar`)
    assert.equal(r.headers['x-cache'], 'MISS')
    assert.equal(hitsOf('/c/varystar'), 2)
  })

  test('revalidation: a stale entry is revalidated with If-None-Match; the 304 refreshes it', async () => {
    let version = 'v1'
    const seenInm: Array<string | undefined> = []
    table.set('/c/etag', {
      headers: { 'cache-control': 'max-age=0', etag: '"v1"' },
      body: () => `body-${version}`,
      conditional: (req, res) => {
        const inm = req.headers['if-none-match']
        seenInm.push(inm)
        if (inm === `"${version}"`) {
          res.writeHead(304, { etag: `"${version}"`, 'cache-control': 'max-age=60', 'x-refreshed': 'yes' })
          res.end()
          return true
        }
        return false
      },
    })
    const a = await get(`${gw.url}/c/etag`)
    assert.equal(a.headers['x-cache'], 'MISS')
    const b = await get(`${gw.url}/c/etag`)
    assert.equal(b.status, 200)
    assert.equal(b.headers['x-cache'], 'REVALIDATED')
    assert.equal(b.body, 'body-v1')
    assert.equal(b.headers['x-refreshed'], 'yes', 'the 304 header fields update the stored entry')
    assert.deepEqual(seenInm, [undefined, '"v1"'])
    // The 304 said max-age=60: now fresh without asking the origin.
    const c = await get(`${gw.url}/c/etag`)
    assert.equal(c.headers['x-cache'], 'HIT')
    assert.equal(c.body, 'body-v1')
    assert.equal(hitsOf('/c/etag'), 2)
    void (version = 'v2')
  })

  test('revalidation with Last-Modified / If-Modified-Since, and no-cache always revalidates', async () => {
    const lm = new Date(Date.now() - 3600_000).toUTCString()
    let ims: string | undefined
    table.set('/c/lm', {
      headers: { 'cache-control': 'no-cache', 'last-modified': lm },
      body: 'lm-body',
      conditional: (req, res) => {
        ims = req.headers['if-modified-since']
        if (ims === lm) {
          res.writeHead(304, { 'cache-control': 'no-cache' })
          res.end()
          return true
        }
        return false
      },
    })
    await get(`${gw.url}/c/lm`)
    const b = await get(`${gw.url}/c/lm`)
    assert.equal(b.headers['x-cache'], 'REVALIDATED')
    assert.equal(b.body, 'lm-body')
    assert.equal(ims, lm)
    const c = await get(`${gw.url}/c/lm`)
    assert.equal(c.headers['x-cache'], 'REVALIDATED', 'no-cache: every use is validated')
    assert.equal(hitsOf('/c/lm'), 3)
  })

  test("a client's own conditional is answered 304 from the cache", async () => {
    table.set('/c/cond', { headers: { 'cache-control': 'max-age=60', etag: '"abc"' }, body: 'cond' })
    const first = await get(`${gw.url}/c/cond`, { 'if-none-match': '"abc"' })
    assert.equal(first.status, 304, 'answered from the response being stored')
    assert.equal(first.headers['x-cache'], 'MISS')
    const second = await get(`${gw.url}/c/cond`, { 'if-none-match': 'W/"abc", "zzz"' })
    assert.equal(second.status, 304)
    assert.equal(second.headers['x-cache'], 'HIT')
    assert.equal(second.headers.etag, '"abc"')
    const full = await get(`${gw.url}/c/cond`, { 'if-none-match': '"other"' })
    assert.equal(full.status, 200)
    assert.equal(full.body, 'cond')
    assert.equal(hitsOf('/c/cond'), 1, 'the origin gave the full response once, to the cache')
  })

  test('coalescing: 50 concurrent misses for one key make one origin request', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    table.set('/c/herd', { headers: { 'cache-control': 'max-age=60' }, body: 'herd', gate })
    const agent = new Agent({ connections: 64 })
    try {
      const all = Array.from({ length: 50 }, () => request(`${gw.url}/c/herd`, { dispatcher: agent }).then(async (r) => ({ status: r.statusCode, xc: r.headers['x-cache'], body: await r.body.text() })))
      // Every request is inside the gateway (49 waiting on the first) before the origin answers.
      await pollUntil(() => gw.gw.dp.status().inFlight === 50 && hitsOf('/c/herd') === 1, { what: '50 requests in flight, 1 at the origin' })
      release()
      const results = await Promise.all(all)
      assert.equal(hitsOf('/c/herd'), 1)
      assert.ok(results.every((r) => r.status === 200 && r.body === 'herd'))
      assert.equal(results.filter((r) => r.xc === 'MISS').length, 1)
      assert.equal(results.filter((r) => r.xc === 'HIT').length, 49)
    } finally {
      await agent.close()
    }
  })

  test('coalescing: when the first response is not storable, the waiters go to the origin themselves', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    table.set('/c/herd-private', { headers: { 'cache-control': 'private, max-age=60' }, body: 'mine', gate })
    const agent = new Agent({ connections: 16 })
    try {
      const all = Array.from({ length: 5 }, () => request(`${gw.url}/c/herd-private`, { dispatcher: agent }).then((r) => r.body.text()))
      await pollUntil(() => gw.gw.dp.status().inFlight === 5, { what: '5 requests in flight' })
      release()
      assert.deepEqual(await Promise.all(all), ['mine', 'mine', 'mine', 'mine', 'mine'])
      assert.equal(hitsOf('/c/herd-private'), 5)
    } finally {
      await agent.close()
    }
  })

  test('coalescing: a waiter gives up after lock_timeout and goes to the origin alone', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    table.set('/lt/slow', { headers: { 'cache-control': 'max-age=60' }, body: 'slow', gate })
    const agent = new Agent({ connections: 4 })
    try {
      const first = request(`${gw.url}/lt/slow`, { dispatcher: agent }).then((r) => r.body.text())
      await pollUntil(() => hitsOf('/lt/slow') === 1, { what: 'the first request at the origin' })
      const second = request(`${gw.url}/lt/slow`, { dispatcher: agent }).then((r) => r.body.text())
      await pollUntil(() => hitsOf('/lt/slow') === 2, { what: 'the waiter to give up and ask the origin' })
      release()
      assert.deepEqual(await Promise.all([first, second]), ['slow', 'slow'])
      assert.equal((await get(`${gw.url}/lt/slow`)).headers['x-cache'], 'HIT')
    } finally {
      await agent.close()
    }
  })

  test('no-store is never stored; private is never shared', async () => {
    table.set('/c/nostore', { headers: { 'cache-control': 'no-store, max-age=60' }, body: 'ns' })
    table.set('/c/private', { headers: { 'cache-control': 'private, max-age=60' }, body: 'pv' })
    for (const p of ['/c/nostore', '/c/private']) {
      const a = await get(`${gw.url}${p}`)
      const b = await get(`${gw.url}${p}`)
      assert.equal(a.headers['x-cache'], 'MISS')
      assert.equal(b.headers['x-cache'], 'MISS')
      assert.equal(hitsOf(p), 2)
    }
    // A request no-store bypasses the cache entirely.
    table.set('/c/reqnostore', { headers: { 'cache-control': 'max-age=60' }, body: 'r' })
    const r = await get(`${gw.url}/c/reqnostore`, { 'cache-control': 'no-store' })
    assert.equal(r.headers['x-cache'], 'BYPASS')
    const r2 = await get(`${gw.url}/c/reqnostore`)
    assert.equal(r2.headers['x-cache'], 'MISS', 'nothing was stored by the no-store request')
  })

  test('Set-Cookie responses are not stored by default', async () => {
    table.set('/c/cookie', { headers: { 'cache-control': 'max-age=60', 'set-cookie': 'sid=secret' }, body: 'ck' })
    await get(`${gw.url}/c/cookie`)
    const b = await get(`${gw.url}/c/cookie`)
    assert.equal(b.headers['x-cache'], 'MISS')
    assert.equal(hitsOf('/c/cookie'), 2)
  })

  test('Authorization: not stored unless the response allows sharing, and not served from a non-shareable entry', async () => {
    table.set('/c/auth', { headers: { 'cache-control': 'max-age=60' }, body: (req) => `for ${String(req.headers.authorization)}` })
    const a = await get(`${gw.url}/c/auth`, { authorization: 'Bearer alice' })
    assert.equal(a.body, 'for Bearer alice')
    const anon = await get(`${gw.url}/c/auth`)
    assert.equal(anon.body, 'for undefined', "alice's response was not stored")
    assert.equal(anon.headers['x-cache'], 'MISS')
    // Now stored (anonymous, max-age=60). A request with Authorization may not use it (§3.5).
    const bob = await get(`${gw.url}/c/auth`, { authorization: 'Bearer bob' })
    assert.equal(bob.body, 'for Bearer bob')
    assert.equal(bob.headers['x-cache'], 'MISS')
    assert.equal(hitsOf('/c/auth'), 3)
    // public (or s-maxage) allows it.
    table.set('/c/authpub', { headers: { 'cache-control': 'public, max-age=60' }, body: 'shared' })
    await get(`${gw.url}/c/authpub`, { authorization: 'Bearer alice' })
    const pub = await get(`${gw.url}/c/authpub`, { authorization: 'Bearer carol' })
    assert.equal(pub.headers['x-cache'], 'HIT')
    assert.equal(hitsOf('/c/authpub'), 1)
  })

  test('stale-if-error: a 5xx from the origin is answered with the stale entry', async () => {
    let fail = false
    table.set('/c/sie', {
      headers: { 'cache-control': 'max-age=0, stale-if-error=60' },
      body: 'good',
      conditional: (_req, res) => {
        if (!fail) return false
        res.writeHead(503, { 'content-type': 'text/plain' })
        res.end('down')
        return true
      },
    })
    const a = await get(`${gw.url}/c/sie`)
    assert.equal(a.body, 'good')
    fail = true
    const b = await get(`${gw.url}/c/sie`)
    assert.equal(b.status, 200)
    assert.equal(b.headers['x-cache'], 'STALE')
    assert.equal(b.body, 'good')
  })

  test('must-revalidate: a stale entry is not served when the origin fails', async () => {
    table.set('/c/mr', { headers: { 'cache-control': 'max-age=0, must-revalidate, stale-if-error=60' }, body: 'mr' })
    await get(`${gw.url}/c/mr`)
    table.set('/c/mr', { status: 500, body: 'broken' })
    const b = await get(`${gw.url}/c/mr`)
    assert.equal(b.status, 500)
    assert.equal(b.body, 'broken')
  })

  test('stale-while-revalidate: the stale entry is served at once and refreshed in the background', async () => {
    table.set('/c/swr', { headers: { 'cache-control': 'max-age=0, stale-while-revalidate=60' }, body: 'old' })
    await get(`${gw.url}/c/swr`)
    table.set('/c/swr', { headers: { 'cache-control': 'max-age=60' }, body: 'new' })
    const b = await get(`${gw.url}/c/swr`)
    assert.equal(b.headers['x-cache'], 'STALE')
    assert.equal(b.body, 'old')
    await pollUntil(() => hitsOf('/c/swr') === 2, { what: 'background refresh' })
    const c = await pollUntil(async () => {
      const r = await get(`${gw.url}/c/swr`)
      return r.headers['x-cache'] === 'HIT' ? r : undefined
    }, { what: 'refreshed entry' })
    assert.equal(c.body, 'new')
    assert.equal(hitsOf('/c/swr'), 2)
  })

  test('HEAD is answered from the stored GET response', async () => {
    table.set('/c/head', { headers: { 'cache-control': 'max-age=60' }, body: 'head-body' })
    await get(`${gw.url}/c/head`)
    const h = await get(`${gw.url}/c/head`, {}, 'HEAD')
    assert.equal(h.status, 200)
    assert.equal(h.headers['x-cache'], 'HIT')
    assert.equal(h.headers['content-length'], '9')
    assert.equal(h.body, '')
    assert.equal(hitsOf('/c/head'), 1)
  })

  test('a successful POST invalidates the stored response for its URI', async () => {
    table.set('/c/inv', { headers: { 'cache-control': 'max-age=60' }, body: 'inv' })
    await get(`${gw.url}/c/inv`)
    assert.equal((await get(`${gw.url}/c/inv`)).headers['x-cache'], 'HIT')
    const post = await get(`${gw.url}/c/inv`, {}, 'POST')
    assert.equal(post.headers['x-cache'], 'BYPASS')
    assert.equal((await get(`${gw.url}/c/inv`)).headers['x-cache'], 'MISS')
  })

  test('heuristic freshness only for heuristically cacheable statuses with Last-Modified', async () => {
    const lm = new Date(Date.now() - 10 * 3600_000).toUTCString()
    table.set('/c/heur', { headers: { 'last-modified': lm }, body: 'h' })
    table.set('/c/heur-none', { body: 'n' }) // no validators, no freshness: 200 is storable but stale at once
    table.set('/c/heur-302', { status: 302, headers: { 'last-modified': lm, location: '/x' }, body: '' })
    await get(`${gw.url}/c/heur`)
    assert.equal((await get(`${gw.url}/c/heur`)).headers['x-cache'], 'HIT', '10% of 10h is fresh')
    await get(`${gw.url}/c/heur-none`)
    assert.equal((await get(`${gw.url}/c/heur-none`)).headers['x-cache'], 'MISS')
    await get(`${gw.url}/c/heur-302`)
    assert.equal((await get(`${gw.url}/c/heur-302`)).headers['x-cache'], 'MISS', '302 is not heuristically cacheable')
  })

  test('bodies over max_object_size stream through uncached; the memory bound holds', async () => {
    const big = 'b'.repeat(9000)
    table.set('/c/big', { headers: { 'cache-control': 'max-age=60' }, body: big })
    const a = await get(`${gw.url}/c/big`)
    const b = await get(`${gw.url}/c/big`)
    assert.equal(a.body, big)
    assert.equal(b.body, big)
    assert.equal(b.headers['x-cache'], 'MISS')
    // Chunked (no Content-Length) over the limit: detected while streaming.
    table.set('/c/bigchunked', {
      conditional: (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' })
        res.write('c'.repeat(5000))
        res.end('c'.repeat(5000))
        return true
      },
    })
    const c = await get(`${gw.url}/c/bigchunked`)
    assert.equal(c.body.length, 10000)
    assert.equal((await get(`${gw.url}/c/bigchunked`)).headers['x-cache'], 'MISS')

    // 16kb zone, 3kb objects: ten of them cannot all stay.
    for (let i = 0; i < 10; i++) {
      table.set(`/small/${i}`, { headers: { 'cache-control': 'max-age=60' }, body: String(i).repeat(3000) })
      await get(`${gw.url}/small/${i}`)
    }
    const last = await get(`${gw.url}/small/9`)
    assert.equal(last.headers['x-cache'], 'HIT')
    const first = await get(`${gw.url}/small/0`)
    assert.equal(first.headers['x-cache'], 'MISS', 'the least recently used entry was evicted')
    assert.equal(first.body, '0'.repeat(3000))
  })

  test('purge by key and by prefix', async () => {
    table.set('/c/pk/a', { headers: { 'cache-control': 'max-age=60' }, body: 'a' })
    table.set('/c/pk/b', { headers: { 'cache-control': 'max-age=60' }, body: 'b' })
    await get(`${gw.url}/c/pk/a`)
    await get(`${gw.url}/c/pk/b`)
    await get(`${gw.url}/c/pk/a?q=1`)
    const r1 = await purgeZones({ key: '127.0.0.1/c/pk/a' }, true)
    assert.equal(r1.memory, 1)
    assert.equal((await get(`${gw.url}/c/pk/a`)).headers['x-cache'], 'MISS')
    assert.equal((await get(`${gw.url}/c/pk/a?q=1`)).headers['x-cache'], 'HIT', 'a key purge leaves other queries alone')
    const r2 = await purgeZones({ prefix: '127.0.0.1/c/pk/' }, true)
    assert.equal(r2.memory, 3)
    assert.equal((await get(`${gw.url}/c/pk/b`)).headers['x-cache'], 'MISS')
  })

  test('stale-if-error when the origin is down (connection refused)', async () => {
    const solo = new Map<string, Behaviour>([['/s', { headers: { 'cache-control': 'max-age=0, stale-if-error=60' }, body: 'kept' }]])
    const o2 = await startOrigin(originFor(solo, new Map()))
    const g2 = await startInProc(`
upstreams:
  o: { targets: [ { url: ${o2.url} } ] }
routes:
  - name: sie
    paths: [/s]
    upstream: o
    plugins: [ { name: cache } ]
`)
    try {
      assert.equal((await get(`${g2.url}/s`)).body, 'kept')
      await o2.close()
      const r = await get(`${g2.url}/s`)
      assert.equal(r.status, 200)
      assert.equal(r.headers['x-cache'], 'STALE')
      assert.equal(r.body, 'kept')
      // Not in the stale-if-error window: the normal 502.
      const r404 = await get(`${g2.url}/s?other`)
      assert.equal(r404.status, 502)
    } finally {
      await g2.close()
    }
  })
})

describe('cache plugin with a Redis second tier', () => {
  let redis: RedisServer
  let up: Origin
  let g1: InProcGateway
  let g2: InProcGateway
  const hits = new Map<string, number>()
  const table = new Map<string, Behaviour>()
  const doc = (open: boolean) => `
store: { redis: { url: ${redis.url}, timeout: 200ms, prefix: "t:" } }
upstreams:
  o: { targets: [ { url: ${up.url} } ] }
routes:
  - name: r
    paths: [/r/*]
    upstream: o
    plugins:
      - name: cache
        config: { tier2: redis, timeout: 300ms, failure_mode: ${open ? 'open' : 'closed'} }
`
  before(async () => {
    redis = await startRedis()
    up = await startOrigin(originFor(table, hits))
    g1 = await startInProc(doc(true))
    g2 = await startInProc(doc(true))
  })
  after(async () => {
    await g1.close()
    await g2.close()
    await up.close()
    await redis.close()
  })

  test('an entry stored by one instance is a hit on another; purge reaches both tiers', async () => {
    table.set('/r/shared', { headers: { 'cache-control': 'max-age=60', vary: 'accept' }, body: 'one' })
    // The Redis clients connect in the background: wait until a write by g1 is a hit on g2.
    let n = 0
    await pollUntil(async () => {
      const p = `/r/warm-${++n}`
      table.set(p, { headers: { 'cache-control': 'max-age=60' }, body: 'w' })
      await get(`${g1.url}${p}`)
      for (let i = 0; i < 5; i++) if ((await get(`${g2.url}${p}`)).headers['x-cache'] === 'HIT') return true
      return false
    }, { what: 'both gateways connected to Redis' })
    const a = await get(`${g1.url}/r/shared`, { accept: 'text/plain' })
    assert.equal(a.headers['x-cache'], 'MISS')
    // The tier-2 write happens after the response: watch Redis itself for it (a request to g2
    // before it lands would be a miss of its own and reach the origin).
    const watcher = new Redis(redis.url)
    try {
      await pollUntil(async () => (await watcher.keys('*/r/shared*')).length > 0, { what: 'tier-2 write to land' })
    } finally {
      watcher.disconnect()
    }
    const b = await get(`${g2.url}/r/shared`, { accept: 'text/plain' })
    assert.equal(b.headers['x-cache'], 'HIT')
    assert.equal(b.body, 'one')
    assert.equal(hits.get('/r/shared'), 1)
    // Another variant is not mixed up.
    const c = await get(`${g2.url}/r/shared`, { accept: 'application/json' })
    assert.equal(c.headers['x-cache'], 'MISS')

    const purged = await purgeZones({ prefix: '127.0.0.1/r/' }, true)
    assert.ok(purged.tier2 >= 2, `tier2 keys purged: ${purged.tier2}`)
    assert.equal((await get(`${g2.url}/r/shared`, { accept: 'text/plain' })).headers['x-cache'], 'MISS')
  })

  test('Redis down: failure_mode open goes on to the origin; closed answers 503', async () => {
    table.set('/r/down', { headers: { 'cache-control': 'max-age=60' }, body: 'd' })
    await redis.stop()
    try {
      const r = await get(`${g1.url}/r/down`)
      assert.equal(r.status, 200)
      assert.equal(r.body, 'd')
      await g2.reload(doc(false))
      const closed = await get(`${g2.url}/r/down2`)
      assert.equal(closed.status, 503)
      assert.equal(JSON.parse(closed.body).error, 'cache_unavailable')
    } finally {
      await redis.start()
    }
  })
})
