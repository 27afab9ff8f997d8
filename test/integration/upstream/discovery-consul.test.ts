// Consul discovery through a real gateway, against a STAND-IN Consul (test/helpers/consul.ts):
// Consul cannot be installed here, so the stand-in implements the documented HTTP API subset the
// source uses — /v1/health/service/:service with passing/tag/dc, X-Consul-Index, blocking
// queries (index + wait), ACL tokens (X-Consul-Token) — following
// https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service and
// https://developer.hashicorp.com/consul/api-docs/features/blocking .
// Under a bounded load with zero failed requests: instances join and leave within the watch
// latency, a failing instance is never picked, an outage keeps the last set, recovery resumes
// the blocking queries.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startInProc } from '../../helpers/inproc.js'
import { startConsul, type ConsulStandIn } from '../../helpers/consul.js'
import { pollUntil } from '../../helpers/poll.js'
import { killableOrigin, metric, type Killable } from './helpers.js'
import { clusterOf, seen, startLoad } from './discovery-load.js'
import { ConsulDiscovery } from '../../../src/upstream/discovery/consul.js'

let consul: ConsulStandIn
const o: Record<string, Killable> = {}
before(async () => {
  consul = await startConsul({ token: 's3cret-token' })
  for (const n of ['a', 'b', 'c', 'sick']) o[n] = await killableOrigin(n)
})
after(async () => {
  await consul.close()
  for (const k of Object.values(o)) await k.close()
})
const inst = (n: string, extra: Partial<Parameters<ConsulStandIn['set']>[1][number]> = {}) => ({ id: n, address: '127.0.0.1', port: o[n]!.port, ...extra })

test('consul: join, leave, failing checks never picked, outage keeps the last set, recovery resumes — zero failed requests under load', async () => {
  consul.set('users', [inst('a', { tags: ['v1'], meta: { version: '1.2' }, weight: 3 }), inst('sick', { checks: ['passing', 'critical'] })])
  const gw = await startInProc(`upstreams:
  users:
    discovery: { consul: { servers: [${consul.url}], service: users, dc: dc1, token: s3cret-token, wait: 2s, timeout: 500ms } }
routes:
  - { name: r, paths: [/x], upstream: users }
`)
  const load = startLoad(`${gw.url}/x`)
  try {
    assert.deepEqual(await seen(gw, 5), ['a'])
    const st = clusterOf(gw).status()
    assert.equal(st.discovery, 'consul')
    assert.deepEqual(st.targets.map((t) => [t.weight, t.meta?.tags, t.meta?.version, t.meta?.dc]), [[3, 'v1', '1.2', 'dc1']])

    const t0 = performance.now()
    consul.set('users', [inst('a'), inst('b'), inst('sick', { checks: ['warning'] })])
    await pollUntil(() => (load.by.get('b') ?? 0) > 0, { what: 'b joins (answers under load)', timeoutMs: 3000 })
    const joinMs = performance.now() - t0
    const blockingBefore = consul.blocking
    assert.ok(blockingBefore > 0, 'the source uses blocking queries')

    consul.set('users', [inst('b'), inst('sick', { checks: ['critical'] })])
    await pollUntil(async () => (await seen(gw, 10)).join() === 'b', { what: 'a leaves', timeoutMs: 3000 })

    // Outage: the agent goes away; the last set keeps serving, the failure is counted.
    await consul.down()
    await pollUntil(async () => ((await metric('portico_discovery_errors_total', { upstream: 'users', source: 'consul' })) ?? 0) > 0, { what: 'failure counted' })
    assert.equal(await metric('portico_discovery_up', { upstream: 'users', source: 'consul' }), 0)
    assert.deepEqual(await seen(gw, 20), ['b'], 'last known set while Consul is down')
    // Back, with a change made while it was away: the source picks it up.
    consul.set('users', [inst('b'), inst('c')])
    await consul.up()
    await pollUntil(() => (load.by.get('c') ?? 0) > 0, { what: 'resumed after the outage: c answers', timeoutMs: 10_000 })
    assert.equal(await metric('portico_discovery_up', { upstream: 'users', source: 'consul' }), 1)
    await load.stop()
    assert.deepEqual(load.failed, [], 'no request failed')
    assert.ok(load.ok > 50, `requests served under load: ${load.ok}`)
    assert.equal(o.sick!.hits, 0, 'an instance with a failing check is never picked')
    console.log(`consul join seen ${joinMs.toFixed(0)} ms after the change; ${load.ok} requests under load, 0 failed`)
  } finally {
    await load.stop()
    await gw.close()
  }
})

