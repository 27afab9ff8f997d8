// The fleet-scale Store scenario, run on a real Redis Cluster (redis-cluster.test.ts) and a real
// Sentinel set (redis-sentinel.test.ts): three in-process gateways share the Store, with a
// rate-limit (policy redis, failure_mode open) on /rl and jwt + jwt-revocation on /api.
//  - the limit is exact (±1) across the three gateways;
//  - under a bounded load, the master holding the limit's key is killed and its replica promoted:
//    zero 5xx meanwhile, the limit exact again afterwards;
//  - a revocation issued while the master is down is acknowledged once it is on a replica, and
//    every gateway refuses the token afterwards, although each had it cached as valid (60 s).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { request, Agent } from 'undici'
import { SignJWT } from 'jose'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'
import { revocationWriterFor } from '../../../src/control/revocation-writer.js'
import type { Config } from '../../../src/config/schema/index.js'
import calculateSlot from 'cluster-key-slot'

const SECRET = 'failover-test-secret-0123456789abcdef'
const jwtKey = new TextEncoder().encode(SECRET)
export const LIMIT = 30

export interface Backend {
  /** store.redis for the gateways (flow-style YAML object body, without braces). */
  storeYaml: string
  /** The same as an object, for the revocation writer. */
  storeConfig: Record<string, unknown>
  /** Kills the master that holds `key` (a full Redis key, prefix included); resolves once it is down. Returns a handle for heal(). */
  killMasterOf(key: string): Promise<number>
  /** Resolves once a replica serves what the killed master served. */
  waitPromoted(killed: number): Promise<void>
  /** Brings the killed node back (as a replica) and waits until the topology is whole again. */
  heal(killed: number): Promise<void>
}

/** A string made by `make` whose full key lands on `slot` (a brute-force search; ~16k tries). */
function onSlot(slot: number, make: () => string, key: (s: string) => string): string {
  for (;;) {
    const s = make()
    if (calculateSlot(key(s)) === slot) return s
  }
}

function config(origin: string, storeYaml: string): string {
  return `
store: { redis: { ${storeYaml}, timeout: 200ms } }
upstreams:
  o: { targets: [ { url: ${origin} } ] }
routes:
  - name: rl
    paths: [/rl/*]
    upstream: o
    plugins:
      - name: rate-limit
        config: { policy: redis, key: "header:x-client", failure_mode: open, timeout: 300ms, limits: [ { limit: ${LIMIT}, window: 1h, algorithm: token-bucket } ] }
  - name: api
    paths: [/api/*]
    upstream: o
    plugins:
      - name: jwt
        config: { keys: [ { secret: "${SECRET}", algorithms: [HS256] } ] }
      - name: jwt-revocation
        config: { cache_ttl: 60s, failure_mode: closed }
`
}

async function token(jti: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ sub: 'failover-user', jti }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now).setExpirationTime(now + 600).sign(jwtKey)
}

/** The full Redis key of a token-bucket limit of LIMIT/1h on route rl for client `c`. */
export function rlKey(c: string): string {
  return `portico:rl:{rl|${c}}:2:${LIMIT}:3600000:${LIMIT}`
}

