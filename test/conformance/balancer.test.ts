// One conformance suite, run against every balancer (BALANCER_NAMES): what the cluster relies on
// whatever `balancer:` says. Each pick is driven by a simulated load: requests stay in flight for
// a few picks (Target.inFlight, as the exchange maintains it) and report a latency (Target.ewma, for
// the balancers that need one), with a different client address and path each time.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { BALANCER_NAMES, createBalancer } from '../../src/upstream/balancers/index.js'
import { observeLatency } from '../../src/upstream/balancers/p2c-ewma.js'
import { Target } from '../../src/upstream/target.js'
import type { Balancer } from '../../src/upstream/balancers/balancer.js'
import { fakeContext } from '../helpers/context.js'

const settings = { connections: 1, keepAliveTimeout: 1000 }
const target = (name: string, weight = 1) => new Target(`http://${name}:80`, weight, settings)
const nameOf = (t: Target | undefined) => (t === undefined ? '-' : new URL(t.url).hostname)

/** `n` picks under a steady load of `concurrency` requests in flight; returns the count per target name. */
function drive(bal: Balancer, n: number, concurrency = 8, latencyOf: (t: Target) => number = () => 10): Record<string, number> {
  const inFlight: Target[] = []
  const counts: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const c = fakeContext({ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, path: `/items/${i}` })
    const t = bal.pick(c)
    counts[nameOf(t)] = (counts[nameOf(t)] ?? 0) + 1
    if (t === undefined) continue
    t.inFlight++
    inFlight.push(t)
    if (inFlight.length > concurrency) {
      const done = inFlight.shift()!
      done.inFlight--
      if (bal.needsLatency) observeLatency(done, latencyOf(done), performance.now())
    }
  }
  for (const t of inFlight) t.inFlight--
  return counts
}

for (const name of BALANCER_NAMES) {
  describe(`balancer conformance: ${name}`, () => {
    test('no target → undefined (503 no_healthy_target), and it recovers when targets return', () => {
      const bal = createBalancer(name, [target('a')])
      bal.update([])
      assert.equal(bal.pick(fakeContext()), undefined)
      const b = target('b')
      bal.update([b])
      assert.equal(bal.pick(fakeContext()), b)
    })

    test('made with no target (discovery before its first answer), it serves the targets found later, and a reweighted one', () => {
      const bal = createBalancer(name, [])
      assert.equal(bal.pick(fakeContext()), undefined)
      const [a, b] = [target('a'), target('b')]
      bal.update([a, b])
      const counts = drive(bal, 4000)
      assert.ok((counts.a ?? 0) > 1000 && (counts.b ?? 0) > 1000, JSON.stringify(counts))
      a.weight = 3 // discovery changes weights in place, then calls update()
      bal.update([a, b])
      const after = drive(bal, 20_000)
      assert.ok(Math.abs((after.a ?? 0) / 20_000 - 0.75) <= 0.1, JSON.stringify(after))
    })

    test('picks only from the latest update(): a target taken out is never picked', () => {
      const [a, b, c] = [target('a'), target('b'), target('c')]
      const bal = createBalancer(name, [a, b, c])
      bal.update([b, c])
      const counts = drive(bal, 3000)
      assert.equal(counts.a, undefined, JSON.stringify(counts))
      assert.equal(counts['-'], undefined, JSON.stringify(counts))
    })

    test('every available target gets traffic (none starved under equal conditions)', () => {
      const ts = ['a', 'b', 'c', 'd', 'e'].map((n) => target(n))
      const counts = drive(createBalancer(name, ts), 5000)
      for (const t of ts) assert.ok((counts[nameOf(t)] ?? 0) > 5000 / ts.length / 3, `${nameOf(t)} starved: ${JSON.stringify(counts)}`)
    })

    test('weight 0 is never picked, and weights set the long-run shares (3:1 → 75% ± 10)', () => {
      const bal = createBalancer(name, [target('zero', 0), target('heavy', 3), target('light', 1)])
      const counts = drive(bal, 20_000)
      assert.equal(counts.zero, undefined, JSON.stringify(counts))
      const share = (counts.heavy ?? 0) / 20_000
      assert.ok(Math.abs(share - 0.75) <= 0.1, `heavy got ${(share * 100).toFixed(1)}%: ${JSON.stringify(counts)}`)
    })

    test('update() copies its list: changing the caller\'s array afterwards changes nothing', () => {
      const [a, b] = [target('a'), target('b')]
      const list = [a]
      const bal = createBalancer(name, list)
      bal.update(list)
      list.push(b)
      assert.equal(drive(bal, 500).b, undefined)
    })

    test('a pick costs no allocation that grows with the number of targets (1000 targets stay fast)', () => {
      const ts = Array.from({ length: 1000 }, (_, i) => target(`t${i}`))
      const bal = createBalancer(name, ts)
      const counts = drive(bal, 20_000)
      // A balancer that scanned or copied the list per pick would still pass this, but one that
      // lost targets (a table too small for 1000) would not: at least 60% of them get traffic.
      assert.ok(Object.keys(counts).length >= 600, `${Object.keys(counts).length} of 1000 targets picked`)
    })
  })
}
