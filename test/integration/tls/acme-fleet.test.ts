// ACME in fleet mode: three gateway processes (each its own storage_dir, as on three machines)
// share one redis-server and one Pebble. Pebble validates HTTP-01 on one port, where this test
// puts a small HTTP load balancer that sends each validation to an instance that does NOT hold the
// certificate's lock, so a pass proves the token came from the Store. Checked: one order (and one
// finalize) for the names across the fleet, all three serve the same certificate (same serial,
// chains to Pebble's root); the values in Redis are sealed; and when the holder of another
// certificate's lock is SIGKILLed while the CA validates (the balancer holds that validation), its
// lock expires and a surviving instance finishes the issuance, served by both survivors.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { startPebble, type Pebble } from '../../helpers/pebble.js'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { startOrigin, freePort, type Origin } from '../../helpers/origin.js'
import type { Gateway } from '../../helpers/gateway.js'
import { startFleetInstance } from './fleet-instance.js'
import { pollUntil } from '../../helpers/poll.js'
import { handshake } from './client.js'

interface Instance {
  gw: Gateway
  httpPort: number
  dir: string
  killed: boolean
}

let pebble: Pebble
let redis: RedisServer
let raw: Redis
let origin: Origin
let lb: http.Server
const instances: Instance[] = []
/** Validations for slow.test wait here while `holdSlow` is set. */
let holdSlow = true
const held: http.ServerResponse[] = []
/** Which instance answered each validation (by index) and whether it held the lock. */
const answered: Array<{ host: string; by: number; holder: number; status: number }> = []
const KEY = randomBytes(32).toString('base64')

const certOf = (host: string): string => (host.startsWith('slow.') ? 'slow' : 'shop')

/** The instance whose primary holds `cert`'s lock now (the owner token is host/pid/random), or -1. */
async function holderOf(cert: string): Promise<number> {
  const owner = await raw.get(`portico:acme:{cert:${cert}}:lock`)
  const pid = owner === null ? NaN : Number(owner.split('/')[1])
  return instances.findIndex((i) => i.gw.pid === pid)
}

function startBalancer(port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const host = String(req.headers.host ?? '').replace(/:\d+$/, '')
    if (host === 'slow.test' && holdSlow) {
      held.push(res)
      return
    }
    void (async () => {
      const holder = await holderOf(certOf(host))
      // Any live instance but the holder (the holder's own workers could read a local copy).
      const pick = instances.findIndex((i, n) => !i.killed && n !== holder)
      const target = instances[pick]
      if (target === undefined) return void res.writeHead(502).end()
      try {
        const r = await request(`http://127.0.0.1:${target.httpPort}${req.url}`, { headers: { host } })
        const body = await r.body.text()
        answered.push({ host, by: pick, holder, status: r.statusCode })
        res.writeHead(r.statusCode, { 'content-type': 'text/plain' }).end(body)
      } catch {
        res.writeHead(502).end()
      }
    })()
  })
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)))
}

before(async () => {
  const lbPort = await freePort()
  ;[pebble, redis, origin, lb] = await Promise.all([startPebble({ httpPort: lbPort }), startRedis(), startOrigin(), startBalancer(lbPort)])
  raw = new Redis(redis.url)
})

after(async () => {
  for (const r of held.splice(0)) r.destroy()
  await Promise.all(instances.map((i) => i.gw.stop()))
  await Promise.all(instances.map((i) => rm(i.dir, { recursive: true, force: true })))
  raw?.disconnect()
  lb?.closeAllConnections()
  await new Promise((r) => lb?.close(r))
  await Promise.all([pebble?.close(), redis?.close(), origin?.close()])
})

async function startInstance(): Promise<Instance> {
  const httpPort = await freePort()
  const { gw, dir } = await startFleetInstance({ redis, pebble, origin, key: KEY }, {
    httpPort,
    dirPrefix: 'portico-acme-fleet-',
    listenerTls: '{ acme: true }',
    // Renewed every third of it; 3s let a holder stalled 2 s on a loaded CI host lose it mid-order, and the next holder ordered again.
    lockTtl: '8s',
    acme: `  certificates:
    - { name: shop, names: [shop.test, www.shop.test] }
    - { name: slow, names: [slow.test] }`,
  })
  const inst = { gw, httpPort, dir, killed: false }
  instances.push(inst)
  return inst
}

