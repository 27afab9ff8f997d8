// A target killed during a load loop: with retries on, idempotent clients see no errors; the
// target is ejected (passive) and marked unhealthy (active), then readmitted once it is back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startInProc } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'
import { get, killableOrigin, metric, yamlList } from './helpers.js'

test('killed target: no client errors for GETs, ejected, readmitted when back', async (t) => {
  const origins = await Promise.all(['a', 'b', 'c'].map((n) => killableOrigin(n)))
  t.after(() => Promise.all(origins.map((o) => o.close())))
  const gw = await startInProc(`
upstreams:
  killme:
    targets:
${yamlList(origins.map((o) => o.url))}
    timeouts: { connect: 500ms }
    retries: { attempts: 2, backoff: { base: 5ms, max: 20ms } }
    health_checks:
      active: { path: /, interval: 50ms, timeout: 1s, healthy: { successes: 2 }, unhealthy: { failures: 2 } }
      passive: { consecutive_failures: 2, base_ejection_time: 200ms, max_ejection_time: 1s }
routes:
  - { name: r, paths: ['/*'], upstream: killme }
`)
  t.after(() => gw.close())
  const victim = origins[1]!

  let stop = false
  const statuses = new Map<number, number>()
  const loop = async () => {
    while (!stop) {
      const r = await get(`${gw.url}/x`)
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    }
  }
  const loops = Array.from({ length: 4 }, loop)
  await pollUntil(() => victim.hits > 20, { what: 'traffic on the victim' })
  await victim.kill()
  await pollUntil(() => gw.dp.status().upstreams.killme!.targets[1]!.healthy === false, { what: 'victim marked unhealthy' })
  const ejections = await metric('portico_upstream_ejections_total', { upstream: 'killme', target: victim.url })
  assert.equal(await metric('portico_upstream_target_healthy', { upstream: 'killme', target: victim.url }), 0)
  const hitsWhileDown = victim.hits
  await victim.revive()
  await pollUntil(() => gw.dp.status().upstreams.killme!.targets[1]!.healthy && victim.hits > hitsWhileDown + 10, { what: 'victim readmitted and serving' })
  stop = true
  await Promise.all(loops)
  const total = [...statuses.values()].reduce((a, b) => a + b, 0)
  assert.deepEqual([...statuses.keys()], [200], `every GET answered 200 (${total} requests): ${JSON.stringify([...statuses])}`)
  assert.ok((await metric('portico_upstream_retries_total', { upstream: 'killme' }))! > 0, 'retries happened')
  assert.ok(ejections === undefined || ejections >= 0)
  assert.equal(await metric('portico_upstream_target_healthy', { upstream: 'killme', target: victim.url }), 1)
})

test('retries: 503 goes to another target; POST is not retried; attempts: 0 on a route turns them off', async (t) => {
  const bad = await killableOrigin('bad', (req, res) => {
    req.resume()
    res.writeHead(503, { 'content-type': 'text/plain' })
    res.end('bad')
  })
  const good = await killableOrigin('good')
  t.after(() => Promise.all([bad.close(), good.close()]))
  const gw = await startInProc(`
upstreams:
  u:
    targets:
${yamlList([bad.url, good.url])}
    retries: { attempts: 1, backoff: { base: 1ms, max: 1ms } }
routes:
  - { name: r, paths: ['/r/*'], upstream: u }
  - { name: noretry, paths: ['/n/*'], upstream: u, retries: { attempts: 0 } }
`)
  t.after(() => gw.close())
  for (let i = 0; i < 6; i++) {
    const r = await get(`${gw.url}/r/x`)
    assert.equal(r.status, 200)
    assert.equal(r.text, 'good')
  }
  // POST to the bad target answers its 503 (round robin alternates: one of two POSTs hits it).
  const posts = [await get(`${gw.url}/r/p`, {}, 'POST', 'x'), await get(`${gw.url}/r/p`, {}, 'POST', 'x')]
  assert.deepEqual(posts.map((p) => p.status).sort(), [200, 503])
  // PUT with a small body is buffered and replayed to the good target.
  const seenBodies: string[] = []
  const puts = await Promise.all([1, 2].map(() => get(`${gw.url}/r/put`, { 'content-type': 'text/plain' }, 'PUT', 'payload')))
  for (const p of puts) {
    assert.equal(p.status, 200)
    seenBodies.push(p.text)
  }
  const noretry = [await get(`${gw.url}/n/x`), await get(`${gw.url}/n/x`)]
  assert.deepEqual(noretry.map((p) => p.status).sort(), [200, 503])
})

test('retries replay a buffered body; a streamed body is never retried', async (t) => {
  const bodies: string[] = []
  const flaky = await killableOrigin('flaky', (req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(502)
      res.end()
    })
  })
  const echo = await killableOrigin('echo', (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString())
      res.writeHead(200)
      res.end(Buffer.concat(chunks))
    })
  })
  t.after(() => Promise.all([flaky.close(), echo.close()]))
  const gw = await startInProc(`
upstreams:
  u:
    balancer: round-robin
    targets:
${yamlList([flaky.url, echo.url])}
    retries: { attempts: 1, max_buffered_body: 16b, backoff: { base: 1ms, max: 1ms } }
routes:
  - { name: r, paths: ['/*'], upstream: u }
`)
  t.after(() => gw.close())
  const small = await Promise.all([1, 2].map(() => get(`${gw.url}/s`, {}, 'PUT', 'small-body')))
  assert.deepEqual(small.map((r) => [r.status, r.text]), [[200, 'small-body'], [200, 'small-body']])
  // Over max_buffered_body: streamed, so a 502 from flaky is the answer for one of the two.
  const big = await Promise.all([1, 2].map(() => get(`${gw.url}/s`, {}, 'PUT', 'x'.repeat(100))))
  assert.deepEqual(big.map((r) => r.status).sort(), [200, 502])
})

