// Shared state across the real fleet (test/fleet/fleet.ts: HAProxy → three Portico instances in
// network namespaces → one redis-server, one etcd): a global rate limit and a revocation enforced
// by all three instances; Redis down then up; a partition of one instance from Redis (a blackhole
// route inside its namespace); etcd down then up; a partition of one instance from etcd. What each
// instance does meanwhile, and that limits, revocations and discovered targets converge again.
import { before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { request } from 'undici'
import { pollUntil } from '../helpers/poll.js'
import { ADMIN_TOKEN, JWT_SECRET, type Fleet, type Instance } from './fleet.js'

// The tests below, on the fleet test/fleet/fleet.test.ts starts for all the fleet scenarios; they
// leave it with every instance up on v1, Redis and etcd up, users-c deregistered.
let fleet: Fleet

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  // One connection per request: these checks are about shared state, and a kept-alive connection
  // that the instance times out idle (keep_alive_timeout) while the next request leaves is a
  // client race of its own ("other side closed"), seen once on a machine at load 9.
  const res = await request(url, { headers, headersTimeout: 10_000, reset: true })
  return { status: res.statusCode, headers: res.headers as Record<string, string>, body: await res.body.text() }
}

async function token(): Promise<{ jwt: string; jti: string }> {
  const jti = randomUUID()
  const jwt = await new SignJWT({ sub: 'fleet-user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setJti(jti)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JWT_SECRET))
  return { jwt, jti }
}

async function revoke(via: Instance, jti: string): Promise<void> {
  const res = await request(`${via.adminUrl}/admin/revocations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ jti, exp: Math.floor(Date.now() / 1000) + 600 }),
  })
  const body = await res.body.text()
  assert.equal(res.statusCode < 300, true, `revoke via ${via.name}: ${res.statusCode} ${body}`)
}

const secure = (g: Instance, jwt: string) => get(`${g.url}/secure/x`, { authorization: `Bearer ${jwt}` })

/** Sends `n` requests for one tenant through the LB, `conc` at a time; tallies statuses and instances. */
async function burst(tenant: string, n: number, conc = 6) {
  const statuses: Record<number, number> = {}
  const by: Record<string, Record<number, number>> = {}
  let next = 0
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next++ < n) {
        const r = await get(`${fleet.lb.url}/limited`, { 'x-tenant': tenant })
        statuses[r.status] = (statuses[r.status] ?? 0) + 1
        const s = (by[r.headers['x-served-by'] ?? '?'] ??= {})
        s[r.status] = (s[r.status] ?? 0) + 1
      }
    }),
  )
  return { statuses, by }
}

async function origins(g: Instance, n: number): Promise<Set<string>> {
  const seen = new Set<string>()
  for (let i = 0; i < n; i++) {
    const r = await get(`${g.url}/users/${i}`)
    assert.equal(r.status, 200, r.body)
    seen.add(r.headers['x-origin']!)
  }
  return seen
}

/** The tests, in this order, on the fleet `current()` returns once the caller's `before` started it. */
export function stateScenarios(current: () => Fleet): void {
  before(() => {
    fleet = current()
  })

  test('a global rate limit (30 per hour per tenant, policy redis) holds across all three instances', { timeout: 60_000 }, async () => {
    const { statuses, by } = await burst(`t-${randomUUID()}`, 60)
    assert.deepEqual(statuses, { 200: 30, 429: 30 }, JSON.stringify(by))
    for (const g of fleet.instances) assert.ok((by[g.name]?.[200] ?? 0) > 0 && (by[g.name]?.[429] ?? 0) > 0, `${g.name} both admitted and refused: ${JSON.stringify(by)}`)
  })

  test('a revocation posted to one instance is enforced by all three; other tokens keep working', { timeout: 60_000 }, async () => {
    const a = await token()
    const b = await token()
    for (const g of fleet.instances) assert.equal((await secure(g, a.jwt)).status, 200)
    await revoke(fleet.instances[0]!, a.jti)
    for (const g of fleet.instances) {
      await pollUntil(async () => (await secure(g, a.jwt)).status === 401, { timeoutMs: 10_000, what: `${g.name} refuses the revoked token` })
      assert.equal((await secure(g, b.jwt)).status, 200)
    }
  })

  test('Redis down: limits fall back to local counters (no 5xx), revocation checks fail closed (503); Redis up: both converge', { timeout: 90_000 }, async () => {
    const b = await token()
    await fleet.redis.stop()
    for (const g of fleet.instances) {
      await pollUntil(async () => (await secure(g, b.jwt)).status === 503, { timeoutMs: 15_000, what: `${g.name} fails closed without Redis` })
      const r = await secure(g, b.jwt)
      assert.match(r.body, /auth_unavailable/)
      assert.equal((await get(`${g.url}/users/1`)).status, 200, 'routes without shared state keep serving')
      const l = await get(`${g.url}/limited`, { 'x-tenant': 'offline' })
      assert.ok(l.status === 200 || l.status === 429, `failure_mode open: local counters, got ${l.status}`)
    }
    await fleet.redis.start()
    for (const g of fleet.instances) {
      await pollUntil(async () => (await secure(g, b.jwt)).status === 200, { timeoutMs: 30_000, what: `${g.name} uses Redis again` })
    }
    // The shared limit is exact again, and a new revocation reaches every instance.
    const { statuses } = await burst(`t-${randomUUID()}`, 45)
    assert.deepEqual(statuses, { 200: 30, 429: 15 })
    await revoke(fleet.instances[1]!, b.jti)
    for (const g of fleet.instances) await pollUntil(async () => (await secure(g, b.jwt)).status === 401, { timeoutMs: 10_000, what: `${g.name} refuses after Redis came back` })
  })

  test('partition of gw3 from Redis: gw3 fails closed on revocations while the others serve; after healing it enforces what was revoked meanwhile', { timeout: 90_000 }, async (t) => {
    if (fleet.net.mode !== 'netns') return t.skip(`needs network namespaces: ${fleet.net.reason}`)
    const [g1, , g3] = fleet.instances as [Instance, Instance, Instance]
    const c = await token()
    const d = await token()
    assert.equal((await secure(g3, c.jwt)).status, 200)
    fleet.net.partition(2, fleet.net.redis)
    try {
      await pollUntil(async () => (await secure(g3, d.jwt)).status === 503, { timeoutMs: 20_000, what: 'gw3 fails closed without Redis' })
      assert.equal((await secure(g1, d.jwt)).status, 200, 'gw1 still reaches Redis')
      // Revoked while gw3 cannot hear it: the pub/sub message never reaches gw3.
      await revoke(g1, c.jti)
      await pollUntil(async () => (await secure(g1, c.jwt)).status === 401, { timeoutMs: 10_000, what: 'gw1 refuses c' })
    } finally {
      fleet.net.heal(2, fleet.net.redis)
    }
    await pollUntil(async () => (await secure(g3, d.jwt)).status === 200, { timeoutMs: 40_000, what: 'gw3 reaches Redis again' })
    await pollUntil(async () => (await secure(g3, c.jwt)).status === 401, { timeoutMs: 15_000, what: 'gw3 enforces the revocation made during the partition' })
  })

  test('etcd down: instances keep their last known targets; etcd up: a newly registered origin reaches every instance', { timeout: 90_000 }, async () => {
    await fleet.etcd.stop()
    for (const g of fleet.instances) assert.deepEqual([...(await origins(g, 8))].sort(), ['users-a', 'users-b'])
    await fleet.etcd.start()
    const c = await fleet.startOrigin('users', 'users-c')
    await pollUntil(async () => {
      await fleet.register(c)
      return true
    }, { timeoutMs: 20_000, intervalMs: 500, what: 'register users-c after the restart' })
    for (const g of fleet.instances) await pollUntil(async () => (await origins(g, 6)).has('users-c'), { timeoutMs: 30_000, what: `${g.name} routes to users-c` })
  })

  test('partition of gw1 from etcd: gw1 keeps the targets it knew while the others follow a deregistration; after healing it converges', { timeout: 90_000 }, async (t) => {
    if (fleet.net.mode !== 'netns') return t.skip(`needs network namespaces: ${fleet.net.reason}`)
    const [g1, g2] = fleet.instances as [Instance, Instance, Instance]
    const c = fleet.origins.find((o) => o.name === 'users-c')!
    fleet.net.partition(0, fleet.net.etcd)
    try {
      await fleet.deregister(c)
      await pollUntil(async () => !(await origins(g2, 6)).has('users-c'), { timeoutMs: 15_000, what: 'gw2 drops users-c' })
      assert.ok((await origins(g1, 9)).has('users-c'), 'gw1, cut off from etcd, still routes to the target it knew')
    } finally {
      fleet.net.heal(0, fleet.net.etcd)
    }
    await pollUntil(async () => !(await origins(g1, 6)).has('users-c'), { timeoutMs: 60_000, intervalMs: 250, what: 'gw1 drops users-c after the partition heals' })
  })
}
