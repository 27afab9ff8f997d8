// Balancers: distribution, weights, availability updates, and consistent hashing's ~1/N movement.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createBalancer } from '../../../src/upstream/balancers/index.js'
import { ConsistentHash, cookieValue, hash32, hashKeyReader } from '../../../src/upstream/balancers/consistent-hash.js'
import { observeLatency } from '../../../src/upstream/balancers/p2c-ewma.js'
import { Target } from '../../../src/upstream/target.js'
import { RequestContext } from '../../../src/core/context.js'

const settings = { connections: 1, keepAliveTimeout: 1000 }
const t = (name: string, weight = 1) => new Target(`http://${name}:80`, weight, settings)
const host = (x: Target | undefined) => (x === undefined ? '-' : new URL(x.url).hostname)

function ctx(opts: { ip?: string; path?: string; headers?: Record<string, string> } = {}): RequestContext {
  const req = { method: 'GET', headers: opts.headers ?? {} } as unknown as IncomingMessage
  const c = new RequestContext(req, {} as ServerResponse, 'id', 0)
  c.clientIp = opts.ip ?? '10.0.0.1'
  c.path = opts.path ?? '/'
  return c
}

function shares(pick: () => Target | undefined, n: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const h = host(pick())
    out[h] = (out[h] ?? 0) + 1
  }
  return out
}

// What every balancer promises (empty set, update(), weight 0, shares) is test/conformance/balancer.test.ts.

test('random: weighted shares within a few percent', () => {
  const bal = createBalancer('random', [t('a', 3), t('b', 1)])
  const s = shares(() => bal.pick(ctx()), 40_000)
  assert.ok(Math.abs(s.a! / 40_000 - 0.75) < 0.02, JSON.stringify(s))
})

test('least-connections: the target with fewest in-flight (per weight) wins; ties rotate', () => {
  const [a, b, c] = [t('a'), t('b'), t('c')]
  const bal = createBalancer('least-connections', [a, b, c])
  a.inFlight = 5
  b.inFlight = 1
  c.inFlight = 3
  assert.equal(bal.pick(ctx()), b)
  a.inFlight = b.inFlight = c.inFlight = 0
  assert.deepEqual(shares(() => bal.pick(ctx()), 300), { a: 100, b: 100, c: 100 })
  // weight 2 with 3 in flight beats weight 1 with 2 in flight: (3+1)/2 < (2+1)/1
  const [h, l] = [t('h', 2), t('l', 1)]
  h.inFlight = 3
  l.inFlight = 2
  assert.equal(createBalancer('least-connections', [h, l]).pick(ctx()), h)
})

test('p2c-ewma: a slow target gets a small share; in-flight counts too', () => {
  const [a, b, c] = [t('a'), t('b'), t('c')]
  const bal = createBalancer('p2c-ewma', [a, b, c])
  assert.equal(bal.needsLatency, true)
  const now = performance.now()
  observeLatency(a, 2, now)
  observeLatency(b, 2, now)
  observeLatency(c, 200, now)
  const s = shares(() => bal.pick(ctx()), 3000)
  // c only wins when both draws are c, which p2c never does: it can only lose.
  assert.equal(s.c ?? 0, 0, JSON.stringify(s))
  // Many requests stuck on a makes it costlier than b.
  a.inFlight = 50
  const s2 = shares(() => bal.pick(ctx()), 3000)
  assert.ok((s2.b ?? 0) > (s2.a ?? 0), JSON.stringify(s2))
})

test('p2c-ewma: peak EWMA jumps up at once and decays down with time', () => {
  const a = t('a')
  observeLatency(a, 10, 0)
  assert.equal(a.ewma, 10)
  observeLatency(a, 100, 1)
  assert.equal(a.ewma, 100)
  observeLatency(a, 10, 10_001) // one time constant later: ~ 10 + 90/e
  assert.ok(a.ewma > 40 && a.ewma < 45, String(a.ewma))
})

