// Micro-benchmark of choosing a target: ns per pick for each balancer over 3 and 10 targets, and
// for Cluster.pick() (what the handler calls). The brief: well under a microsecond.
// Run: node --import tsx bench/micro/balancers.ts
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createBalancer } from '../../src/upstream/balancers/index.js'
import { observeLatency } from '../../src/upstream/balancers/p2c-ewma.js'
import { Target } from '../../src/upstream/target.js'
import { RequestContext } from '../../src/core/context.js'

function bench(name: string, fn: () => unknown): void {
  // Warm-up long enough for V8 to optimize the path, then the best of five rounds (least disturbed
  // by GC and the other processes on the machine).
  for (let i = 0; i < 200_000; i++) fn()
  const n = 1_000_000
  let best = Infinity
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) fn()
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n)
  }
  console.log(`${name.padEnd(52)} ${best.toFixed(1).padStart(8)} ns/pick`)
}

const settings = { connections: 1, keepAliveTimeout: 1000 }
const req = { method: 'GET', headers: { 'x-user': 'user-12345', cookie: 'theme=dark; sid=abcdef0123456789' } } as unknown as IncomingMessage
const ctx = new RequestContext(req, {} as ServerResponse, 'id', 0)
ctx.clientIp = '203.0.113.77'
ctx.path = '/api/v1/users/12345'

console.log(`balancer micro-benchmark, node ${process.version}`)
for (const n of [3, 10]) {
  const equal = Array.from({ length: n }, (_, i) => new Target(`http://10.0.0.${i + 1}:8080`, 1, settings))
  const weighted = Array.from({ length: n }, (_, i) => new Target(`http://10.0.1.${i + 1}:8080`, 1 + (i % 3), settings))
  const now = performance.now()
  equal.forEach((t, i) => {
    t.inFlight = i % 4
    observeLatency(t, 1 + i, now)
  })
  weighted.forEach((t, i) => (t.inFlight = (i * 7) % 5))
  const cases: Array<[string, ReturnType<typeof createBalancer>]> = [
    ['round-robin', createBalancer('round-robin', equal)],
    ['round-robin (weighted)', createBalancer('round-robin', weighted)],
    ['least-connections', createBalancer('least-connections', equal)],
    ['least-connections (weighted)', createBalancer('least-connections', weighted)],
    ['random', createBalancer('random', equal)],
    ['random (weighted)', createBalancer('random', weighted)],
    ['p2c-ewma', createBalancer('p2c-ewma', equal)],
    ['consistent-hash ip', createBalancer('consistent-hash', equal, { hashOn: 'ip' })],
    ['consistent-hash header:x-user', createBalancer('consistent-hash', equal, { hashOn: 'header:x-user' })],
    ['consistent-hash cookie:sid', createBalancer('consistent-hash', equal, { hashOn: 'cookie:sid' })],
    ['consistent-hash path', createBalancer('consistent-hash', weighted, { hashOn: 'path' })],
  ]
  for (const [name, b] of cases) bench(`${name}, ${n} targets`, () => b.pick(ctx))
}
