// store.redis with TLS on the two replicated topologies, against real servers that listen on TLS
// only: a 3-master Redis Cluster (bus on TLS too; no replicas, which this does not need) and a
// Sentinel set whose master, replica and sentinels all speak TLS. Certificates come from a
// throw-away CA (test/helpers/pki.ts). With the right CA a rate-limit decision (the script call the
// rate-limit plugin makes) is served, on every master of the cluster; with another CA the store is
// never ready and no call is served, so verification is really on, for the data nodes and for the
// sentinels alike. (Single node: redis-tls-acl.test.ts.)
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import calculateSlot from 'cluster-key-slot'
import { createPki, type Ca } from '../helpers/pki.js'
import { startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js'
import { startRedisSentinel, type RedisSentinelServer } from '../helpers/redis-sentinel.js'
import type { RedisTlsFiles } from '../helpers/redis.js'
import { allStarted } from '../helpers/server-process.js'
import { RedisStore, type RedisStoreOptions } from '../../src/state/redis.js'
import { RATE_LIMIT_SCRIPT } from '../../src/plugins/rate-limit/script.js'
import { rateLimitKeys } from '../../src/plugins/rate-limit/index.js'
import { ALG_FIXED } from '../../src/plugins/rate-limit/algorithms.js'
import { exitWhenDone } from '../helpers/exit-watchdog.js'

// One fixed-window limit of 2 per minute: the third decision on a key is a refusal.
const SUFFIXES = [':0:2:60000:2']
const ARGS = [ALG_FIXED, 2, 60_000, 2]

let pki: Awaited<ReturnType<typeof createPki>>
let good: Ca
let other: Ca
let cluster: RedisClusterServer | undefined
let sentinel: RedisSentinelServer | undefined

before(async () => {
  pki = await createPki()
  ;[good, other] = await Promise.all([pki.ca('Redis Test CA'), pki.ca('Another CA')])
  // Also a client certificate: a cluster node presents it when it connects to another's bus.
  const server = await good.issue({ names: ['redis.test'], sans: ['IP:127.0.0.1'], serverAndClient: true, file: 'redis' })
  const tls: RedisTlsFiles = { certFile: server.certFile, keyFile: server.keyFile, caFile: good.certFile }
  // Each kept as soon as it is up, so `after` closes it even when the other fails to start.
  await allStarted([startRedisCluster({ replicas: 0, tls }).then((c) => (cluster = c)), startRedisSentinel({ tls }).then((s) => (sentinel = s))])
})
after(async () => {
  await Promise.all([cluster?.close(), sentinel?.close()])
  await pki?.remove()
})

async function decide(store: RedisStore, client: string): Promise<number[]> {
  return (await store.eval(RATE_LIMIT_SCRIPT, rateLimitKeys('tls-route', client, SUFFIXES), ARGS)) as number[]
}

/** Client names whose decision keys land on each of the cluster's three slot ranges. */
function oneClientPerMaster(): string[] {
  const ranges: Array<[number, number]> = [[0, 5460], [5461, 10922], [10923, 16383]]
  return ranges.map(([from, to]) => {
    for (let i = 0; ; i++) {
      const client = `client-${from}-${i}`
      const slot = calculateSlot(`portico:${rateLimitKeys('tls-route', client, SUFFIXES)[0]!}`)
      if (slot >= from && slot <= to) return client
    }
  })
}

const topologies: Array<[string, () => Pick<RedisStoreOptions, 'cluster' | 'sentinel'>]> = [
  ['Redis Cluster (3 masters, bus on TLS)', () => ({ cluster: { nodes: cluster!.nodes } })],
  ['Sentinel (master, replica and sentinels on TLS)', () => ({ sentinel: { sentinels: sentinel!.sentinels, name: sentinel!.name } })],
]

for (const [name, topology] of topologies) {
  describe(`RedisStore over TLS: ${name}`, () => {
    test('the right CA: decisions are served (and counted) on every master', async () => {
      const store = new RedisStore({ ...topology(), tls: { ca: good.certFile }, timeoutMs: 1000 })
      try {
        await store.ready(10_000)
        for (const client of oneClientPerMaster()) {
          const first = await decide(store, client)
          const second = await decide(store, client)
          const third = await decide(store, client)
          // [allowed, remaining, reset_ms, retry_ms]
          assert.deepEqual([first[0], first[1], second[0], second[1], third[0]], [1, 1, 1, 0, 0], `decisions for ${client}: ${JSON.stringify([first, second, third])}`)
        }
        assert.equal(store.info().state, 'ready')
      } finally {
        await store.close()
      }
    })

    test('another CA: never ready, no call served', async () => {
      const store = new RedisStore({ ...topology(), tls: { ca: other.certFile }, timeoutMs: 300 })
      try {
        await assert.rejects(store.ready(2000))
        await assert.rejects(decide(store, 'refused-client'))
        assert.equal(store.healthy(), false)
      } finally {
        await store.close()
      }
    })
  })
}

// Last: if anything outlives the hooks above, say what, and end the file's process.
after(() => exitWhenDone(import.meta.filename))