test('consistent-hash: the same key always lands on the same target', () => {
  const bal = createBalancer('consistent-hash', [t('a'), t('b'), t('c')], { hashOn: 'header:x-user' })
  for (let i = 0; i < 100; i++) {
    const c = ctx({ headers: { 'x-user': `user-${i}` } })
    const first = bal.pick(c)
    for (let k = 0; k < 3; k++) assert.equal(bal.pick(c), first)
  }
})

test('consistent-hash: keys spread evenly (±25%) over equal targets', () => {
  const ts = [t('a'), t('b'), t('c'), t('d')]
  const ring = new ConsistentHash(ts, hashKeyReader('path'))
  const s = shares(() => ring.lookup(hash32(String(Math.random()))), 40_000)
  for (const h of ['a', 'b', 'c', 'd']) assert.ok(Math.abs(s[h]! - 10_000) < 2_500, JSON.stringify(s))
})

test('consistent-hash: removing one of N targets moves only its keys (~1/N); adding one moves ~1/(N+1)', () => {
  const ts = Array.from({ length: 5 }, (_, i) => t(`t${i}`))
  const ring = new ConsistentHash(ts, hashKeyReader('path'))
  const keys = Array.from({ length: 20_000 }, (_, i) => hash32(`key-${i}`))
  const before = keys.map((k) => ring.lookup(k))
  ring.update(ts.filter((x) => x !== ts[2]))
  const after = keys.map((k) => ring.lookup(k))
  let moved = 0
  for (let i = 0; i < keys.length; i++) {
    if (before[i] !== after[i]) {
      moved++
      assert.equal(before[i], ts[2], 'only keys of the removed target may move')
    }
  }
  assert.ok(moved / keys.length < 1 / 5 + 0.05, `moved ${moved}`)
  // Adding it back restores every key exactly.
  ring.update(ts)
  assert.deepEqual(keys.map((k) => ring.lookup(k)), before)
  // A sixth target takes ~1/6 of keys, and only for itself.
  const six = [...ts, t('t5')]
  const ring6 = new ConsistentHash(six, hashKeyReader('path'))
  let moved6 = 0
  keys.forEach((k, i) => {
    const o = ring6.lookup(k)
    if (o !== before[i]) {
      moved6++
      assert.equal(o, six[5])
    }
  })
  assert.ok(moved6 / keys.length < 1 / 6 + 0.05 && moved6 / keys.length > 1 / 6 - 0.06, `moved ${moved6}`)
})

test('consistent-hash: hash_on keys (ip, path, header, cookie); a missing key still gets a target', () => {
  assert.equal(hashKeyReader('ip')(ctx({ ip: '1.2.3.4' })), '1.2.3.4')
  assert.equal(hashKeyReader('path')(ctx({ path: '/x/y' })), '/x/y')
  assert.equal(hashKeyReader('header:X-User')(ctx({ headers: { 'x-user': 'u1' } })), 'u1')
  assert.equal(hashKeyReader('header:x-user')(ctx()), undefined)
  assert.equal(hashKeyReader('cookie:sid')(ctx({ headers: { cookie: 'a=1; sid=abc; b=2' } })), 'abc')
  assert.equal(cookieValue('xsid=1; sid=2', 'sid'), '2')
  assert.equal(cookieValue('sid=', 'sid'), undefined)
  assert.equal(cookieValue(undefined, 'sid'), undefined)
  const bal = createBalancer('consistent-hash', [t('a'), t('b')], { hashOn: 'cookie:sid' })
  assert.ok(bal.pick(ctx()) !== undefined)
  assert.throws(() => hashKeyReader('query:x'))
})

test('consistent-hash: weights give proportional shares', () => {
  const ring = new ConsistentHash([t('a', 3), t('b', 1)], hashKeyReader('path'))
  const s = shares(() => ring.lookup(hash32(String(Math.random()))), 40_000)
  assert.ok(Math.abs(s.a! / 40_000 - 0.75) < 0.05, JSON.stringify(s))
})
