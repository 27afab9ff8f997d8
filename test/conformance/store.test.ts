// One conformance suite, run against every Store implementation: memory, and Redis on each of its
// three topologies — a single redis-server, a real Redis Cluster (six nodes, three masters) and a
// real Sentinel set (master, replica, three sentinels), all started for the test.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryStore } from '../../src/state/memory.js'
import { RedisStore } from '../../src/state/redis.js'
import type { Store, StoreScript } from '../../src/state/store.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { startRedisCluster } from '../helpers/redis-cluster.js'
import { startRedisSentinel } from '../helpers/redis-sentinel.js'
import { pollUntil } from '../helpers/poll.js'

const counter: StoreScript = {
  name: 'test-counter',
  lua: `local v = redis.call('INCRBY', KEYS[1], ARGV[1]); if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end; return v`,
  local: (s, keys, args) => {
    const v = Number(s.get(keys[0]!) ?? 0) + Number(args[0])
    s.set(keys[0]!, String(v), Number(args[1]))
    return v
  },
}

function suite(name: string, topology: string, replicas: number, make: () => Promise<{ store: Store; done: () => Promise<void> }>) {
  describe(`Store conformance: ${name}`, () => {
    let store: Store
    let done: () => Promise<void>
    const k = (s: string) => `${name}-${s}-${Math.random().toString(36).slice(2)}`
    before(async () => ({ store, done } = await make()))
    after(() => done())

    test('get/set/del', async () => {
      const key = k('a')
      assert.equal(await store.get(key), null)
      await store.set(key, 'v')
      assert.equal(await store.get(key), 'v')
      await store.del(key)
      assert.equal(await store.get(key), null)
    })

    test('values expire', async () => {
      const key = k('ttl')
      await store.set(key, 'v', 50)
      assert.equal(await store.get(key), 'v')
      await pollUntil(async () => (await store.get(key)) === null, { what: 'expiry', timeoutMs: 2000 })
    })

    test('setIfAbsent is true once', async () => {
      const key = k('nx')
      assert.equal(await store.setIfAbsent(key, '1', 1000), true)
      assert.equal(await store.setIfAbsent(key, '2', 1000), false)
      assert.equal(await store.get(key), '1')
    })

    test('incr counts atomically under concurrency', async () => {
      const key = k('incr')
      const results = await Promise.all(Array.from({ length: 50 }, () => store.incr(key, 1, 10_000)))
      assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1))
    })

    test('scripts run the same on both backends', async () => {
      const key = k('script')
      assert.equal(Number(await store.eval(counter, [key], [5, 10_000])), 5)
      assert.equal(Number(await store.eval(counter, [key], [2, 10_000])), 7)
    })

    test('publish reaches subscribers; unsubscribe stops it', async () => {
      const got: string[] = []
      const channel = k('chan')
      const unsub = await store.subscribe(channel, (m) => got.push(m))
      await store.publish(channel, 'hello')
      await pollUntil(() => got.length === 1, { what: 'message' })
      await unsub()
      await store.publish(channel, 'after')
      await store.set(k('barrier'), 'x') // a round trip after the publish
      assert.deepEqual(got, ['hello'])
    })

    test('a multi-key script runs when its keys share a hash tag', async () => {
      const tag = k('tag')
      const two: StoreScript = {
        name: 'test-two-keys',
        lua: `redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return redis.call('GET', KEYS[1]) .. redis.call('GET', KEYS[2])`,
        local: (st, keys, args) => {
          st.set(keys[0]!, String(args[0]))
          st.set(keys[1]!, String(args[0]))
          return `${st.get(keys[0]!)}${st.get(keys[1]!)}`
        },
      }
      assert.equal(await store.eval(two, [`{${tag}}:a`, `{${tag}}:b`], ['x']), 'xx')
    })

    test('deletePrefix removes every key under the prefix, and only those', async () => {
      const p = k('purge')
      // Keys without a shared tag: on a cluster they spread over the masters.
      for (let i = 0; i < 30; i++) await store.set(`${p}:${i}`, 'v')
      await store.set(`${p}x`, 'keep-me-too')
      await store.set(`other-${p}`, 'keep')
      assert.equal(await store.deletePrefix(`${p}:`), 30)
      for (let i = 0; i < 30; i++) assert.equal(await store.get(`${p}:${i}`), null)
      assert.equal(await store.get(`${p}x`), 'keep-me-too')
      assert.equal(await store.get(`other-${p}`), 'keep')
    })

    test('waitReplicas reports the replicas that have a write', async () => {
      const key = k('durable')
      await store.set(key, 'v')
      const r = await store.waitReplicas(key, 400)
      assert.equal(r.acked, r.replicas)
      assert.equal(r.replicas, replicas)
    })

    test('info names the topology and its nodes', async () => {
      // The cluster client learns replicas from its periodic slot refresh.
      if (topology === 'cluster') await pollUntil(() => store.info().nodes.length === 6, { what: 'six cluster nodes in info()', timeoutMs: 10_000 })
      const info = store.info()
      assert.equal(info.topology, topology)
      assert.equal(info.state, 'ready')
      if (topology === 'cluster') {
        assert.equal(info.nodes.filter((n) => n.role === 'master').length, 3)
        assert.equal(info.nodes.filter((n) => n.role === 'replica').length, 3)
      }
      if (topology === 'sentinel') assert.equal(info.nodes.filter((n) => n.role === 'sentinel').length, 3)
    })
  })
}

suite('memory', 'memory', 0, async () => {
  const store = new MemoryStore()
  return { store, done: () => store.close() }
})

let redis: RedisServer
suite('redis', 'single', 0, async () => {
  redis = await startRedis()
  const store = new RedisStore({ url: redis.url, timeoutMs: 500 })
  await store.ready()
  return {
    store,
    done: async () => {
      await store.close()
      await redis.close()
    },
  }
})

suite('redis cluster', 'cluster', 1, async () => {
  const cluster = await startRedisCluster()
  const store = new RedisStore({ cluster: { nodes: cluster.nodes }, timeoutMs: 500 })
  await store.ready()
  return {
    store,
    done: async () => {
      await store.close()
      await cluster.close()
    },
  }
})

suite('redis sentinel', 'sentinel', 1, async () => {
  const set = await startRedisSentinel()
  const store = new RedisStore({ sentinel: { sentinels: set.sentinels, name: set.name }, timeoutMs: 500 })
  await store.ready()
  return {
    store,
    done: async () => {
      await store.close()
      await set.close()
    },
  }
})

describe('RedisStore when Redis goes away', () => {
  test('calls fail fast (no queueing) and recover when Redis returns', async () => {
    const server = await startRedis()
    const store = new RedisStore({ url: server.url, timeoutMs: 200 })
    try {
      await store.ready()
      await store.set('k', 'v')
      await server.stop()
      await pollUntil(() => !store.healthy(), { what: 'client to notice' })
      const t0 = Date.now()
      await assert.rejects(store.get('k'))
      assert.ok(Date.now() - t0 < 300, 'a call against a down Redis must fail fast')
      await server.start()
      await pollUntil(() => store.healthy(), { what: 'reconnect', timeoutMs: 10_000 })
      await store.set('k2', 'v2')
      assert.equal(await store.get('k2'), 'v2')
    } finally {
      await store.close()
      await server.close()
    }
  })
})
