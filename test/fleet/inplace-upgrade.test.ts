// In-place upgrade on one machine with no load balancer (nginx's binary upgrade): a real
// `portico start --handoff` under load gets SIGUSR2 (and, second round, `portico upgrade`); the
// new primary starts beside it on the inherited sockets, the old one drains and exits 0, and no
// client request fails and no connection is refused during the switch.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startGateway, runCli, type Gateway } from '../helpers/gateway.js'
import { startOrigin, type Origin } from '../helpers/origin.js'
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

const config = () => ({
  log: { level: 'info', access_log: false },
  server: { drain_timeout: '10s' },
  upstreams: { app: { targets: [{ url: origin.url }] } },
  routes: [{ name: 'all', paths: ['/*'], upstream: 'app' }],
})

async function statusPid(gw: Gateway): Promise<number> {
  const res = await request(`${gw.adminUrl}/status`)
  return ((await res.body.json()) as { pid: number }).pid
}

for (const mode of [{ name: 'cluster (2 workers)', args: ['--workers', '2'] }]) {
  test(`in-place upgrade, ${mode.name}: SIGUSR2 then portico upgrade; zero failed requests, zero refused connections`, { timeout: 250_000 }, async () => {
    const gw = await startGateway({ config: config(), args: ['--handoff', ...mode.args], readyTimeoutMs: 60_000 })
    gateways.push(gw)
    const url = `${gw.url}/x`
    const load = startLoad({ url, concurrency: 6 })
    await load.waitFor(50, 60_000)

    // Round 1: the signal.
    process.kill(gw.pid, 'SIGUSR2')
    const exit = await gw.exited
    assert.deepEqual(exit, { code: 0, signal: null }, 'the old primary drains and exits 0')
    const second = await pollUntil(async () => {
      const pid = await statusPid(gw)
      return pid !== gw.pid ? pid : null
    }, { timeoutMs: 60_000, what: 'the new primary on the admin socket' })
    await load.waitFor(50, 60_000)

    // Round 2: the CLI against the new primary (it was started with the inherited sockets, so it can hand over again).
    const cli = await runCli(['upgrade', '--pid', String(second), '--timeout', '60s'], { timeoutMs: 70_000 })
    assert.equal(cli.code, 0, cli.stderr)
    const third = await pollUntil(async () => {
      const pid = await statusPid(gw)
      return pid !== second ? pid : null
    }, { timeoutMs: 60_000, what: 'the third primary' })
    assert.notEqual(third, gw.pid)
    await load.waitFor(50, 60_000)
    const stats = await load.stop()

    assert.equal(stats.failed, 0, describe(stats))
    assert.ok(stats.ok > 150, describe(stats))
    assert.match(gw.stdout(), /upgrade: new primary is ready; draining this one/)
    // The last primary still serves after both old ones left.
    const res = await request(url)
    assert.equal(res.statusCode, 200)
    await res.body.dump()
  })
}

