// A Redis client that ioredis gives up on (status `end`) is brought back by the store. The race
// that ended it in CI: the Sentinel connector's failover detector disconnects the connector (on
// +switch-master) while the client is already reconnecting to the dead master, so connect()
// rejects and ioredis stops for good. Here the same connector call is made at the same moment, on
// a real redis-server, so the test does not depend on winning a timing race with Sentinel.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { RedisStore } from '../../../src/state/redis.js'
import { startRedis } from '../../helpers/redis.js'
import { pollUntil } from '../../helpers/poll.js'

const redis = await startRedis()
const store = new RedisStore({ url: redis.url, timeoutMs: 2000 })
const admin = new Redis(redis.url)
after(async () => {
  await store.close()
  admin.disconnect()
  await redis.close()
})

/** Kill the store's connections and, as the failover detector would, disconnect the connector mid-reconnect. */
async function endClient(client: Redis): Promise<void> {
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()))
  client.once('connecting', () => (client as unknown as { connector: { disconnect(): void } }).connector.disconnect())
  await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
  await ended
}

test('a client ioredis ended mid-reconnect comes back: calls and subscriptions work again', async () => {
  await store.ready()
  const got: string[] = []
  await store.subscribe('news', (m) => got.push(m))
  await store.publish('news', 'before')
  await pollUntil(() => got.includes('before'), { timeoutMs: 10_000, what: 'the message before' })

  await endClient(store.rawClient as Redis)
  assert.equal(store.healthy(), false, 'the client was ended')
  await pollUntil(() => store.healthy(), { timeoutMs: 20_000, what: 'the store to be ready again' })
  await store.set('k', 'v')
  assert.equal(await store.get('k'), 'v')

  // Subscriptions survive beside it: the subscriber connection is killed now and reconnects.
  await admin.client('KILL', 'TYPE', 'pubsub')
  await pollUntil(
    async () => {
      await store.publish('news', 'after')
      return got.includes('after')
    },
    { timeoutMs: 20_000, intervalMs: 200, what: 'a message after the reconnect' },
  )
})

test('close() ends the client for good: no revival after it', async () => {
  const other = new RedisStore({ url: redis.url, timeoutMs: 2000 })
  await other.ready()
  await other.close()
  const client = other.rawClient as Redis
  await pollUntil(() => client.status === 'end', { timeoutMs: 10_000, what: 'the closed client to end' })
  // Longer than the first revival delay (50 ms), measured by the client's own events, not a sleep:
  // a ping on the admin connection round-trips many times meanwhile.
  for (let i = 0; i < 50; i++) await admin.ping()
  assert.equal(client.status, 'end')
})
