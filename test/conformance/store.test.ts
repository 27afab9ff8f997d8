// One conformance suite, run against every Store implementation (memory, and Redis on a real
// redis-server started for the test).
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryStore } from '../../src/state/memory.js'
import { RedisStore } from '../../src/state/redis.js'
import type { Store, StoreScript } from '../../src/state/store.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
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

function suite(name: string, make: () => Promise<{ store: Store; done: () => Promise<void> }>) {
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
  })
}

suite('memory', async () => {
  const store = new MemoryStore()
  return { store, done: () => store.close() }
})

let redis: RedisServer
suite('redis', async () => {
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
