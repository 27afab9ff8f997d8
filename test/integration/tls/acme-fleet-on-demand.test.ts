// On-demand TLS in fleet mode: three gateway processes share one redis-server (acme.storage:
// redis) and one Pebble, with acme.on_demand and an ask URL served by this test (it approves
// *.ok.test only). Checked:
// - a first handshake for an approved name on instance A is held and served with the certificate
//   issued for it; the same name on B and C is served the same certificate (same serial), with no
//   second order anywhere;
// - first handshakes for another approved name on all three at once: all three are held, one
//   instance orders (the others find its lock taken), and every held handshake is served with
//   that one certificate when its publication lands;
// - a name only A was asked for is also in B's and C's renewal schedule (taken over from the Store,
//   so it is renewed while any instance runs), and B and C serve it without asking;
// - a name the ask URL refuses is refused on every instance (strict_sni) and ordered by none.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { Redis } from 'ioredis'
import { startPebble, type Pebble } from '../../helpers/pebble.js'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { startOrigin, freePort, type Origin } from '../../helpers/origin.js'
import { adminJson, type Gateway } from '../../helpers/gateway.js'
import { startFleetInstance } from './fleet-instance.js'
import { pollUntil } from '../../helpers/poll.js'
import { handshake, get, type Handshake } from './client.js'

interface Instance {
  gw: Gateway
  dir: string
}

/** A row of /status `acme` (the instance's renewal schedule). */
interface AcmeRow {
  name: string
  on_demand: boolean
  next_check: string | null
  orders: number
}

let pebble: Pebble
let redis: RedisServer
let raw: Redis
let origin: Origin
let ask: http.Server
let askUrl: string
/** Pebble validates HTTP-01 on instance A's cleartext port; the token is in Redis, so A answers for any holder. */
let validationPort: number
const asked = new Map<string, number>()
/**
 * Approvals of two.ok.test wait here until all three instances have asked, so that all three go for
 * its lock within moments of each other (the holder's order then takes CA round trips, so the
 * other two find the lock taken and wait for its publication).
 */
const parked: http.ServerResponse[] = []
const instances: Instance[] = []
const KEY = randomBytes(32).toString('base64')

before(async () => {
  validationPort = await freePort()
  ask = http.createServer((req, res) => {
    const domain = new URL(req.url ?? '/', 'http://x').searchParams.get('domain') ?? ''
    asked.set(domain, (asked.get(domain) ?? 0) + 1)
    if (domain === 'two.ok.test') {
      parked.push(res)
      if (parked.length === 3) for (const r of parked.splice(0)) r.writeHead(200).end()
      return
    }
    res.writeHead(domain.endsWith('.ok.test') ? 200 : 403).end()
  })
  await new Promise<void>((r) => ask.listen(0, '127.0.0.1', r))
  askUrl = `http://127.0.0.1:${(ask.address() as AddressInfo).port}/check`
  ;[pebble, redis, origin] = await Promise.all([startPebble({ httpPort: validationPort }), startRedis(), startOrigin()])
  raw = new Redis(redis.url)
})

after(async () => {
  for (const r of parked.splice(0)) r.destroy()
  await Promise.all(instances.map((i) => i.gw.stop()))
  await Promise.all(instances.map((i) => rm(i.dir, { recursive: true, force: true })))
  raw?.disconnect()
  ask?.closeAllConnections()
  await new Promise((r) => ask?.close(r))
  await Promise.all([pebble?.close(), redis?.close(), origin?.close()])
})

async function startInstance(httpPort: number): Promise<Instance> {
  const inst = await startFleetInstance({ redis, pebble, origin, key: KEY }, {
    httpPort,
    dirPrefix: 'portico-acme-fleet-od-',
    listenerTls: '{ acme: true, strict_sni: true }',
    // A holder would have to stall 15 s to lose it mid-order (8 s was once too close on a loaded CI host).
    lockTtl: '15s',
    acme: `  on_demand: { ask: "${askUrl}", wait: 120s, per_name_interval: 1h, max_orders: 10, per: 1h }`,
  })
  instances.push(inst)
  return inst
}

