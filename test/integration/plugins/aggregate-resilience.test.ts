// aggregate's calls keep their upstream's promises, as proxied requests do (upstream/client.ts):
// retries on another target (a retried status, a refused connection), the circuit breaker (an
// open breaker stops the calls before they are sent), and the bulkhead (a full upstream refuses).
// Real origins behind a real in-process gateway.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { freePort, startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const b = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) })
  res.end(b)
}

describe('aggregate: retries, breaker and bulkhead of the upstreams it calls', () => {
  let good: Origin
  let failing: Origin
  let broken: Origin
  let hanging: Origin
  let gw: InProcGateway
  const held = new Set<import('node:http').ServerResponse>()
  before(async () => {
    good = await startOrigin((_req, res) => json(res, 200, { ok: true }))
    failing = await startOrigin((_req, res) => json(res, 503, { error: 'down' }))
    broken = await startOrigin((_req, res) => json(res, 500, { error: 'bug' }))
    hanging = await startOrigin((_req, res) => void held.add(res)) // answers only when the test ends
    const dead = await freePort()
    const agg = (name: string, upstream: string, timeout = '2s') => `
  - name: ${name}
    paths: [/${name}]
    upstream: good
    plugins:
      - name: aggregate
        config: { backends: [ { name: b, upstream: ${upstream}, path: /x, required: true, timeout: ${timeout} } ] }`
    gw = await startInProc(`
upstreams:
  good: { targets: [ { url: ${good.url} } ] }
  statuses:
    balancer: round-robin
    targets: [ { url: ${failing.url} }, { url: ${good.url} } ]
    retries: { attempts: 2, on_statuses: [503], backoff: { base: 1ms, max: 2ms } }
  refusing:
    targets: [ { url: "http://127.0.0.1:${dead}" }, { url: ${good.url} } ]
    timeouts: { connect: 1s }
    retries: { attempts: 2, backoff: { base: 1ms, max: 2ms } }
  no-retries:
    targets: [ { url: ${failing.url} } ]
  breaker:
    targets: [ { url: ${broken.url} } ]
    circuit_breaker: { consecutive_failures: 3, open_duration: 60s }
  bulkhead:
    targets: [ { url: ${hanging.url} } ]
    max_concurrent_requests: 1
    queue_size: 0
routes:${agg('statuses', 'statuses')}${agg('refusing', 'refusing')}${agg('no-retries', 'no-retries')}${agg('breaker', 'breaker')}${agg('bulkhead', 'bulkhead', '20s')}
`)
  })
  after(async () => {
    for (const res of held) res.destroy()
    await gw?.close()
    await Promise.all([good, failing, broken, hanging].map((o) => o?.close()))
  })

  const get = async (path: string) => {
    const res = await request(`${gw.url}${path}`)
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> }
  }

  test('a retried status (503) goes to the other target: every call succeeds', async () => {
    const before = failing.seen.length
    for (let i = 0; i < 10; i++) assert.deepEqual(await get('/statuses'), { status: 200, body: { ok: true } })
    assert.ok(failing.seen.length > before, 'the failing target was tried (and retried away from)')
  })

  test('a refused connection is retried on the other target: every call succeeds', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await get('/refusing')).status, 200)
  })

  test('without retries the status stands', async () => {
    const r = await get('/no-retries')
    assert.equal(r.status, 502)
    assert.match(String(r.body.message), /b \(status\)/)
  })

  test('the breaker opens after consecutive 500s, and then the calls are not sent', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get('/breaker')).status, 502)
    const seen = broken.seen.length
    const r = await get('/breaker')
    assert.equal(r.status, 502)
    assert.match(String(r.body.message), /b \(circuit_open\)/)
    assert.equal(broken.seen.length, seen, 'no call reached the upstream while the breaker is open')
  })

  test('a full bulkhead refuses the call at once (overloaded)', async () => {
    const first = request(`${gw.url}/bulkhead`) // holds the upstream's only slot
    await pollUntil(() => hanging.seen.length === 1, { timeoutMs: 30_000, what: 'the first call to hold the slot' })
    const r = await get('/bulkhead')
    assert.equal(r.status, 502)
    assert.match(String(r.body.message), /b \(overloaded\)/)
    for (const res of held) json(res, 200, { late: true })
    assert.equal((await first).statusCode, 200)
  })
})
