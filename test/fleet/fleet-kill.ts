// SIGKILL of one instance of the real fleet (test/fleet/fleet.ts) under load: HAProxy's /readyz
// checks eject it, and its retries (retry-on conn-failure empty-response …, option redispatch)
// send idempotent requests that hit the dead instance to another one: zero failed GETs. POSTs
// are not retried by HAProxy once sent; how many of them fail is counted and reported.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Fleet } from './fleet.js'
import { describe, startLoad } from './load.js'

/** The test, on the fleet `current()` returns (test/fleet/fleet.test.ts); gw2 ends up on its old build again. */
export function killScenarios(current: () => Fleet): void {
  test('SIGKILL of gw2 under load: the LB ejects it, zero failed GETs; it comes back after a restart', { timeout: 200_000 }, async (t) => {
    const fleet = current()
    const gets = startLoad({ url: `${fleet.lb.url}/users/1`, concurrency: 6, by: 'x-served-by' })
    const posts = startLoad({ url: `${fleet.lb.url}/orders`, concurrency: 2, method: 'POST', connections: 'keepalive' })
    await gets.waitFor(100, 60_000)
    const victim = fleet.instances[1]!
    await victim.kill()
    await fleet.waitLb('DOWN', [victim.name])
    const servedBefore = gets.stats.by[victim.name] ?? 0
    await gets.waitFor(150, 60_000)
    assert.equal(gets.stats.by[victim.name] ?? 0, servedBefore, 'an ejected instance gets no traffic')

    await victim.start()
    await fleet.waitLb('UP', [victim.name])
    await gets.waitFor(100, 60_000)
    assert.ok((gets.stats.by[victim.name] ?? 0) > servedBefore, 'the restarted instance serves again')
    const g = await gets.stop()
    const p = await posts.stop()
    t.diagnostic(`GET: ${describe(g)}`)
    t.diagnostic(`POST (not retried once sent): ${describe(p)}`)
    assert.equal(g.failed, 0, describe(g))
    // POSTs in flight on the killed instance may fail; never more than the concurrency of that load.
    assert.ok(p.failed <= 2, describe(p))
  })
}
