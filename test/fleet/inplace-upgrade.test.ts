// In-place upgrade on one machine with no load balancer (nginx's binary upgrade): a real
// `portico start --handoff` in cluster mode under load gets SIGUSR2 (and, with PORTICO_FLEET_FULL=1, a
// second round by `portico upgrade`); the
// new primary starts beside it on the inherited sockets, the old one drains and exits 0, and no
// client request fails and no connection is refused during the switch.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startGateway, runCli, type Gateway } from '../helpers/gateway.js'
import { freePort, startOrigin, type Origin } from '../helpers/origin.js'
import { pollUntil } from '../helpers/poll.js'
import { describe, startLoad } from './load.js'

let origin: Origin
const gateways: Gateway[] = []

before(async () => {
  origin = await startOrigin((_req, res) => {
    // A little latency keeps requests in flight while the old primary drains.
    setTimeout(() => res.end('ok'), 5)
  })
})
after(async () => {
  for (const g of gateways) await g.stop()
  await origin.close()
})

async function statusPid(gw: Gateway): Promise<number> {
  const res = await request(`${gw.adminUrl}/status`)
  return ((await res.body.json()) as { pid: number }).pid
}

async function statusWorkers(gw: Gateway): Promise<Array<{ state: string }>> {
  const res = await request(`${gw.adminUrl}/status`)
  return ((await res.body.json()) as { workers: Array<{ state: string }> }).workers
}

// The second round (portico upgrade against the primary the first round started) only with
// PORTICO_FLEET_FULL=1: the CLI path is in the default suite in inplace-upgrade-single.test.ts.
const FULL = process.env.PORTICO_FLEET_FULL === '1'

test(`in-place upgrade, cluster (2 workers, 2 listeners): SIGUSR2${FULL ? ' then portico upgrade' : ''}; the new primary's workers take every socket; zero failed requests, zero refused connections`, { timeout: 250_000 }, async (t) => {
  const port2 = await freePort()
  const gw = await startGateway({
    // Two listeners: the sockets are handed over by position, each worker asks for each.
    config: ({ port, adminPort }) => `
log: { level: info, access_log: false }
admin: { listen: "127.0.0.1:${adminPort}" }
server:
  drain_timeout: 10s
  listeners:
    - listen: "127.0.0.1:${port}"
    - listen: "127.0.0.1:${port2}"
upstreams: { app: { targets: [{ url: "${origin.url}" }] } }
routes: [{ name: all, paths: ["/*"], upstream: app }]
`,
    args: ['--handoff', '--workers', '2'],
    readyTimeoutMs: 90_000,
  })
  gateways.push(gw)
  const url = `${gw.url}/x`
  const load = startLoad({ url, concurrency: 6 })
  const other = startLoad({ url: `http://127.0.0.1:${port2}/x`, concurrency: 2 })
  await Promise.all([load.waitFor(50, 60_000), other.waitFor(20, 60_000)])

  // Round 1: the signal.
  let t0 = Date.now()
  process.kill(gw.pid, 'SIGUSR2')
  const exit = await gw.exited
  assert.deepEqual(exit, { code: 0, signal: null }, 'the old primary drains and exits 0')
  const second = await pollUntil(async () => {
    const pid = await statusPid(gw)
    return pid !== gw.pid ? pid : null
  }, { timeoutMs: 60_000, what: 'the new primary on the admin socket' })
  t.diagnostic(`round 1 (SIGUSR2 → new primary on the admin socket): ${Date.now() - t0} ms`)
  await load.waitFor(50, 60_000)
  const workers = await statusWorkers(gw)
  assert.equal(workers.length, 2, 'the new primary runs its own workers')
  assert.ok(workers.every((w) => w.state === 'ready'), JSON.stringify(workers))

  if (FULL) {
    // Round 2: the CLI against the new primary (it was started with the inherited sockets, so it can hand over again).
    t0 = Date.now()
    const cli = await runCli(['upgrade', '--pid', String(second), '--timeout', '120s'], { timeoutMs: 130_000 })
    assert.equal(cli.code, 0, cli.stderr)
    const third = await pollUntil(async () => {
      const pid = await statusPid(gw)
      return pid !== second ? pid : null
    }, { timeoutMs: 60_000, what: 'the third primary' })
    assert.notEqual(third, gw.pid)
    t.diagnostic(`round 2 (portico upgrade until the old primary exited): ${Date.now() - t0} ms`)
    await load.waitFor(50, 60_000)
  }
  await other.waitFor(20, 60_000)
  const [stats, otherStats] = await Promise.all([load.stop(), other.stop()])

  assert.equal(stats.failed, 0, describe(stats))
  assert.equal(otherStats.failed, 0, `second listener: ${describe(otherStats)}`)
  assert.ok(stats.ok > 100, describe(stats))
  assert.match(gw.stdout(), /upgrade: new primary is ready; draining this one/)
  // The last primary still serves after the old ones left.
  const res = await request(url)
  assert.equal(res.statusCode, 200)
  await res.body.dump()
})

