// Slow targets, all targets down (fast 503, breaker open → half-open → closed), flapping checks,
// passive ejection and its cap, the bulkhead, and health state across reloads.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startInProc } from '../../helpers/inproc.js'
import { freePort } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'
import { get, killableOrigin, metric, yamlList } from './helpers.js'

async function slowShare(balancer: string): Promise<{ share: number; n: number }> {
  const slowMs = 40
  const origins = await Promise.all(
    ['fast1', 'fast2', 'slow'].map((n) =>
      killableOrigin(n, (req, res) => {
        req.resume()
        const reply = () => {
          res.writeHead(200, { 'x-origin': n })
          res.end(n)
        }
        if (n === 'slow') setTimeout(reply, slowMs)
        else setTimeout(reply, 2)
      }),
    ),
  )
  const gw = await startInProc(`
upstreams:
  u:
    balancer: ${balancer}
    targets:
${yamlList(origins.map((o) => o.url))}
routes:
  - { name: r, paths: ['/*'], upstream: u }
`)
  try {
    const n = 400
    let next = 0
    const worker = async () => {
      while (next++ < n) await get(`${gw.url}/x`)
    }
    await Promise.all(Array.from({ length: 8 }, worker))
    return { share: origins[2]!.hits / n, n }
  } finally {
    await gw.close()
    await Promise.all(origins.map((o) => o.close()))
  }
}

test('a slow target gets a small share under p2c-ewma and least-connections (round-robin: 1/3)', async (t) => {
  const p2c = await slowShare('p2c-ewma')
  const lc = await slowShare('least-connections')
  const rr = await slowShare('round-robin')
  t.diagnostic(`slow target share: p2c-ewma ${(p2c.share * 100).toFixed(1)}%, least-connections ${(lc.share * 100).toFixed(1)}%, round-robin ${(rr.share * 100).toFixed(1)}%`)
  assert.ok(Math.abs(rr.share - 1 / 3) < 0.02, `round-robin ${rr.share}`)
  assert.ok(p2c.share < 0.2, `p2c-ewma sent ${p2c.share} to the slow target`)
  assert.ok(lc.share < 0.25, `least-connections sent ${lc.share} to the slow target`)
})

