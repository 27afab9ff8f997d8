// Micro-benchmark of the rate-limit local policy: one decision (LocalLimiter.decide) for one and for
// two limits, over a hot key and over 10 000 keys, and the whole access handler (key extraction,
// decision, RateLimit headers) on a fake context. Prints ns/op per case.
// Run: node --import tsx bench/micro/rate-limit.ts
import { ALG_BUCKET, ALG_FIXED, ALG_GCRA, ALG_SLIDING } from '../../src/plugins/rate-limit/algorithms.js'
import { LocalLimiter, LocalTable } from '../../src/plugins/rate-limit/local.js'
import rateLimit from '../../src/plugins/rate-limit/index.js'
import { RequestContext } from '../../src/core/context.js'
import { MemoryStore } from '../../src/state/memory.js'
import { createLogger } from '../../src/observability/logger.js'
import type { IncomingMessage, ServerResponse } from 'node:http'

function bench(name: string, fn: (i: number) => unknown): void {
  // Warm-up so V8 optimizes the path, then the best of five rounds (least disturbed by GC and
  // the other processes on the machine).
  for (let i = 0; i < 200_000; i++) fn(i)
  const n = 1_000_000
  let best = Infinity
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) fn(i)
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n)
  }
  console.log(`${name.padEnd(52)} ${best.toFixed(1).padStart(8)} ns/op`)
}

// Limits high enough never to refuse, so every call commits (the expensive branch).
const HIGH = 1_000_000_000
const table = (alg: number) => new LocalTable({ alg, limit: HIGH, windowMs: 1000, burst: HIGH }, 100_000)
const keys = Array.from({ length: 10_000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`)

console.log(`rate-limit micro-benchmark, node ${process.version}`)
for (const [name, alg] of [['fixed-window', ALG_FIXED], ['sliding-window', ALG_SLIDING], ['token-bucket', ALG_BUCKET], ['gcra', ALG_GCRA]] as const) {
  const l = new LocalLimiter([table(alg)])
  bench(`decide ${name}, one hot key`, () => l.decide('10.0.0.1', Date.now()))
}
const two = new LocalLimiter([table(ALG_SLIDING), new LocalTable({ alg: ALG_SLIDING, limit: HIGH, windowMs: 3_600_000, burst: HIGH }, 100_000)])
bench('decide sliding-window, two limits, one hot key', () => two.decide('10.0.0.1', Date.now()))
const many = new LocalLimiter([table(ALG_SLIDING)])
bench('decide sliding-window, 10 000 keys round robin', (i) => many.decide(keys[i % 10_000]!, Date.now()))

const memory = new MemoryStore()
const inst = rateLimit.create(
  { limits: [{ limit: HIGH, window: '1s' }], key: 'ip' } as never,
  { logger: createLogger('silent'), route: 'bench', store: memory, memory },
)
const req = { method: 'GET', headers: {} } as IncomingMessage
const ctx = new RequestContext(req, {} as ServerResponse, 'id', 0)
ctx.clientIp = '10.0.0.1'
ctx.routeName = 'bench'
bench('access handler (key + decision + RateLimit headers)', () => {
  ctx.responseHeaders = null
  return inst.access!(ctx)
})
await memory.close()