export function failoverScenario(startBackend: () => Promise<Backend & { close(): Promise<void> }>): void {
  let origin: Origin
  let backend: Backend & { close(): Promise<void> }
  let gws: InProcGateway[] = []
  const agent = new Agent({ connections: 16 })

  before(async () => {
    ;[origin, backend] = await Promise.all([startOrigin(), startBackend()])
    gws = await Promise.all([0, 1, 2].map(() => startInProc(config(origin.url, backend.storeYaml))))
    // Every gateway decides on the shared counters: the next gateway sees its unit.
    for (const [i, g] of gws.entries()) await pollUntil(() => shares(g, gws[(i + 1) % gws.length]!, `warm-${randomUUID()}`), { what: 'gateways sharing redis counters', timeoutMs: 10_000, intervalMs: 100 })
  })
  after(async () => {
    await Promise.all(gws.map((g) => g.close()))
    await agent.close()
    await Promise.all([origin?.close(), backend?.close()])
  })

  async function hit(g: InProcGateway, client: string): Promise<{ status: number; remaining: string }> {
    const r = await request(`${g.url}/rl/x`, { headers: { 'x-client': client }, dispatcher: agent })
    await r.body.dump()
    return { status: r.statusCode, remaining: String(r.headers.ratelimit ?? '') }
  }
  /** true when `b` sees the unit `a` took for a fresh client: both decide on the shared counters. */
  async function shares(a: InProcGateway, b: InProcGateway, client: string): Promise<boolean> {
    await hit(a, client)
    return (await hit(b, client)).remaining.includes(`r=${LIMIT - 2};`)
  }
  async function api(g: InProcGateway, t: string): Promise<number> {
    const r = await request(`${g.url}/api/x`, { headers: { authorization: `Bearer ${t}` }, dispatcher: agent })
    await r.body.dump()
    return r.statusCode
  }

  /** `total` requests for `client`, round-robin over the gateways, `concurrency` at a time. */
  async function burst(client: string, total: number, concurrency = 6): Promise<Map<number, number>> {
    const counts = new Map<number, number>()
    let next = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const i = next++
          const { status } = await hit(gws[i % gws.length]!, client)
          counts.set(status, (counts.get(status) ?? 0) + 1)
        }
      }),
    )
    return counts
  }

  function assertExact(counts: Map<number, number>, total: number): void {
    const allowed = counts.get(200) ?? 0
    assert.ok(Math.abs(allowed - LIMIT) <= 1, `allowed ${allowed}, limit ${LIMIT} (statuses ${JSON.stringify([...counts])})`)
    assert.equal(allowed + (counts.get(429) ?? 0), total, `only 200 and 429: ${JSON.stringify([...counts])}`)
  }

  test('the limit is exact across three gateways', async () => {
    const total = LIMIT * 2
    assertExact(await burst(`exact-${randomUUID()}`, total), total)
  })

  test('a master killed under load: zero 5xx (failure_mode open), the limit exact afterwards, a revocation issued meanwhile enforced everywhere', async () => {
    const client = `failover-${randomUUID()}`
    const slot = calculateSlot(rlKey(client))
    // On a cluster the revocation's key is on the master that is killed, too.
    const jti = onSlot(slot, randomUUID, (j) => `portico:rev:jti:${j}`)
    const t = await token(jti)
    // Warm every gateway's "not revoked" cache (60 s): only a resync or a message can flip it.
    // (Polled: on a loaded machine a first check can miss its Redis deadline and fail closed, 503;
    // the warm-up is not what this test asserts.)
    for (const g of gws) await pollUntil(async () => (await api(g, t)) === 200, { timeoutMs: 30_000, what: 'the token accepted (not-revoked cached)' })
    const config = { store: { redis: backend.storeConfig } } as unknown as Config
    const writer = revocationWriterFor(() => config)
    try {
      // Bounded load: three loops, one per gateway, until told to stop.
      const statuses = new Map<number, number>()
      let stop = false
      const load = Promise.all(
        gws.map(async (g) => {
          while (!stop) {
            const { status } = await hit(g, client)
            statuses.set(status, (statuses.get(status) ?? 0) + 1)
          }
        }),
      )
      await pollUntil(() => (statuses.get(429) ?? 0) > 10, { what: 'load past the limit', timeoutMs: 30_000 })
      const killed = await backend.killMasterOf(rlKey(client))
      // Issued while the master is down: the writer retries until a replica has it.
      const exp = Math.floor(Date.now() / 1000) + 600
      const revoked = writer()!.revoke({ kind: 'jti', jti, exp })
      await backend.waitPromoted(killed)
      await revoked
      // Some more load on the promoted replica.
      const seen = [...statuses.values()].reduce((a, b) => a + b, 0)
      await pollUntil(() => [...statuses.values()].reduce((a, b) => a + b, 0) > seen + 50, { what: 'load after the failover', timeoutMs: 30_000 })
      stop = true
      await load
      const fivexx = [...statuses].filter(([s]) => s >= 500).reduce((a, [, n]) => a + n, 0)
      assert.equal(fivexx, 0, `5xx during the failover: ${JSON.stringify([...statuses])}`)

      // The revocation is enforced by every gateway (each had the token cached as valid).
      let last: number[] = []
      await pollUntil(
        async () => {
          last = await Promise.all(gws.map((g) => api(g, t)))
          return last.every((s) => s === 401)
        },
        { what: 'revocation on every gateway', timeoutMs: 30_000, intervalMs: 100 },
      ).catch((e: unknown) => {
        throw new Error(`${String(e)}; statuses per gateway: ${last.join(', ')}; store: ${JSON.stringify(gws.map((g) => g.dp.status().store))}`)
      })
      // ... and stays enforced.
      for (const g of gws) assert.equal(await api(g, t), 401)

      // Exact again on the promoted master: a fresh client on the same slot range as before.
      const total = LIMIT * 2
      const fresh = (p: string) => onSlot(slot, () => `${p}-${randomUUID()}`, rlKey)
      // Shared counters again (not each gateway's local fallback): a second gateway sees the first's unit.
      for (const [i, g] of gws.entries()) await pollUntil(() => shares(g, gws[(i + 1) % gws.length]!, fresh('probe')), { what: 'shared redis decisions again', timeoutMs: 10_000, intervalMs: 100 })
      const after = fresh('after')
      assertExact(await burst(after, total), total)
      await backend.heal(killed)
    } finally {
      await writer.close()
    }
  })
}
