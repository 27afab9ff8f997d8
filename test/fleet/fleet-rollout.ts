// Rolling upgrade and canary of the gateway itself, through the real fleet (test/fleet/fleet.ts:
// HAProxy → three Portico instances in network namespaces → Redis, etcd, origins). The "new
// version" is the build label each instance gets from its environment (PORTICO_BUILD, sent back
// as x-portico-build), so every answer says which version served it.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Fleet } from './fleet.js'
import { describe, shareSince, startLoad, type Load } from './load.js'

let fleet: Fleet
let load: Load

/**
 * The tests, in this order, on the fleet `current()` returns (test/fleet/fleet.test.ts), which
 * must have every instance up on v1 at weight 100; they leave every instance on v2.
 */
export function rolloutScenarios(current: () => Fleet): void {
  before(async () => {
    fleet = current()
    load = startLoad({ url: `${fleet.lb.url}/users/1`, concurrency: 6, by: 'x-portico-build' })
    await load.waitFor(60, 60_000)
  })
  after(async () => {
    await load?.stop()
  })

  async function measure(n: number): Promise<(build: string) => { share: number; total: number }> {
    const before = { ...load.stats.by }
    await load.waitFor(n, 60_000)
    const snap = { ...load.stats.by }
    return (build) => shareSince({ ...load.stats, by: snap }, before, build)
  }

  test('canary: gw3 on v2 takes its weighted share at the LB (weight 10 of 210, then 100 of 300), no request fails', { timeout: 200_000 }, async () => {
    const { lb } = fleet
    // The canary's weight is set before it comes back, so it never takes more than its share.
    await lb.command('set server gateways/gw3 weight 10')
    await fleet.roll(2, 'v2')
    const small = (await measure(300))('v2')
    assert.ok(small.share > 0 && small.share < 0.15, `v2 share at weight 10/210: ${JSON.stringify(small)}`)

    await lb.command('set server gateways/gw3 weight 100')
    const third = (await measure(300))('v2')
    assert.ok(third.share > 0.2 && third.share < 0.5, `v2 share at weight 100/300: ${JSON.stringify(third)}`)
    assert.equal(load.stats.failed, 0, describe(load.stats))
  })

  test('rolling upgrade of the rest: drain at the LB → SIGTERM → start on v2 → ready → next; zero failed requests; then all on v2', { timeout: 200_000 }, async () => {
    await fleet.roll(0, 'v2')
    await fleet.roll(1, 'v2')
    const all = (await measure(150))('v2')
    assert.equal(all.share, 1, `after the roll every answer comes from v2: ${JSON.stringify(load.stats.by)}`)
    const stats = await load.stop()
    assert.equal(stats.failed, 0, describe(stats))
    for (const g of fleet.instances) assert.equal(g.build, 'v2')
  })
}
