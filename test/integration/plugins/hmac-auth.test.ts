// hmac-auth through a real gateway, a real origin and a real redis-server (nonces): signed requests
// pass with their body intact, and the attacks fail: replay (also through a second gateway sharing
// the Redis), stale and future timestamps, tampered body/path/query/header, unsigned required
// header, oversized body. Redis stopped → failure_mode closed answers 503.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { pollUntil } from '../../helpers/poll.js'
import { authorization } from '../../../src/plugins/hmac-auth/sign.js'

const SECRET = 'hmac-secret-0123456789abcdef'

function config(origin: string, redis: string, extra = ''): string {
  return `
store: { redis: { url: "${redis}", timeout: 200ms } }
upstreams:
  o: { targets: [ { url: ${origin} } ] }
consumers:
  - name: carol
    credentials: { hmac_auth: [ { key_id: carol-1, secret: "${SECRET}" } ] }
routes:
  - name: signed
    paths: [/s/*]
    upstream: o
    plugins:
      - name: hmac-auth
        config: { max_body_size: 1kb${extra} }
`
}

interface Req {
  method?: string
  path: string
  body?: string
  ts?: number
  nonce?: string
  host: string
  sign?: { path?: string; body?: string; headers?: Array<[string, string]> }
  extraHeaders?: Record<string, string>
}

