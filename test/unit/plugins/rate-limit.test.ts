// rate-limit: the algorithms' arithmetic, the schema, the header fields, the local limiter, and the
// Lua script against its JavaScript twin on a real Redis (same sequences, same answers).
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { ALG_BUCKET, ALG_FIXED, ALG_GCRA, ALG_SLIDING, newOut, step, type LimitSpec, type LimitState } from '../../../src/plugins/rate-limit/algorithms.js'
import { LocalLimiter, LocalTable } from '../../../src/plugins/rate-limit/local.js'
import { RATE_LIMIT_SCRIPT, replyStride } from '../../../src/plugins/rate-limit/script.js'
import rateLimit, { compileLimits, policyField, rateLimitField } from '../../../src/plugins/rate-limit/index.js'
import { MemoryStore } from '../../../src/state/memory.js'
import { RedisStore } from '../../../src/state/redis.js'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { fakeContext } from '../../helpers/context.js'
import type { Store } from '../../../src/state/store.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { validatePluginConfig, isValidPluginConfig } from '../../helpers/plugin-config.js'

const spec = (alg: number, limit: number, windowMs: number, burst = limit): LimitSpec => ({ alg, limit, windowMs, burst })

/** Runs n requests at the given times against one state, committing allowed ones; returns the allowed flags. */
function run(s: LimitSpec, times: number[], state: LimitState = { a: 0, b: 0, c: 0 }): boolean[] {
  const out = newOut()
  return times.map((t) => {
    const ok = step(s, state, t, out)
    if (ok) Object.assign(state, { a: out.a, b: out.b, c: out.c })
    return ok
  })
}
const count = (xs: boolean[]) => xs.filter(Boolean).length
const burstAt = (t: number, n: number) => Array.from({ length: n }, () => t)

describe('algorithms', () => {
  const T0 = 1_700_000_000_000 // aligned to 1s and 10s windows

  for (const [name, alg] of [['fixed-window', ALG_FIXED], ['sliding-window', ALG_SLIDING], ['token-bucket', ALG_BUCKET], ['gcra', ALG_GCRA]] as const) {
    test(`${name}: a burst of 150 at one instant admits exactly 100`, () => {
      assert.equal(count(run(spec(alg, 100, 10_000), burstAt(T0 + 1, 150))), 100)
    })
    test(`${name}: a refused request reports a positive retry time; an allowed one none`, () => {
      const s = spec(alg, 2, 1000)
      const state = { a: 0, b: 0, c: 0 }
      run(s, [T0 + 10, T0 + 10], state)
      const out = newOut()
      assert.equal(step(s, state, T0 + 10, out), false)
      // sliding-window may need up to two windows: the refused counts move into the weighted previous one.
      assert.ok(out.retryMs > 0 && out.retryMs <= 2000, `retry ${out.retryMs}`)
      assert.equal(out.remaining, 0)
    })
  }

  test('fixed-window resets at the clock-aligned window edge', () => {
    const s = spec(ALG_FIXED, 3, 1000)
    const state = { a: 0, b: 0, c: 0 }
    assert.deepEqual(run(s, [T0 + 100, T0 + 200, T0 + 300, T0 + 999], state), [true, true, true, false])
    assert.deepEqual(run(s, [T0 + 1000], state), [true])
  })

  test('sliding-window weights the previous window', () => {
    const s = spec(ALG_SLIDING, 10, 1000)
    const state = { a: 0, b: 0, c: 0 }
    assert.equal(count(run(s, burstAt(T0 + 900, 10), state)), 10)
    // 250ms into the next window, 75% of the previous 10 still count: 2 more fit (7.5 + 2 <= 10).
    assert.equal(count(run(s, burstAt(T0 + 1250, 5), state)), 2)
    // Two windows later the old counts are gone.
    assert.equal(count(run(s, burstAt(T0 + 3000, 12), state)), 10)
  })

  test('token-bucket refills limit/window, up to burst', () => {
    const s = spec(ALG_BUCKET, 10, 1000, 20)
    const state = { a: 0, b: 0, c: 0 }
    assert.equal(count(run(s, burstAt(T0, 25), state)), 20)
    assert.equal(count(run(s, burstAt(T0 + 500, 10), state)), 5) // 500ms × 10/s
    assert.equal(count(run(s, burstAt(T0 + 60_000, 30), state)), 20) // never above burst
  })

  test('gcra spaces requests by window/limit after the burst', () => {
    const s = spec(ALG_GCRA, 10, 1000, 1)
    const state = { a: 0, b: 0, c: 0 }
    assert.deepEqual(run(s, [T0, T0 + 50, T0 + 100, T0 + 150, T0 + 200], state), [true, false, true, false, true])
  })

  test('remaining counts down to 0 and reset is within the window', () => {
    for (const alg of [ALG_FIXED, ALG_SLIDING, ALG_BUCKET, ALG_GCRA]) {
      const s = spec(alg, 5, 1000)
      const state = { a: 0, b: 0, c: 0 }
      const out = newOut()
      const seen: number[] = []
      for (let i = 0; i < 5; i++) {
        assert.ok(step(s, state, T0 + 1, out))
        Object.assign(state, { a: out.a, b: out.b, c: out.c })
        seen.push(out.remaining)
        assert.ok(out.resetMs > 0 && out.resetMs <= 1000, `alg ${alg} reset ${out.resetMs}`)
      }
      assert.deepEqual(seen, [4, 3, 2, 1, 0], `alg ${alg}`)
    }
  })
})

