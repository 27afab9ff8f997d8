// In-place upgrade on one machine with no load balancer (nginx's binary upgrade): a real
// `portico start --handoff` under load gets `portico upgrade` (SIGUSR2; single-process mode here; cluster mode in inplace-upgrade.test.ts); the
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

test('in-place upgrade, single process: portico upgrade (SIGUSR2); zero failed requests, zero refused connections', { timeout: 200_000 }, async () => {
  const gw = await startGateway({ config: config(), args: ['--handoff', '--no-cluster'], readyTimeoutMs: 90_000 })
  gateways.push(gw)
  const load = startLoad({ url: `${gw.url}/x`, concurrency: 6 })
  await load.waitFor(50, 60_000)
  const cli = await runCli(['upgrade', '--pid', String(gw.pid), '--timeout', '120s'], { timeoutMs: 130_000 })
  assert.equal(cli.code, 0, cli.stderr)
  assert.match(cli.stdout, /handed over and exited/)
  assert.deepEqual(await gw.exited, { code: 0, signal: null }, 'the old process drains and exits 0')
  const next = await pollUntil(async () => {
    const pid = await statusPid(gw)
    return pid !== gw.pid ? pid : null
  }, { timeoutMs: 60_000, what: 'the new process on the admin socket' })
  assert.ok(next > 0)
  await load.waitFor(50, 60_000)
  const stats = await load.stop()
  assert.equal(stats.failed, 0, describe(stats))
})

test('SIGUSR2 without --handoff keeps the instance running and says why', { timeout: 120_000 }, async () => {
  const gw = await startGateway({ config: config(), args: ['--no-cluster'], readyTimeoutMs: 90_000 })
  gateways.push(gw)
  process.kill(gw.pid, 'SIGUSR2')
  await gw.waitForOutput(/in-place upgrade needs `portico start --handoff`/)
  const res = await request(`${gw.url}/x`)
  assert.equal(res.statusCode, 200)
  await res.body.dump()
})