test('consul: blocking queries hold until the wait runs out (no change: nothing published), tag filter, an index going backwards resets', async () => {
  consul.set('tagged', [inst('a', { tags: ['blue'] }), inst('b', { tags: ['green'] })])
  const lists: string[][] = []
  const src = new ConsulDiscovery(
    { servers: [consul.url], service: 'tagged', dc: undefined, tags: ['blue'], namespace: undefined, token: 's3cret-token', scheme: 'http', waitMs: 1000, timeoutMs: 500 },
    { name: 'u', logger: undefined, setTargets: (l) => void lists.push(l.map((t) => t.url)) },
  )
  try {
    src.start()
    await src.firstAttempt
    assert.deepEqual(lists, [[o.a!.url]])
    const expired = consul.waitsExpired
    await pollUntil(() => consul.waitsExpired >= expired + 2, { what: 'two blocking waits ran out', timeoutMs: 6000 })
    assert.equal(lists.length, 1, 'an unchanged index publishes nothing')
    // Consul's index can go backwards (a snapshot restore): the source starts over from 0.
    consul.index = 0
    consul.set('tagged', [inst('a', { tags: ['blue'] }), inst('c', { tags: ['blue'] })])
    await pollUntil(() => lists.at(-1)?.join() === [o.a!.url, o.c!.url].sort().join(), { what: 'change after index reset', timeoutMs: 4000 })
    assert.ok(src.healthy())
  } finally {
    await src.close()
  }
})

test('consul: a wrong ACL token, an unknown dc and a hanging agent are failures that keep the last set (none published)', async () => {
  for (const [cfg, what] of [
    [{ token: 'wrong' }, 'auth'],
    [{ dc: 'mars' }, 'http_status'],
  ] as const) {
    consul.set('users', [inst('a')])
    const lists: string[][] = []
    const policy = { servers: [consul.url], service: 'users', dc: undefined, tags: [], namespace: undefined, token: 's3cret-token', scheme: 'http' as const, waitMs: 1000, timeoutMs: 300 }
    const src = new ConsulDiscovery(
      { ...policy, ...cfg },
      { name: `bad-${what}`, logger: undefined, setTargets: (l) => void lists.push(l.map((t) => t.url)) },
    )
    try {
      src.start()
      await src.firstAttempt
      assert.equal(src.healthy(), false)
      assert.deepEqual(lists, [])
      assert.ok(((await metric('portico_discovery_errors_total', { upstream: `bad-${what}`, reason: what })) ?? 0) >= 1, what)
    } finally {
      await src.close()
    }
  }
  // A hanging agent: the first answer came, then every query hangs; the source times out (wait + timeout) and keeps its set.
  const lists: string[][] = []
  const src = new ConsulDiscovery(
    { servers: [consul.url], service: 'users', dc: undefined, tags: [], namespace: undefined, token: 's3cret-token', scheme: 'http', waitMs: 1000, timeoutMs: 300 },
    { name: 'hang', logger: undefined, setTargets: (l) => void lists.push(l.map((t) => t.url)) },
  )
  try {
    src.start()
    await src.firstAttempt
    consul.hang = true
    await pollUntil(() => !src.healthy(), { what: 'hanging query timed out', timeoutMs: 6000 })
    assert.deepEqual(lists, [[o.a!.url]])
    consul.hang = false
    consul.set('users', [inst('b')])
    await pollUntil(() => lists.at(-1)?.[0] === o.b!.url, { what: 'recovered after the hang', timeoutMs: 15_000 })
  } finally {
    consul.hang = false
    await src.close()
  }
})