describe('hmac-auth plugin', () => {
  let up: Origin
  let redis: RedisServer
  let gw: InProcGateway
  let gw2: InProcGateway
  before(async () => {
    ;[up, redis] = await Promise.all([startOrigin(), startRedis()])
    gw = await startInProc(config(up.url, redis.url))
    gw2 = await startInProc(config(up.url, redis.url))
    // The gateways connect to Redis in the background: wait until both record nonces.
    for (const g of [gw, gw2]) {
      await pollUntil(async () => {
        const r = await signed(g.url, { path: '/s/ready', host: `127.0.0.1:${g.port}` })
        await r.body.dump()
        return r.statusCode === 200
      }, { what: 'gateway connected to redis' })
    }
  })
  after(async () => {
    await Promise.all([gw.close(), gw2.close()])
    await Promise.all([up.close(), redis.close()])
  })

  function signed(base: string, r: Req) {
    const method = r.method ?? 'GET'
    const [path, query = ''] = (r.sign?.path ?? r.path).split('?') as [string, string?]
    const ts = r.ts ?? Math.floor(Date.now() / 1000)
    const nonce = r.nonce ?? randomBytes(12).toString('base64url')
    const headers = r.sign?.headers ?? [['host', r.host]]
    const auth = authorization('carol-1', { method, path, query, timestamp: ts, nonce, headers, body: r.sign?.body ?? r.body ?? '' }, SECRET)
    return request(`${base}${r.path}`, { method: method as 'GET', headers: { authorization: auth, ...r.extraHeaders }, body: r.body })
  }
  const host = () => `127.0.0.1:${gw.port}`

  test('a signed POST passes; the origin gets the body, the consumer name and no Authorization', async () => {
    const r = await signed(gw.url, {
      method: 'POST',
      path: '/s/orders?x=1&y=2',
      body: '{"qty":3}',
      host: host(),
      sign: { headers: [['host', host()], ['content-type', 'application/json']] },
      extraHeaders: { 'content-type': 'application/json' },
    })
    const seen = (await r.body.json()) as { body: string; url: string; headers: Record<string, string> }
    assert.equal(r.statusCode, 200)
    assert.equal(seen.body, '{"qty":3}')
    assert.equal(seen.url, '/s/orders?x=1&y=2')
    assert.equal(seen.headers['x-consumer-name'], 'carol')
    assert.equal(seen.headers.authorization, undefined)
  })

  test('a chunked body is buffered, verified and sent upstream with a Content-Length', async () => {
    const body = 'chunk-one|chunk-two'
    const ts = Math.floor(Date.now() / 1000)
    const auth = authorization('carol-1', { method: 'PUT', path: '/s/c', query: '', timestamp: ts, nonce: randomBytes(12).toString('base64url'), headers: [['host', host()], ['content-type', 'text/plain']], body }, SECRET)
    const r = await request(`${gw.url}/s/c`, {
      method: 'PUT',
      headers: { authorization: auth, 'content-type': 'text/plain' },
      body: Readable.from([Buffer.from('chunk-one|'), Buffer.from('chunk-two')]),
    })
    const seen = (await r.body.json()) as { body: string; headers: Record<string, string> }
    assert.equal(r.statusCode, 200)
    assert.equal(seen.body, body)
    assert.equal(seen.headers['content-length'], String(body.length))
    assert.equal(seen.headers['transfer-encoding'], undefined)
  })

  test('replay: the same signed request is refused on the same and on another gateway', async () => {
    const nonce = randomBytes(12).toString('base64url')
    const ts = Math.floor(Date.now() / 1000)
    const first = await signed(gw.url, { path: '/s/r', nonce, ts, host: host() })
    await first.body.dump()
    assert.equal(first.statusCode, 200)
    const again = await signed(gw.url, { path: '/s/r', nonce, ts, host: host() })
    assert.equal(again.statusCode, 401)
    assert.equal(((await again.body.json()) as { error: string }).error, 'unauthorized')
    // Same signature bytes to the second gateway (which shares Redis): host is signed, so send gw's host.
    const other = await signed(gw2.url, { path: '/s/r', nonce, ts, host: host(), extraHeaders: { host: host() } })
    await other.body.dump()
    assert.equal(other.statusCode, 401)
  })

  test('timestamps outside ±300s, tampered parts and missing required headers get 401', async () => {
    const now = Math.floor(Date.now() / 1000)
    const cases: Req[] = [
      { path: '/s/t', ts: now - 360, host: host() }, // a minute past the window: a loaded host may take seconds to get there
      { path: '/s/t', ts: now + 360, host: host() },
      { method: 'POST', path: '/s/t', body: '{"qty":300}', sign: { body: '{"qty":3}' }, host: host() },
      { path: '/s/admin', sign: { path: '/s/t' }, host: host() },
      { path: '/s/t?amount=1000', sign: { path: '/s/t?amount=1' }, host: host() },
      { path: '/s/t', sign: { headers: [] }, host: host() },
      { path: '/s/t', sign: { headers: [['host', 'evil.example']] }, host: host() },
    ]
    for (const c of cases) {
      const r = await signed(gw.url, c)
      const body = (await r.body.json()) as { error: string; message: string }
      assert.equal(r.statusCode, 401, JSON.stringify(c))
      assert.equal(body.message, 'a valid request signature is required')
    }
    for (const auth of ['HMAC-SHA256 keyId="nobody", ts="1", nonce="abcdefgh", headers="", signature="x"', 'Basic Zm9vOmJhcg==', 'HMAC-SHA256 garbage']) {
      const r = await request(`${gw.url}/s/t`, { headers: { authorization: auth } })
      await r.body.dump()
      assert.equal(r.statusCode, 401)
    }
  })

  test('a body over max_body_size is a 413 before any signature work', async () => {
    const r = await signed(gw.url, { method: 'POST', path: '/s/big', body: 'x'.repeat(2048), host: host() })
    await r.body.dump()
    assert.equal(r.statusCode, 413)
  })

  test('Redis stopped: failure_mode closed answers 503 auth_unavailable; Redis back: requests pass', async () => {
    await redis.stop()
    try {
      await pollUntil(
        async () => {
          const r = await signed(gw.url, { path: '/s/down', host: host() })
          await r.body.dump()
          return r.statusCode === 503
        },
        { what: '503 while redis is down' },
      )
      const bad = await signed(gw.url, { path: '/s/down', host: host(), sign: { path: '/s/other' } })
      await bad.body.dump()
      assert.equal(bad.statusCode, 401, 'a bad signature is still a 401, not a 503')
    } finally {
      await redis.start()
    }
    await pollUntil(
      async () => {
        const r = await signed(gw.url, { path: '/s/up', host: host() })
        await r.body.dump()
        return r.statusCode === 200
      },
      { what: 'recovery after redis restart', timeoutMs: 10_000 },
    )
  })
})