describe('local limiter', () => {
  test('a request refused by one limit consumes nothing from the others', () => {
    const perSecond = new LocalTable(spec(ALG_FIXED, 2, 1000), 1000)
    const perHour = new LocalTable(spec(ALG_FIXED, 100, 3_600_000), 1000)
    const l = new LocalLimiter([perSecond, perHour])
    const t = 1_700_000_000_000
    assert.equal(l.decide('a', t), true)
    assert.equal(l.decide('a', t), true)
    for (let i = 0; i < 10; i++) assert.equal(l.decide('a', t), false)
    assert.equal(perHour.map.get('a')!.b, 2)
    assert.equal(l.outs[1]!.remaining, 98)
    // Keys are independent.
    assert.equal(l.decide('b', t), true)
  })

  test('the table stays under max_keys (oldest dropped first)', () => {
    const t = new LocalTable(spec(ALG_FIXED, 5, 60_000), 100)
    const l = new LocalLimiter([t])
    for (let i = 0; i < 1000; i++) l.decide(`k${i}`, 1_700_000_000_000)
    assert.ok(t.map.size <= 100, `size ${t.map.size}`)
    assert.ok(t.map.has('k999'))
    assert.ok(!t.map.has('k0'))
  })
})

describe('schema and config', () => {
  test('accepts a typical config and fills defaults', () => {
    const c = { limits: [{ limit: 10 }, { limit: 1000, window: '1h', algorithm: 'token-bucket', burst: 50, name: 'hourly' }], key: 'header:x-api-key' }
    assert.doesNotThrow(() => validatePluginConfig('rate-limit', c))
    assert.equal((c as Record<string, unknown>).policy, 'local')
    assert.equal((c as Record<string, unknown>).failure_mode, 'open')
  })
  for (const [why, c] of [
    ['no limits', { limits: [] }],
    ['limit 0', { limits: [{ limit: 0 }] }],
    ['unknown algorithm', { limits: [{ limit: 1, algorithm: 'leaky' }] }],
    ['bad key', { limits: [{ limit: 1 }], key: 'cookie:sid' }],
    ['header key with a space', { limits: [{ limit: 1 }], key: 'header:x a' }],
    ['policy name with a quote', { limits: [{ limit: 1, name: 'a"b' }] }],
    ['unknown field', { limits: [{ limit: 1 }], redis_url: 'x' }],
    ['bad failure_mode', { limits: [{ limit: 1 }], failure_mode: 'maybe' }],
  ] as const) {
    test(`refuses ${why}`, () => assert.equal(isValidPluginConfig('rate-limit', structuredClone(c)), false))
  }

  test('limit names are derived and made unique; header fields follow draft-ietf-httpapi-ratelimit-headers', () => {
    const limits = compileLimits({ limits: [{ limit: 10, window: '1s' }, { limit: 10, window: '1s' }, { limit: 5, window: 1500, name: 'slow' }] })
    assert.deepEqual(limits.map((l) => l.name), ['10-per-1s', '10-per-1s-2', 'slow'])
    assert.equal(policyField(limits), '"10-per-1s";q=10;w=1, "10-per-1s-2";q=10;w=1, "slow";q=5;w=2')
    const outs = [newOut(), newOut(), newOut()]
    outs[0]!.remaining = 3
    outs[0]!.resetMs = 400
    outs[2]!.resetMs = 1001
    assert.equal(rateLimitField(limits, outs), '"10-per-1s";r=3;t=1, "10-per-1s-2";r=0;t=0, "slow";r=0;t=2')
  })

  test('policy redis without a Redis store is refused at create()', () => {
    assert.throws(() => rateLimit.create({ limits: [{ limit: 1 }], policy: 'redis' } as never, testPluginEnv()), /store\.redis/)
  })
})