/** Log lines of one instance with this message about certificate `name` (an on-demand certificate is named after its name). */
const lines = (i: Instance, msg: string, name: string): number =>
  i.gw
    .stdout()
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`) && l.includes(`"certificate":"${name}"`)).length
/** "acme order" lines for `name` across the fleet. */
const orders = (name: string): number => instances.reduce((n, i) => n + lines(i, 'acme order', name), 0)

/** A handshake for `name`, verified against Pebble's root (the name included). */
const verified = (i: Instance, name: string, root: string): Promise<Handshake> => handshake(i.gw.port, { servername: name, ca: root, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'] })

test('on-demand in fleet mode: held first handshakes served, one order per name across the fleet, refused names ordered nowhere', { timeout: 300_000 }, async (t) => {
  const t0 = Date.now()
  const at = (what: string): void => t.diagnostic(`${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  const [a, b, c] = await Promise.all([startInstance(validationPort), startInstance(await freePort()), startInstance(await freePort())])
  assert.ok(a !== undefined && b !== undefined && c !== undefined)
  at('three instances ready')
  const root = await pebble.root()

  // 1. A first: its handshake is held while the name is asked about and ordered, then served.
  const onA = await verified(a, 'one.ok.test', root)
  at('one.ok.test served by A')
  assert.match(String(onA.cert.issuer?.CN), /Pebble Intermediate/)
  assert.match(onA.cert.subjectaltname ?? '', /DNS:one\.ok\.test/)
  assert.equal(asked.get('one.ok.test'), 1)
  // B and C: the same certificate (mirrored from the Store, or found there on their own demand), no second order.
  const [onB, onC] = await Promise.all([verified(b, 'one.ok.test', root), verified(c, 'one.ok.test', root)])
  assert.equal(onB.cert.serialNumber, onA.cert.serialNumber)
  assert.equal(onC.cert.serialNumber, onA.cert.serialNumber)
  assert.equal((await get(b.gw.port, { sni: 'one.ok.test', ca: root, path: '/x' })).status, 200)
  assert.equal(orders('one.ok.test'), 1, 'one order for one.ok.test across the fleet')

  // 2. All three at once (their approvals released together): three held handshakes, one order,
  // the same certificate for each.
  const together = await Promise.all([a, b, c].map((i) => verified(i, 'two.ok.test', root)))
  at('two.ok.test served by all three')
  assert.ok(together.every((h) => /DNS:two\.ok\.test/.test(h.cert.subjectaltname ?? '')))
  assert.equal(new Set(together.map((h) => h.cert.serialNumber)).size, 1, `one certificate: ${together.map((h) => h.cert.serialNumber).join(', ')}`)
  assert.equal(orders('two.ok.test'), 1, 'one order for two.ok.test across the fleet')
  // The other two served it from the Store's copy, mirrored into their storage_dir.
  const holder = [a, b, c].findIndex((i) => lines(i, 'acme order', 'two.ok.test') === 1)
  t.diagnostic(`two.ok.test ordered by instance ${'ABC'[holder]}`)
  for (const [n, i] of [a, b, c].entries()) {
    if (n !== holder) assert.ok(lines(i, 'acme certificate from the store mirrored for the workers', 'two.ok.test') >= 1, `instance ${'ABC'[n]} mirrored it`)
  }
  // Each instance decided for itself (on_demand limits count per instance).
  assert.equal(asked.get('two.ok.test'), 3)

  // 3. A name only A was asked for: B and C take over its renewal from the Store (as they would
  // after a restart), so it is renewed while any instance runs, not only while A does.
  const onlyA = await verified(a, 'three.ok.test', root)
  const renewing = async (i: Instance): Promise<AcmeRow | null> => {
    const row = (await adminJson<{ acme?: AcmeRow[] }>(i.gw, '/status')).body.acme?.find((r) => r.name === 'three.ok.test')
    // Taken over = checked once (found fresh in the Store) and scheduled for its renewal time.
    return row !== undefined && row.on_demand && row.next_check !== null && Date.parse(row.next_check) > Date.now() + 86_400_000 ? row : null
  }
  for (const i of [b, c]) {
    const row = await pollUntil(() => renewing(i), { timeoutMs: 60_000, intervalMs: 200, what: 'three.ok.test in the renewal schedule of B and C' })
    assert.equal(row.orders, 0)
    assert.equal((await verified(i, 'three.ok.test', root)).cert.serialNumber, onlyA.cert.serialNumber)
  }
  assert.equal(asked.get('three.ok.test'), 1, 'B and C were never asked for it: they serve the Store\'s copy')
  assert.equal(orders('three.ok.test'), 1)

  // 4. Refused by the ask URL: no certificate on any instance (strict_sni fails the handshake), no order.
  for (const i of [a, b, c]) await assert.rejects(handshake(i.gw.port, { servername: 'x.no.test' }))
  assert.equal(asked.get('x.no.test'), 3, 'each instance asked once')
  assert.equal(orders('x.no.test'), 0, 'a refused name is ordered nowhere')
  const index = ((await raw.get('portico:acme:certs')) ?? '').split('\n')
  assert.deepEqual(index.sort(), ['one.ok.test', 'three.ok.test', 'two.ok.test'])
  // Nothing else was ordered meanwhile.
  assert.equal(orders('one.ok.test'), 1)
})
