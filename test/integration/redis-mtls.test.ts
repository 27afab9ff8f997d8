// store.redis with client certificates (mutual TLS) on all three topologies, against real servers
// started with `tls-auth-clients yes`, certificates from throw-away CAs (test/helpers/pki.ts):
// - one node: with the client certificate calls are served; without one, or with one from another
//   CA, the Store never becomes ready and says why (info().last_error, and the calls' errors);
// - a 3-master Cluster whose certificates name only `redis.test` (no IP SAN): the client connects to
//   the slot map's IPs, so only `server_name: redis.test` verifies them; with it and the client
//   certificate a decision is served on every master and sharded pub/sub goes through;
// - Sentinel with the sentinels and the data nodes on different CAs and client certificates:
//   `sentinel.tls` for the sentinels, `tls` for the data nodes; without `sentinel.tls` the data
//   nodes' block is used for the sentinels too, and their certificate is not trusted.
// (The gateway's failure mode and /status with a refused certificate: redis-mtls-gateway.test.ts.)
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import calculateSlot from 'cluster-key-slot'
import { createPki, type Ca, type Issued } from '../helpers/pki.js'
import { startRedis, type RedisServer, type RedisTlsFiles } from '../helpers/redis.js'
import { startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js'
import { startRedisSentinel, type RedisSentinelServer } from '../helpers/redis-sentinel.js'
import { allStarted } from '../helpers/server-process.js'
import { pollUntil } from '../helpers/poll.js'
import { RedisStore, type RedisStoreOptions, type RedisTlsConfig } from '../../src/state/redis.js'
import { RATE_LIMIT_SCRIPT } from '../../src/plugins/rate-limit/script.js'
import { rateLimitKeys } from '../../src/plugins/rate-limit/index.js'
import { ALG_FIXED } from '../../src/plugins/rate-limit/algorithms.js'
import { exitWhenDone } from '../helpers/exit-watchdog.js'

// One fixed-window limit of 2 per minute: the third decision on a key is a refusal.
const SUFFIXES = [':0:2:60000:2']
const ARGS = [ALG_FIXED, 2, 60_000, 2]

let pki: Awaited<ReturnType<typeof createPki>>
/** Data nodes' CA, the sentinels' CA, and one nobody trusts. */
let dataCa: Ca
let sentinelCa: Ca
let otherCa: Ca
/** Portico's client certificates: for the data nodes, for the sentinels, and an untrusted one. */
let dataClient: Issued
let sentinelClient: Issued
let strangerClient: Issued
let single: RedisServer | undefined
let cluster: RedisClusterServer | undefined
let sentinel: RedisSentinelServer | undefined

before(async () => {
  pki = await createPki()
  ;[dataCa, sentinelCa, otherCa] = await Promise.all([pki.ca('Redis Data CA'), pki.ca('Redis Sentinel CA'), pki.ca('Untrusted CA')])
  // Server certificates allow client auth too: nodes present them on each other's bus, replicas
  // to their master, sentinels to the data nodes and to each other.
  const [node, namedNode, sentinelNode] = await Promise.all([
    dataCa.issue({ names: ['redis.test'], sans: ['IP:127.0.0.1'], serverAndClient: true, file: 'node' }),
    // Only a DNS name: what a cluster's IP-addressed slot map cannot match by itself.
    dataCa.issue({ names: ['redis.test'], serverAndClient: true, file: 'named-node' }),
    sentinelCa.issue({ names: ['sentinel.test'], sans: ['IP:127.0.0.1'], serverAndClient: true, file: 'sentinel' }),
  ])
  ;[dataClient, sentinelClient, strangerClient] = await Promise.all([
    dataCa.issue({ cn: 'portico', client: true, file: 'portico-data' }),
    sentinelCa.issue({ cn: 'portico', client: true, file: 'portico-sentinel' }),
    otherCa.issue({ cn: 'portico', client: true, file: 'stranger' }),
  ])
  // Sentinels and data nodes connect to each other (monitoring, replication), so the servers
  // trust both CAs; Portico trusts each side's CA only where it connects to that side.
  const both = join(pki.dir, 'data-and-sentinel-ca.pem')
  await writeFile(both, dataCa.cert + sentinelCa.cert)
  const dataTls: RedisTlsFiles = { certFile: node.certFile, keyFile: node.keyFile, caFile: both, authClients: true }
  // Each kept as soon as it is up, so `after` closes it even when another fails to start.
  await allStarted([
    startRedis({ tls: { ...dataTls, caFile: dataCa.certFile } }).then((s) => (single = s)),
    startRedisCluster({ replicas: 0, tls: { certFile: namedNode.certFile, keyFile: namedNode.keyFile, caFile: dataCa.certFile, authClients: true, serverName: 'redis.test' } }).then((c) => (cluster = c)),
    startRedisSentinel({ tls: dataTls, sentinelTls: { certFile: sentinelNode.certFile, keyFile: sentinelNode.keyFile, caFile: both, authClients: true } }).then((s) => (sentinel = s)),
  ])
})
after(async () => {
  await Promise.all([single?.close(), cluster?.close(), sentinel?.close()])
  await pki?.remove()
})

const withClient = (ca: Ca, c: Issued, extra: RedisTlsConfig = {}): RedisTlsConfig => ({ ca_file: ca.certFile, cert_file: c.certFile, key_file: c.keyFile, ...extra })

async function decide(store: RedisStore, client: string): Promise<number[]> {
  return (await store.eval(RATE_LIMIT_SCRIPT, rateLimitKeys('mtls-route', client, SUFFIXES), ARGS)) as number[]
}

/** Three decisions on one key: allowed, allowed, refused (counted in Redis). */
async function assertCounted(store: RedisStore, client: string): Promise<void> {
  const [a, b, c] = [await decide(store, client), await decide(store, client), await decide(store, client)]
  // [allowed, remaining, reset_ms, retry_ms]
  assert.deepEqual([a[0], a[1], b[0], b[1], c[0]], [1, 1, 1, 0, 0], `decisions for ${client}: ${JSON.stringify([a, b, c])}`)
}

/** Never ready, no call served, and the reason (matching `why`) in info() and in the calls' errors. */
async function assertRefused(opts: RedisStoreOptions, why: RegExp): Promise<void> {
  const store = new RedisStore({ ...opts, timeoutMs: 300 })
  try {
    await assert.rejects(store.ready(2000))
    // The reason comes with a failed attempt, and the first may only say the connection was reset
    // (a write racing the server's close); later attempts, or the cluster's probe, tell why.
    await pollUntil(
      () => {
        const last = store.info().last_error
        if (last === undefined || !why.test(last)) throw new Error(`last_error is ${JSON.stringify(last)}`)
        return true
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `a last_error matching ${why}` },
    )
    assert.equal(store.healthy(), false)
    await assert.rejects(decide(store, 'refused-client'), (err: Error) => {
      assert.match(err.message, /last error: /)
      return true
    })
  } finally {
    await store.close()
  }
}

/** Client names whose decision keys land on each of the cluster's three slot ranges. */
function oneClientPerMaster(): string[] {
  const ranges: Array<[number, number]> = [[0, 5460], [5461, 10922], [10923, 16383]]
  return ranges.map(([from, to]) => {
    for (let i = 0; ; i++) {
      const client = `client-${from}-${i}`
      const slot = calculateSlot(`portico:${rateLimitKeys('mtls-route', client, SUFFIXES)[0]!}`)
      if (slot >= from && slot <= to) return client
    }
  })
}

/** A message published through the Store reaches its subscriber (its own TLS connection(s)). */
async function assertPubSub(store: RedisStore): Promise<void> {
  const got: string[] = []
  const unsubscribe = await store.subscribe('mtls-channel', (m) => got.push(m))
  try {
    // The subscription may still be on its way to the server when the first publish arrives.
    await pollUntil(
      async () => {
        await store.publish('mtls-channel', 'hello')
        return got.includes('hello')
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'a published message to arrive' },
    )
  } finally {
    await unsubscribe()
  }
}

describe('mutual TLS, one node (tls-auth-clients yes)', () => {
  const url = () => single!.url

  test('with the client certificate: calls are served', async () => {
    const store = new RedisStore({ url: url(), tls: withClient(dataCa, dataClient), timeoutMs: 1000 })
    try {
      await store.ready(10_000)
      await assertCounted(store, 'single-client')
      await assertPubSub(store)
      assert.equal(store.info().last_error, undefined)
    } finally {
      await store.close()
    }
  })

  test('without a client certificate: refused, and the reason is kept', async () => {
    await assertRefused({ url: url(), tls: { ca_file: dataCa.certFile } }, /alert certificate required/)
  })

  test('with a client certificate from a CA the server does not trust: refused', async () => {
    await assertRefused({ url: url(), tls: withClient(dataCa, strangerClient) }, /alert unknown ca/)
  })
})

describe('mutual TLS, Redis Cluster whose certificates name only redis.test', () => {
  const nodes = () => ({ cluster: { nodes: cluster!.nodes } })

  test('client certificate and server_name: decisions on every master, sharded pub/sub', async () => {
    const store = new RedisStore({ ...nodes(), tls: withClient(dataCa, dataClient, { server_name: 'redis.test' }), timeoutMs: 1000 })
    try {
      await store.ready(10_000)
      for (const client of oneClientPerMaster()) await assertCounted(store, client)
      assert.equal(store.info().nodes.filter((n) => n.role === 'master').length, 3)
      await assertPubSub(store)
    } finally {
      await store.close()
    }
  })

  test('without server_name the slot map\'s IPs are verified, and the certificates do not name them', async () => {
    await assertRefused({ ...nodes(), tls: withClient(dataCa, dataClient) }, /IP: 127\.0\.0\.1 is not in the cert's list/)
  })

  test('server_name but no client certificate: refused', async () => {
    await assertRefused({ ...nodes(), tls: { ca_file: dataCa.certFile, server_name: 'redis.test' } }, /alert certificate required/)
  })
})

describe('mutual TLS, Sentinel with sentinels and data nodes on different CAs', () => {
  const topology = () => ({ sentinels: sentinel!.sentinels, name: sentinel!.name })

  test('sentinel.tls for the sentinels, tls for the data nodes: calls are served', async () => {
    const store = new RedisStore({ sentinel: { ...topology(), tls: withClient(sentinelCa, sentinelClient) }, tls: withClient(dataCa, dataClient), timeoutMs: 1000 })
    try {
      await store.ready(10_000)
      await assertCounted(store, 'sentinel-client')
      await assertPubSub(store)
    } finally {
      await store.close()
    }
  })

  test('without sentinel.tls the sentinels get the data nodes\' block, whose CA did not sign them: refused', async () => {
    await assertRefused({ sentinel: topology(), tls: withClient(dataCa, dataClient) }, /^sentinel 127\.0\.0\.1:\d+: .*certificate/)
  })

  test('sentinel.tls right, but no client certificate for the data nodes: refused', async () => {
    await assertRefused({ sentinel: { ...topology(), tls: withClient(sentinelCa, sentinelClient) }, tls: { ca_file: dataCa.certFile } }, /alert certificate required/)
  })
})

// Last: if anything outlives the hooks above, say what, and end the file's process.
after(() => exitWhenDone(import.meta.filename))