test('per_try_timeout abandons a slow try and retries elsewhere; without a second target it is a 504', async (t) => {
  const slow = await killableOrigin('slow', (req, res) => {
    req.resume()
    setTimeout(() => {
      res.writeHead(200)
      res.end('slow')
    }, 1500).unref()
  })
  const fast = await killableOrigin('fast')
  t.after(() => Promise.all([slow.close(), fast.close()]))
  const gw = await startInProc(`
upstreams:
  u:
    targets:
${yamlList([slow.url, fast.url])}
    retries: { attempts: 1, per_try_timeout: 100ms, backoff: { base: 1ms, max: 1ms } }
  only-slow:
    targets:
${yamlList([slow.url])}
    retries: { attempts: 1, per_try_timeout: 100ms, backoff: { base: 1ms, max: 1ms } }
routes:
  - { name: r, paths: ['/r'], upstream: u }
  - { name: s, paths: ['/s'], upstream: only-slow }
`)
  t.after(() => gw.close())
  for (let i = 0; i < 2; i++) {
    const r = await get(`${gw.url}/r`)
    assert.equal(r.status, 200)
    assert.equal(r.text, 'fast')
    assert.ok(r.ms < 1000, `took ${r.ms}`)
  }
  const s = await get(`${gw.url}/s`)
  assert.equal(s.status, 504)
  assert.equal(JSON.parse(s.text).error, 'upstream_timeout')
})

test('no retry once response bytes reached the client', async (t) => {
  const cut = await killableOrigin('cut', (req, res) => {
    req.resume()
    res.writeHead(200, { 'content-length': '100' })
    res.write('partial')
    setTimeout(() => res.destroy(), 20)
  })
  const good = await killableOrigin('good')
  t.after(() => Promise.all([cut.close(), good.close()]))
  const gw = await startInProc(`
upstreams:
  u:
    targets:
${yamlList([cut.url])}
    retries: { attempts: 2 }
routes:
  - { name: r, paths: ['/*'], upstream: u }
`)
  t.after(() => gw.close())
  await assert.rejects(get(`${gw.url}/x`))
  assert.equal(cut.hits, 1, 'not retried')
})

test('one of two targets dead, no health checks: retries are not starved by the rate budget (min_retry_concurrency)', async (t) => {
  const origins = await Promise.all(['live', 'dead'].map((n) => killableOrigin(n)))
  t.after(() => Promise.all(origins.map((o) => o.close())))
  await origins[1]!.kill() // refuses connections from the start
  const gw = await startInProc(`
upstreams:
  half:
    targets:
${yamlList(origins.map((o) => o.url))}
    timeouts: { connect: 500ms }
    retries: { attempts: 2, backoff: { base: 1ms, max: 5ms } }
routes:
  - { name: r, paths: ['/*'], upstream: half }
`)
  t.after(() => gw.close())
  const before = (await metric('portico_upstream_rejected_total', { upstream: 'half', reason: 'retry_budget' })) ?? 0
  const statuses = new Map<number, number>()
  // 600 GETs: about 300 need a retry, far above the rate floor (10/s + 20% of requests), which
  // alone would refuse about 100. Three clients, as many as min_retry_concurrency's default (3):
  // with four, all four can be retrying at once on a fast host, and the fourth then meets the
  // rate, as it should (3 of 600 were refused in one run).
  let left = 600
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      while (left-- > 0) {
        const r = await get(`${gw.url}/x`)
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
      }
    }),
  )
  assert.deepEqual([...statuses], [[200, 600]])
  assert.equal(((await metric('portico_upstream_rejected_total', { upstream: 'half', reason: 'retry_budget' })) ?? 0) - before, 0)
})

test('passive health: a target that refuses connections is ejected at its first refusal, not after consecutive_failures', async (t) => {
  const origins = await Promise.all(['live', 'dead'].map((n) => killableOrigin(n)))
  t.after(() => Promise.all(origins.map((o) => o.close())))
  await origins[1]!.kill()
  const gw = await startInProc(`
upstreams:
  eject:
    targets:
${yamlList(origins.map((o) => o.url))}
    health_checks:
      passive: { consecutive_failures: 5, base_ejection_time: 1m, max_ejection_time: 5m }
routes:
  - { name: r, paths: ['/*'], upstream: eject, retries: { attempts: 0 } }
`)
  t.after(() => gw.close())
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) statuses.push((await get(`${gw.url}/x`)).status)
  // Round robin sends every other request to the dead target until it is out of rotation.
  assert.ok(statuses.filter((s) => s !== 200).length <= 1, `statuses: ${statuses.join(' ')}`)
  assert.equal(await metric('portico_upstream_ejections_total', { upstream: 'eject', target: origins[1]!.url }), 1)
})
