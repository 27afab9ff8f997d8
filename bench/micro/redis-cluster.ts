// Rate-limit decisions per second through the real RedisStore, on one redis-server and on a
// 3-master Redis Cluster (no replicas), both started here on free ports and removed at the end.
// A decision is the call the rate-limit plugin makes with `policy: redis`: one EVALSHA of
// RATE_LIMIT_SCRIPT over rateLimitKeys(route, client key, limits), here one sliding-window limit
// high enough never to refuse (so every call writes). CONCURRENCY callers share one store and
// spread over KEYS distinct client keys; each round is a fixed number of decisions, and the two
// targets take turns (single, cluster, single, …) so a change in the machine's load hits both.
// Run: node --import tsx bench/micro/redis-cluster.ts [decisions per round] [concurrency]
import { loadavg, cpus } from 'node:os'
import { startRedis } from '../../test/helpers/redis.js'
import { startRedisCluster } from '../../test/helpers/redis-cluster.js'
import { allStarted } from '../../test/helpers/server-process.js'
import { RedisStore } from '../../src/state/redis.js'
import { RATE_LIMIT_SCRIPT } from '../../src/plugins/rate-limit/script.js'
import { rateLimitKeys } from '../../src/plugins/rate-limit/index.js'
import { ALG_SLIDING } from '../../src/plugins/rate-limit/algorithms.js'

const DECISIONS = Number(process.argv[2] ?? 50_000)
const CONCURRENCY = Number(process.argv[3] ?? 64)
const KEYS = 10_000
const ROUNDS = 3
const HIGH = 1_000_000_000
const SUFFIXES = [`:${ALG_SLIDING}:${HIGH}:60000:${HIGH}`]
const ARGS = [ALG_SLIDING, HIGH, 60_000, HIGH]
const clients = Array.from({ length: KEYS }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)

interface Round {
  decisionsPerSecond: number
  errors: number
}

/** `total` decisions, CONCURRENCY at a time, key i % KEYS for the i-th. */
async function drive(store: RedisStore, total: number): Promise<Round> {
  let next = 0
  let errors = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) {
        const i = next++
        try {
          await store.eval(RATE_LIMIT_SCRIPT, rateLimitKeys('bench', clients[i % KEYS]!, SUFFIXES), ARGS)
        } catch {
          errors++
        }
      }
    }),
  )
  return { decisionsPerSecond: total / ((performance.now() - t0) / 1000), errors }
}

const load = () => loadavg().map((l) => l.toFixed(1)).join(' ')
console.log(`redis decisions/s, node ${process.version}, ${cpus().length} CPUs, load average ${load()} at start, ${DECISIONS} decisions per round, ${CONCURRENCY} concurrent callers, ${KEYS} keys`)

const singleStart = startRedis()
const clusterStart = startRedisCluster({ replicas: 0 })
const [single, cluster] = await allStarted([singleStart, clusterStart]).catch(async (err: unknown) => {
  // The one that did start must not outlive the bench.
  await Promise.allSettled([singleStart.then((s) => s.close()), clusterStart.then((c) => c.close())])
  throw err
})
// The deadline is generous: this measures throughput, and a busy machine must not turn slow calls
// into errors (errors are counted and printed all the same).
const stores = {
  'single node': new RedisStore({ url: single.url, timeoutMs: 2000 }),
  'cluster, 3 masters': new RedisStore({ cluster: { nodes: cluster.nodes }, timeoutMs: 2000 }),
}
try {
  await Promise.all(Object.values(stores).map((s) => s.ready(10_000)))
  // Warm-up: connections, the script cached on every node (NOSCRIPT -> EVAL once), V8's JIT.
  for (const s of Object.values(stores)) await drive(s, Math.min(DECISIONS, 10_000))
  const results = new Map<string, Round[]>(Object.keys(stores).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, s] of Object.entries(stores)) results.get(name)!.push(await drive(s, DECISIONS))
  }
  console.log('\n| target | decisions/s, each round | median | errors |')
  console.log('|---|---|---:|---:|')
  for (const [name, rounds] of results) {
    const rates = rounds.map((x) => x.decisionsPerSecond)
    const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)]!
    console.log(`| ${name} | ${rates.map((x) => Math.round(x).toLocaleString('en-US')).join(', ')} | ${Math.round(median).toLocaleString('en-US')} | ${rounds.reduce((a, x) => a + x.errors, 0)} |`)
  }
  console.log(`\nload average ${load()} at the end`)
} finally {
  await Promise.all(Object.values(stores).map((s) => s.close()))
  await Promise.all([single.close(), cluster.close()])
}