describe('Lua script and JavaScript twin agree (real Redis)', () => {
  let redis: RedisServer
  let store: RedisStore
  const memory = new MemoryStore()
  before(async () => {
    redis = await startRedis()
    store = new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'unit:' })
    await store.ready()
  })
  after(async () => {
    await store.close()
    await memory.close()
    await redis.close()
  })

  for (const [name, alg] of [['fixed-window', ALG_FIXED], ['sliding-window', ALG_SLIDING], ['token-bucket', ALG_BUCKET], ['gcra', ALG_GCRA]] as const) {
    test(`${name}: 12 requests against limits 10/min and 5/min`, async () => {
      // Minute-long windows: a run of a few ms cannot cross an edge (except once an hour, at hh:mm:59.99).
      const args = [alg, 10, 60_000, 10, alg, 5, 60_000, 5]
      const keys = [`k-${name}-a`, `k-${name}-b`]
      const results: Array<[unknown, unknown]> = []
      for (let i = 0; i < 7; i++) results.push([await store.eval(RATE_LIMIT_SCRIPT, keys, args), await memory.eval(RATE_LIMIT_SCRIPT, keys, args)])
      for (const [r, m] of results) {
        const rr = r as number[]
        const mm = m as number[]
        assert.equal(rr[0], mm[0])
        // remaining equal; reset/retry within 1s of each other (the clocks differ by the call delay)
        assert.equal(rr[1], mm[1])
        assert.equal(rr[4], mm[4])
        assert.ok(Math.abs(rr[2]! - mm[2]!) < 1000 && Math.abs(rr[6]! - mm[6]!) < 1000, `${rr} vs ${mm}`)
      }
      assert.deepEqual(results.map(([r]) => (r as number[])[0]), [1, 1, 1, 1, 1, 0, 0])
      // The refused requests did not consume the 10/min limit: 5 used, 5 remaining.
      assert.equal((results[6]![0] as number[])[1], 5)
    })
  }

  for (const [name, alg] of [['fixed-window', ALG_FIXED], ['sliding-window', ALG_SLIDING], ['token-bucket', ALG_BUCKET], ['gcra', ALG_GCRA]] as const) {
    test(`${name}: a batch of 7 in one call answers as 7 calls in a row`, async () => {
      const args = [alg, 10, 60_000, 10, alg, 5, 60_000, 5]
      const one = [`b1-${name}-a`, `b1-${name}-b`]
      const batch = [`b7-${name}-a`, `b7-${name}-b`]
      const single: number[][] = []
      for (let i = 0; i < 7; i++) single.push((await store.eval(RATE_LIMIT_SCRIPT, one, args)) as number[])
      const stride = replyStride(2)
      for (const backend of [store, memory]) {
        const r = (await backend.eval(RATE_LIMIT_SCRIPT, batch.map((k) => `${k}-${backend.kind}`), [...args, 7])) as number[]
        assert.equal(r.length, 7 * stride)
        const per = Array.from({ length: 7 }, (_, i) => r.slice(i * stride, (i + 1) * stride))
        assert.deepEqual(per.map((x) => x[0]), [1, 1, 1, 1, 1, 0, 0], backend.kind)
        // remaining of both limits, request by request, as the single calls said
        assert.deepEqual(per.map((x) => [x[1], x[4]]), single.map((x) => [x[1], x[4]]), backend.kind)
      }
      // The batch committed its five units: the next single call sees 5/5 used.
      const next = (await store.eval(RATE_LIMIT_SCRIPT, batch.map((k) => `${k}-redis`), args)) as number[]
      assert.equal(next[0], 0)
      assert.equal(next[1], 5)
    })
  }
})

describe('redis policy: concurrent requests for one key share a script call', () => {
  let redis: RedisServer
  let store: RedisStore
  before(async () => {
    redis = await startRedis()
    store = new RedisStore({ url: redis.url, timeoutMs: 1000, prefix: 'batch:' })
    await store.ready()
  })
  after(async () => {
    await store.close()
    await redis.close()
  })

  test('40 concurrent requests, limit 25: one EVALSHA, exactly 25 admitted, in arrival order', async () => {
    let calls = 0
    const counting: Store = Object.assign(Object.create(store) as Store, {
      eval: (...a: Parameters<Store['eval']>) => {
        calls++
        return store.eval(...a)
      },
    })
    const inst = rateLimit.create({ policy: 'redis', key: 'route', limits: [{ limit: 25, window: '1h' }] } as never, testPluginEnv('batch', counting))
    const verdicts = await Promise.all(Array.from({ length: 40 }, () => inst.access!(fakeContext({ route: 'batch' }))))
    const admitted = verdicts.map((v) => v === undefined)
    assert.equal(calls, 1)
    assert.deepEqual(admitted, [...Array<boolean>(25).fill(true), ...Array<boolean>(15).fill(false)])
    // A second wave is decided against what the first committed.
    const again = await inst.access!(fakeContext({ route: 'batch' }))
    assert.equal((again as { status?: number } | undefined)?.status, 429)
  })
})

describe('config validation', () => {
  test('policy redis without store.redis is reported at its YAML path', async () => {
    const { loadConfigText } = await import('../../../src/config/load.js')
    const { formatErrors } = await import('../../../src/config/errors.js')
    const r = loadConfigText(
      `upstreams: { o: { targets: [ { url: "http://127.0.0.1:1" } ] } }
routes:
  - name: r
    paths: [/x]
    upstream: o
    plugins: [ { name: rate-limit, config: { policy: redis, limits: [ { limit: 1 } ] } } ]
`,
      'rl.yaml', { checks: INSTALLED_CHECKS })
    assert.ok(!r.ok)
    assert.match(formatErrors(r.errors), /routes\[0\]\.plugins\[0\]\.config\.policy[\s\S]*store\.redis/)
  })
})