const lines = (i: Instance, msg: string, cert: string): number =>
  i.gw
    .stdout()
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`) && l.includes(`"certificate":"${cert}"`)).length
const total = (msg: string, cert: string, of = instances): number => of.reduce((n, i) => n + lines(i, msg, cert), 0)

async function served(i: Instance, servername: string, root: string): Promise<string | null> {
  const h = await handshake(i.gw.port, { servername, ca: root, rejectUnauthorized: true }).catch(() => null)
  return h?.authorized === true ? h.cert.serialNumber : null
}

test('three instances, one Redis, one Pebble: one order per name, the same certificate everywhere, a killed lock holder replaced', { timeout: 300_000 }, async (t) => {
  const t0 = Date.now()
  const at = (what: string): void => t.diagnostic(`${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  await Promise.all([startInstance(), startInstance(), startInstance()])
  at('three instances ready')
  const root = await pebble.root()

  // 1. shop: issued once, served by all three with the same serial.
  const serials = await pollUntil(
    async () => {
      const s = await Promise.all(instances.map((i) => served(i, 'shop.test', root)))
      return s.every((x) => x !== null) ? s : null
    },
    { timeoutMs: 90_000, intervalMs: 200, what: 'the shop certificate on all three instances' },
  )
  at('shop served by all three')
  // Publication delay, from the instances' own logs: issued on one, mirrored for the workers on the others.
  const times = (msg: string): number[] =>
    instances.flatMap((i) =>
      i.gw
        .stdout()
        .split('\n')
        .filter((l) => l.includes(`"msg":"${msg}"`) && l.includes('"certificate":"shop"'))
        .map((l) => Number((JSON.parse(l) as { time: number }).time)),
    )
  const issuedAt = times('acme certificate issued')[0]!
  t.diagnostic(`shop mirrored by the other instances ${times('acme certificate from the store mirrored for the workers').map((x) => `${x - issuedAt} ms`).join(', ')} after its issuance`)
  assert.equal(new Set(serials).size, 1, `one certificate everywhere: ${serials.join(', ')}`)
  assert.equal(await served(instances[0]!, 'www.shop.test', root), serials[0])
  assert.equal(total('acme order', 'shop'), 1, 'one order for shop across the fleet')
  assert.equal(total('acme finalize', 'shop'), 1, 'one finalize for shop across the fleet')
  // The CA's validations were answered by instances that did not hold the lock (tokens from the Store).
  const shopChecks = answered.filter((a) => certOf(a.host) === 'shop')
  assert.ok(shopChecks.length >= 2 && shopChecks.every((a) => a.status === 200 && a.by !== a.holder), JSON.stringify(shopChecks))

  // Sealed at rest: no PEM, no key material in Redis.
  for (const k of await raw.keys('portico:acme:*')) {
    if ((await raw.type(k)) !== 'string') continue
    assert.ok(!(await raw.get(k))!.includes('BEGIN'), `${k} is not sealed`)
  }

  // 2. slow: its holder validates (the balancer holds the CA's request); kill it mid-issuance.
  await pollUntil(() => held.length > 0, { timeoutMs: 60_000, what: 'the slow.test validation reaching the balancer' })
  const victim = await pollUntil(async () => {
    const h = await holderOf('slow')
    return h >= 0 ? h : null
  }, { timeoutMs: 10_000, what: 'the holder of the slow lock' })
  at('slow holder validating; killing it')
  const dead = instances[victim]!
  dead.killed = true
  process.kill(-dead.gw.pid, 'SIGKILL')
  await dead.gw.exited
  // The held validation fails (the dead instance's order is abandoned); later ones pass.
  holdSlow = false
  for (const r of held.splice(0)) r.destroy()

  const survivors = instances.filter((i) => !i.killed)
  const slowSerials = await pollUntil(
    async () => {
      const s = await Promise.all(survivors.map((i) => served(i, 'slow.test', root)))
      return s.every((x) => x !== null) ? s : null
    },
    { timeoutMs: 90_000, intervalMs: 200, what: 'the slow certificate on both survivors' },
  )
  at('slow served by both survivors')
  assert.equal(new Set(slowSerials).size, 1)
  assert.equal(lines(dead, 'acme finalize', 'slow'), 0, 'the killed holder never finalized')
  assert.equal(total('acme finalize', 'slow', survivors), 1, 'one survivor finished the issuance')
  assert.equal(total('acme certificate issued', 'slow', survivors), 1)
  // shop was not ordered again by anyone.
  assert.equal(total('acme order', 'shop'), 1)
})
