// The admin listener: token on /status and /metrics, open probes, JSON 404, the token never
// logged, and a refusal to expose an unprotected admin listener beyond loopback.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'

const TOKEN = 'admin-s3cret-7d1f0c'

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const res = await request(url, { headers })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

describe('admin listener with a token (single process)', () => {
  let origin: Origin
  let gw: Gateway

  before(async () => {
    origin = await startOrigin()
    gw = await startGateway({
      config: {
        admin: { token: '${TEST_ADMIN_TOKEN}' },
        upstreams: { echo: { targets: [{ url: origin.url }] } },
        routes: [{ name: 'echo', paths: ['/echo/*'], upstream: 'echo' }],
      },
      args: ['--no-cluster'],
      env: { TEST_ADMIN_TOKEN: TOKEN },
    })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('/metrics and /status need the bearer token', async () => {
    for (const path of ['/metrics', '/status']) {
      const none = await get(`${gw.adminUrl}${path}`)
      assert.equal(none.status, 401, path)
      assert.equal(JSON.parse(none.body).error, 'unauthorized')
      assert.equal((await get(`${gw.adminUrl}${path}`, { authorization: 'Bearer wrong' })).status, 401)
      assert.equal((await get(`${gw.adminUrl}${path}`, { authorization: `Bearer ${TOKEN}x` })).status, 401)
      assert.equal((await get(`${gw.adminUrl}${path}`, { authorization: TOKEN })).status, 401, 'the Bearer scheme is required')
      assert.equal((await get(`${gw.adminUrl}${path}`, { authorization: `Bearer ${TOKEN}` })).status, 200, path)
    }
  })

  test('single-process /metrics counts requests', async () => {
    const res = await request(`${gw.url}/echo/one`)
    await res.body.dump()
    assert.equal(res.statusCode, 200)
    const m = await get(`${gw.adminUrl}/metrics`, { authorization: `Bearer ${TOKEN}` })
    assert.match(m.body, /portico_requests_total\{route="echo",method="GET",status="2xx"\} [1-9]/)
    const s = JSON.parse((await get(`${gw.adminUrl}/status`, { authorization: `Bearer ${TOKEN}` })).body)
    assert.equal(s.mode, 'single')
    assert.equal(s.workers.length, 1)
    assert.equal(s.workers[0].pid, gw.pid)
  })

  test('health probes stay open', async () => {
    const h = await get(`${gw.adminUrl}/healthz`)
    assert.equal(h.status, 200)
    assert.deepEqual(JSON.parse(h.body), { status: 'ok' })
    assert.equal((await get(`${gw.adminUrl}/readyz`)).status, 200)
  })

  test('unknown admin paths get the gateway JSON 404; other methods 405', async () => {
    const r = await get(`${gw.adminUrl}/nope`)
    assert.equal(r.status, 404)
    assert.match(String(r.headers['content-type']), /application\/json/)
    const body = JSON.parse(r.body)
    assert.equal(body.status, 404)
    assert.equal(body.error, 'route_not_found')
    assert.equal(body.request_id, r.headers['x-request-id'])
    const post = await request(`${gw.adminUrl}/status`, { method: 'POST', body: '' })
    await post.body.dump()
    assert.equal(post.statusCode, 405)
  })

  test('the token never appears in the logs', () => {
    assert.ok(!gw.stdout().includes(TOKEN))
    assert.ok(!gw.stderr().includes(TOKEN))
  })
})

describe('admin listener safety', () => {
  test('a non-loopback admin.listen without a token refuses to start, saying why', async () => {
    const gw = await startGateway({
      config: ({ port }) =>
        ['upstreams:', '  u: { targets: [{ url: "http://127.0.0.1:9" }] }', 'routes: []', `server: { listen: "127.0.0.1:${port}" }`, 'admin: { listen: "0.0.0.0:0" }', ''].join('\n'),
      waitReady: false,
    })
    try {
      const exit = await gw.exited
      assert.equal(exit.code, 1)
      assert.match(gw.stderr(), /admin\.listen is 0\.0\.0\.0:0, which is not a loopback address, and admin\.token is not set/)
      assert.doesNotMatch(gw.stdout(), /data plane listening/, 'no worker was started')
    } finally {
      await gw.stop()
    }
  })
})
