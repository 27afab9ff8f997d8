// Live /status in cluster mode: upstream health and breaker state come from every worker over IPC
// (per worker and merged), routes with their plugins, workers, config version and last reload, as
// JSON, text and HTML. A target that dies shows down on every worker and in the merged view.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { request } from 'undici'
import { startOrigin, echo, type Origin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'
import { adminJson, startGateway, type Gateway } from '../../helpers/gateway.js'
import type { StatusDocument } from '../../../src/control/status.js'

describe('live /status with 2 workers', () => {
  let a: Origin
  let b: Origin
  let gw: Gateway

  before(async () => {
    a = await startOrigin(echo)
    b = await startOrigin(echo)
    gw = await startGateway({
      config: {
        plugins: [{ name: 'headers', config: { response: { set: { 'x-global': '1' } } } }],
        upstreams: {
          pool: {
            targets: [{ url: a.url }, { url: b.url, weight: 2 }],
            health_checks: { active: { interval: '100ms', timeout: '3s', healthy: { successes: 1 }, unhealthy: { failures: 1 } } },
            circuit_breaker: { consecutive_failures: 50 },
          },
        },
        routes: [
          { name: 'api', paths: ['/api/*'], methods: ['GET'], upstream: 'pool', plugins: [{ name: 'cors', config: { origins: ['https://x.example'] } }] },
          { name: 'bare', paths: ['/bare'], upstream: 'pool', plugins: [{ name: 'headers', enabled: false }] },
        ],
      },
      args: ['--workers', '2'],
    })
  })
  after(async () => {
    await gw?.stop()
    await a?.close()
    await b?.close()
  })

  test('JSON: routes with effective plugins, live upstreams per worker and merged, workers, config', async () => {
    const { status, body } = await adminJson<StatusDocument>(gw, '/status')
    assert.equal(status, 200)
    assert.equal(body.mode, 'cluster')
    assert.equal(body.config.version, 1)
    assert.match(body.config.hash, /^[0-9a-f]{64}$/)
    assert.equal(body.last_reload, null)
    assert.deepEqual(
      body.routes.map((r) => [r.name, r.paths, r.upstream, r.plugins]),
      [
        ['api', ['/api/*'], 'pool', ['headers', 'cors']],
        ['bare', ['/bare'], 'pool', []],
      ],
    )
    assert.deepEqual(body.routes[0]!.methods, ['GET'])
    assert.equal(body.workers.length, 2)
    for (const w of body.workers) {
      assert.equal(w.answered, true)
      assert.equal(w.in_flight, 0)
    }
    const pool = body.upstreams.pool!
    assert.equal(pool.breaker, 'closed')
    assert.deepEqual(pool.workers.map((w) => w.slot).sort(), [0, 1], 'both workers reported')
    assert.deepEqual(
      pool.targets.map((t) => [t.url, t.weight, t.healthy, t.ejected]),
      [
        [a.url, 1, true, false],
        [b.url, 2, true, false],
      ],
    )
    for (const w of pool.workers) assert.equal(w.breaker, 'closed')
  })

  test('a killed target shows down on every worker and in the merged view; text and HTML say so', async () => {
    await b.close()
    const body = await pollUntil(
      async () => {
        const { body } = await adminJson<StatusDocument>(gw, '/status')
        const t = body.upstreams.pool!.targets.find((x) => x.url === b.url)!
        return t.healthy === false && t.unhealthy_on.length === 2 ? body : undefined
      },
      { timeoutMs: 10_000, what: 'the dead target to be down on both workers' },
    )
    const pool = body.upstreams.pool!
    assert.equal(pool.targets.find((x) => x.url === a.url)!.healthy, true, 'the live target stays up')
    for (const w of pool.workers) assert.equal(w.targets.find((t) => t.url === b.url)!.healthy, false)

    const text = await request(`${gw.adminUrl}/status?format=text`)
    assert.match(String(text.headers['content-type']), /^text\/plain/)
    const t = await text.body.text()
    assert.match(t, /UPSTREAMS/)
    assert.match(t, /pool .*breaker=closed.*targets 1\/2 up/)
    assert.match(t, new RegExp(`${b.url.replace(/[.]/g, '\\.')} +2 +DOWN +0 +w0:down w1:down`))
    assert.match(t, /api +GET +\/api\/\* +pool +headers,cors/)

    const html = await request(`${gw.adminUrl}/status`, { headers: { accept: 'text/html,application/xhtml+xml' } })
    assert.match(String(html.headers['content-type']), /^text\/html/)
    assert.match(String(html.headers['content-security-policy']), /default-src 'none'/)
    const h = await html.body.text()
    assert.match(h, /^<!doctype html>/)
    assert.match(h, /color:#b00">DOWN/)

    // Requests avoid the dead target.
    for (let i = 0; i < 6; i++) {
      const r = await request(`${gw.url}/api/x`)
      await r.body.dump()
      assert.equal(r.statusCode, 200)
    }
  })

  test('the target comes back: up again everywhere; a reload shows in last_reload and config', async () => {
    const revived = http.createServer(echo)
    await new Promise<void>((resolve, reject) => {
      revived.once('error', reject)
      revived.listen(b.port, '127.0.0.1', () => resolve())
    })
    try {
      await pollUntil(
        async () => (await adminJson<StatusDocument>(gw, '/status')).body.upstreams.pool!.targets.every((t) => t.healthy === true),
        { timeoutMs: 10_000, what: 'the revived target to be healthy on both workers' },
      )
      const { body: before } = await adminJson<StatusDocument>(gw, '/status')
      const doc = gw.document({
        upstreams: { pool: { targets: [{ url: a.url }] } },
        routes: [{ name: 'only', paths: ['/only'], upstream: 'pool' }],
      })
      await gw.writeConfig(doc)
      const after = await pollUntil(
        async () => {
          const { body } = await adminJson<StatusDocument>(gw, '/status')
          // The version must have moved: an earlier reload also left last_reload 'ok'.
          const moved = body.config.version > before.config.version
          return moved && body.last_reload?.result === 'ok' && body.workers.every((w) => w.config_version === body.config.version) ? body : undefined
        },
        { timeoutMs: 10_000, what: 'the reload to reach both workers' },
      )
      assert.equal(after.config.version, before.config.version + 1)
      assert.notEqual(after.config.hash, before.config.hash)
      assert.deepEqual(after.routes.map((r) => r.name), ['only'])
      assert.deepEqual(after.upstreams.pool!.targets.map((t) => t.url), [a.url])
      assert.equal(after.upstreams.pool!.breaker, null, 'no breaker configured any more')
    } finally {
      revived.closeAllConnections()
      await new Promise<void>((resolve) => revived.close(() => resolve()))
    }
  })

  test('format=json wins over Accept; unknown formats fall back to content negotiation', async () => {
    const j = await request(`${gw.adminUrl}/status?format=json`, { headers: { accept: 'text/html' } })
    assert.match(String(j.headers['content-type']), /^application\/json/)
    assert.equal(typeof (await j.body.json()), 'object')
    const x = await request(`${gw.adminUrl}/status?format=<script>`)
    assert.match(String(x.headers['content-type']), /^application\/json/)
    await x.body.dump()
  })
})
