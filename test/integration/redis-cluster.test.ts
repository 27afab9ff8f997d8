// The Store on a real Redis Cluster (six redis-server processes, three masters with a replica
// each, started by test/helpers/redis-cluster.ts and shared by this file): the fleet scenario
// (failover-scenario.ts: exact limits across three gateways, a master killed under load) and the
// rule that no key shape can make a rate-limit decision span two slots (no CROSSSLOT), and sharded
// pub/sub across the failover of the channel's shard.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import calculateSlot, { generateMulti } from 'cluster-key-slot'
import { startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js'
import { failoverScenario } from './state/failover-scenario.js'
import { RedisStore } from '../../src/state/redis.js'
import { pollUntil } from '../helpers/poll.js'
import { exitWhenDone } from '../helpers/exit-watchdog.js'
import { RATE_LIMIT_SCRIPT } from '../../src/plugins/rate-limit/script.js'
import { rateLimitKeys } from '../../src/plugins/rate-limit/index.js'

let cluster: RedisClusterServer
let started: Promise<RedisClusterServer> | undefined
const shared = () => (started ??= startRedisCluster().then((c) => (cluster = c)))
after(() => cluster?.close())

/** Random key values of every shape a client can send: braces, percent signs, unicode, long. */
function generatedKey(i: number): string {
  const alphabet = ['{', '}', '%', '|', ':', 'a', 'Z', '0', ' ', 'é', '中', '{}', '}{', '%7B', '\u0000']
  let s = ''
  const n = 1 + (i % 40)
  for (let j = 0; j < n; j++) s += alphabet[Math.floor(Math.random() * alphabet.length)]!
  return s
}

describe('Redis Cluster: no CROSSSLOT for any key shape', () => {
  let store: RedisStore
  before(async () => {
    const c = await shared()
    store = new RedisStore({ cluster: { nodes: c.nodes }, timeoutMs: 1000 })
    await store.ready()
  })
  after(() => store?.close())

  test('every generated key keeps a decision in one slot, and keys spread over the slots', async () => {
    // Three limits on one use, and scopes that are route names or '*' (a global use).
    const suffixes = [':0:10:1000:10', ':1:100:60000:100', ':2:5:1000:5']
    const args = [0, 10, 1000, 10, 1, 100, 60000, 100, 2, 5, 1000, 5]
    const slots = new Set<number>()
    for (let i = 0; i < 400; i++) {
      const scope = i % 2 === 0 ? '*' : `route-${i % 7}`
      const keys = rateLimitKeys(scope, generatedKey(i), suffixes)
      const full = keys.map((k) => `portico:${k}`)
      assert.notEqual(generateMulti(full), -1, `keys in several slots: ${JSON.stringify(full)}`)
      slots.add(calculateSlot(full[0]!))
      // The real script on the real cluster: a CROSSSLOT (or any) error would reject.
      const r = (await store.eval(RATE_LIMIT_SCRIPT, keys, args)) as number[]
      assert.equal(r.length, 1 + 3 * suffixes.length)
    }
    assert.ok(slots.size > 300, `decisions spread over ${slots.size} slots only`)
  })

  test('keys that differ only by escaping stay distinct counters', () => {
    const a = rateLimitKeys('r', 'a{b', [':x'])[0]
    const b = rateLimitKeys('r', 'a%7Bb', [':x'])[0]
    assert.notEqual(a, b)
  })

  test('keys in different slots are refused before they reach Redis, with a clear error', async () => {
    await assert.rejects(store.eval(RATE_LIMIT_SCRIPT, ['rl:{a}:1', 'rl:{b}:1'], [0, 1, 1000, 1, 0, 1, 1000, 1]), /different cluster slots/)
  })
})

describe('Redis Cluster: sharded pub/sub', () => {
  test('a subscriber keeps receiving after the channel\'s shard fails over', async () => {
    const c = await shared()
    const sub = new RedisStore({ cluster: { nodes: c.nodes }, timeoutMs: 500 })
    const pub = new RedisStore({ cluster: { nodes: c.nodes }, timeoutMs: 500 })
    let killed: number | undefined
    try {
      await Promise.all([sub.ready(), pub.ready()])
      const got: string[] = []
      await sub.subscribe('revocations', (m) => got.push(m))
      await pollUntil(async () => (await pub.publish('revocations', 'before'), got.includes('before')), { what: 'message before the failover', timeoutMs: 5000, intervalMs: 100 })
      killed = await c.masterOf(calculateSlot('portico:revocations'))
      await c.stopNode(killed)
      await c.waitHealthy(30_000)
      // Published until it arrives: the subscriber re-subscribes on the promoted replica.
      await pollUntil(async () => (await pub.publish('revocations', 'after').catch(() => undefined), got.includes('after')), { what: 'message after the failover', timeoutMs: 10_000, intervalMs: 50 })
    } finally {
      await Promise.all([sub.close(), pub.close()])
      if (killed !== undefined) {
        await c.startNode(killed)
        await c.waitHealthy(30_000)
      }
    }
  })
})

describe('Redis Cluster: three gateways, a master killed under load', () => {
  failoverScenario(async () => {
    const c = await shared()
    return {
      storeYaml: `cluster: { nodes: [${c.nodes.join(', ')}] }`,
      storeConfig: { cluster: { nodes: c.nodes } },
      async killMasterOf(key) {
        const port = await c.masterOf(calculateSlot(key))
        await c.stopNode(port)
        return port
      },
      async waitPromoted(killed) {
        await c.waitHealthy(30_000).catch(async () => {
          throw new Error(`no replica took over from ${killed}: ${JSON.stringify(await c.topology())}`)
        })
      },
      async heal(killed) {
        await c.startNode(killed)
        await c.waitHealthy(30_000)
      },
      close: async () => undefined,
    }
  })
})

// Last: if anything outlives the hooks above, say what, and end the file's process.
after(() => exitWhenDone(import.meta.filename))