test('all targets down: fast 503 JSON, breaker opens with Retry-After, half-opens, closes when a target is back', async (t) => {
  const ports = [await freePort(), await freePort()]
  const gw = await startInProc(`
upstreams:
  down:
    targets:
${yamlList(ports.map((p) => `http://127.0.0.1:${p}`))}
    retries: { attempts: 1, backoff: { base: 1ms, max: 1ms } }
    circuit_breaker: { consecutive_failures: 3, open_duration: 300ms, half_open_requests: 1 }
routes:
  - { name: r, paths: ['/*'], upstream: down }
`)
  t.after(() => gw.close())
  const first = await get(`${gw.url}/x`)
  assert.equal(first.status, 502)
  assert.equal(JSON.parse(first.text).error, 'upstream_unreachable')
  await get(`${gw.url}/x`)
  await get(`${gw.url}/x`)
  assert.equal(gw.dp.status().upstreams.down!.breaker, 'open')
  assert.equal(await metric('portico_upstream_breaker_state', { upstream: 'down' }), 2)
  const open = await get(`${gw.url}/x`)
  assert.equal(open.status, 503)
  assert.equal(JSON.parse(open.text).error, 'circuit_open')
  assert.equal(open.headers['retry-after'], '1')
  assert.ok(open.ms < 200, `open breaker answered in ${open.ms}ms`)

  // Half-open: one probe goes through; it fails (still down) → open again.
  await pollUntil(async () => (await get(`${gw.url}/x`)).status === 502, { what: 'a half-open probe' })
  assert.equal(gw.dp.status().upstreams.down!.breaker, 'open')

  // A target comes back: the next probe succeeds and closes the breaker.
  const back = await killableOrigin('back', undefined, ports[0])
  t.after(() => back.close())
  await pollUntil(async () => (await get(`${gw.url}/x`)).status === 200, { what: 'the breaker to close' })
  assert.equal(gw.dp.status().upstreams.down!.breaker, 'closed')
  assert.equal(await metric('portico_upstream_breaker_state', { upstream: 'down' }), 0)
})

test('all targets failing active checks: 503 no_healthy_target at once, not a hang', async (t) => {
  const sick = await killableOrigin('sick', (req, res) => {
    req.resume()
    res.writeHead(req.url === '/health' ? 500 : 200)
    res.end()
  })
  t.after(() => sick.close())
  const gw = await startInProc(`
upstreams:
  u:
    targets:
${yamlList([sick.url])}
    health_checks: { active: { path: /health, interval: 20ms, unhealthy: { failures: 1 } } }
routes:
  - { name: r, paths: ['/*'], upstream: u }
`)
  t.after(() => gw.close())
  await pollUntil(() => !gw.dp.status().upstreams.u!.targets[0]!.healthy, { what: 'target unhealthy' })
  const r = await get(`${gw.url}/x`)
  assert.equal(r.status, 503)
  assert.equal(JSON.parse(r.text).error, 'no_healthy_target')
  assert.ok(r.ms < 200)
})

test('a flapping health check does not flap traffic: thresholds hold', async (t) => {
  let probes = 0
  const flappy = await killableOrigin('flappy', (req, res) => {
    req.resume()
    if (req.url === '/health') {
      probes++
      // pass, fail, pass, fail, …: never 2 failures in a row
      res.writeHead(probes % 2 === 0 ? 503 : 200)
      res.end()
      return
    }
    res.writeHead(200)
    res.end('flappy')
  })
  const steady = await killableOrigin('steady')
  t.after(() => Promise.all([flappy.close(), steady.close()]))
  const gw = await startInProc(`
upstreams:
  u:
    targets:
${yamlList([flappy.url, steady.url])}
    health_checks: { active: { path: /health, interval: 15ms, jitter: 0, healthy: { successes: 2 }, unhealthy: { failures: 2 } } }
routes:
  - { name: r, paths: ['/*'], upstream: u }
`)
  t.after(() => gw.close())
  const seen = new Set<string>()
  await pollUntil(
    async () => {
      assert.equal(gw.dp.status().upstreams.u!.targets[0]!.healthy, true, 'flapping target stayed in')
      seen.add((await get(`${gw.url}/x`)).text)
      return probes >= 12
    },
    { what: '12 probes', intervalMs: 5 },
  )
  assert.ok(seen.has('flappy'), 'the flapping target kept receiving traffic')
  assert.equal(await metric('portico_upstream_target_healthy', { upstream: 'u', target: flappy.url }), 1)
})

test('passive ejection: 5xx streak ejects; the max_ejected_percent cap keeps the pool from emptying', async (t) => {
  const fail = (name: string) =>
    killableOrigin(name, (req, res) => {
      req.resume()
      res.writeHead(500)
      res.end(name)
    })
  const [a, b] = [await fail('a'), await fail('b')]
  t.after(() => Promise.all([a.close(), b.close()]))
  const gw = await startInProc(`
upstreams:
  u:
    targets:
${yamlList([a.url, b.url])}
    health_checks: { passive: { consecutive_failures: 2, base_ejection_time: 10s, max_ejected_percent: 50 } }
routes:
  - { name: r, paths: ['/*'], upstream: u }
`)
  t.after(() => gw.close())
  for (let i = 0; i < 10; i++) assert.equal((await get(`${gw.url}/x`)).status, 500)
  const targets = gw.dp.status().upstreams.u!.targets
  assert.deepEqual(targets.map((x) => x.ejected).sort(), [false, true], 'exactly one of two is ejected (50% cap)')
  const ejected = targets.find((x) => x.ejected)!.url
  assert.equal(await metric('portico_upstream_ejections_total', { upstream: 'u', target: ejected }), 1)
  assert.equal(await metric('portico_upstream_target_healthy', { upstream: 'u', target: ejected }), 0)
})

test('bulkhead: max_concurrent_requests + queue_size, then 503 upstream_overloaded', async (t) => {
  const release: Array<() => void> = []
  const held = await killableOrigin('held', (req, res) => {
    req.resume()
    release.push(() => {
      res.writeHead(200)
      res.end('ok')
    })
  })
  t.after(() => held.close())
  const gw = await startInProc(`
upstreams:
  u:
    targets:
${yamlList([held.url])}
    max_concurrent_requests: 2
    queue_size: 1
routes:
  - { name: r, paths: ['/*'], upstream: u }
`)
  t.after(() => gw.close())
  const inflight = [get(`${gw.url}/1`), get(`${gw.url}/2`)]
  await pollUntil(() => release.length === 2, { what: 'two requests at the origin' })
  const queued = get(`${gw.url}/3`)
  await pollUntil(() => gw.dp.status().upstreams.u!.queued === 1, { what: 'one queued' })
  const over = await get(`${gw.url}/4`)
  assert.equal(over.status, 503)
  assert.equal(JSON.parse(over.text).error, 'upstream_overloaded')
  release.shift()!()
  await pollUntil(() => release.length === 2, { what: 'the queued request to reach the origin' })
  while (release.length > 0) release.shift()!()
  assert.deepEqual((await Promise.all([...inflight, queued])).map((r) => r.status), [200, 200, 200])
  assert.equal(gw.dp.status().upstreams.u!.in_flight, 0)
})

test('reload: an unchanged cluster keeps its health state; a retired one stops probing', async (t) => {
  let probes = 0
  const o = await killableOrigin('o', (req, res) => {
    req.resume()
    if (req.url === '/health') probes++
    res.writeHead(req.url === '/health' ? 500 : 200)
    res.end()
  })
  const other = await killableOrigin('other')
  t.after(() => Promise.all([o.close(), other.close()]))
  const doc = (extraRoute: string, hc = 'interval: 20ms') => `
upstreams:
  u:
    targets:
${yamlList([o.url, other.url])}
    health_checks: { active: { path: /health, ${hc}, unhealthy: { failures: 1 } } }
routes:
  - { name: r, paths: ['/*'], upstream: u }
${extraRoute}`
  const gw = await startInProc(doc(''))
  t.after(() => gw.close())
  await pollUntil(() => !gw.dp.status().upstreams.u!.targets[0]!.healthy, { what: 'unhealthy' })
  await gw.reload(doc(`  - { name: r2, paths: ['/two'], upstream: u }`))
  assert.equal(gw.dp.status().upstreams.u!.targets[0]!.healthy, false, 'carried-over cluster kept its state')
  // A changed definition builds a new cluster (targets start healthy) and retires the old one.
  await gw.reload(doc('', 'interval: 10s'))
  const after = probes
  await pollUntil(() => gw.dp.status().version > 0, { what: 'loaded' })
  await new Promise((r) => setTimeout(r, 150)) // several old intervals: the retired cluster must stay quiet
  assert.ok(probes <= after + 1, `retired cluster kept probing: ${probes - after} probes`)
})
