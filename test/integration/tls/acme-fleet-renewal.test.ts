// An ACME renewal in fleet mode while clients keep opening new TLS connections: three gateway
// processes share one redis-server and one Pebble, which issues 60-second certificates, and
// renew_before: 30s brings the certificate due 30 s after its issuance, on all three instances at
// the same moment (the other 30 s are the margin for the order on a loaded host). Meanwhile two loops per instance each open a new connection (a
// full handshake with SNI, verified against Pebble's root), send one HTTPS request and close.
// Checked: exactly one order (and one finalize) across the fleet for the renewal, every instance
// serves the new serial afterwards (and each served both during the load), and not one handshake
// or request failed. A single instance needs no test of its own: its renewal writes storage_dir as
// every instance here does (the issuer directly, the others by mirroring), and its workers reload
// from there alike (file rotation under load is rotation.test.ts).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import https from 'node:https'
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import type { TLSSocket } from 'node:tls'
import { startPebble, type Pebble } from '../../helpers/pebble.js'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { startOrigin, freePort, type Origin } from '../../helpers/origin.js'
import type { Gateway } from '../../helpers/gateway.js'
import { startFleetInstance } from './fleet-instance.js'
import { pollUntil } from '../../helpers/poll.js'

/** Seconds: with renew_before 30s, due after 30 s, and 30 s left for the renewal before the old one expires. */
const VALIDITY_S = 60
const LOOPS_PER_INSTANCE = 2

interface Instance {
  gw: Gateway
  dir: string
}

let pebble: Pebble
let redis: RedisServer
let origin: Origin
/** Pebble validates HTTP-01 on the first instance's cleartext port; the token is in Redis, so any instance answers. */
let validationPort: number
const instances: Instance[] = []
const KEY = randomBytes(32).toString('base64')

before(async () => {
  validationPort = await freePort()
  ;[pebble, redis, origin] = await Promise.all([startPebble({ httpPort: validationPort, certificateValiditySeconds: VALIDITY_S }), startRedis(), startOrigin()])
})

after(async () => {
  await Promise.all(instances.map((i) => i.gw.stop()))
  await Promise.all(instances.map((i) => rm(i.dir, { recursive: true, force: true })))
  await Promise.all([pebble?.close(), redis?.close(), origin?.close()])
})

async function startInstance(httpPort: number): Promise<Instance> {
  const inst = await startFleetInstance({ redis, pebble, origin, key: KEY }, {
    httpPort,
    dirPrefix: 'portico-acme-renew-',
    listenerTls: '{ acme: true }',
    // Renewed every 5 s: a holder would have to stall 15 s to lose it mid-order (8 s was once too close on a loaded CI host).
    lockTtl: '15s',
    acme: `  renew_before: 30s
  certificates:
    - { name: shop, names: [shop.test] }`,
  })
  instances.push(inst)
  return inst
}

/** One new connection: a full handshake for shop.test verified against `root`, one GET, closed. The serial it was served. */
function oneRequest(port: number, root: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/', servername: 'shop.test', headers: { host: 'shop.test' }, ca: root, agent: false },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber
        res.resume()
        res.on('end', () => (res.statusCode === 200 ? resolve(serial) : reject(new Error(`status ${res.statusCode}`))))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end()
  })
}

interface LogLine {
  msg: string
  time: number
  certificate?: string
  serial?: string
}
const logOf = (i: Instance): LogLine[] =>
  i.gw
    .stdout()
    .split('\n')
    .flatMap((l) => {
      // The last line may still be arriving.
      try {
        return [JSON.parse(l) as LogLine]
      } catch {
        return []
      }
    })
    .filter((l) => l.certificate === 'shop')
const fleetLog = (msg: string): LogLine[] => instances.flatMap((i) => logOf(i).filter((l) => l.msg === msg))

test('fleet renewal under a load of new handshakes: one order, the new serial everywhere, zero failed handshakes', { timeout: 300_000 }, async (t) => {
  const t0 = Date.now()
  const at = (what: string): void => t.diagnostic(`${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  await Promise.all([startInstance(validationPort), startInstance(await freePort()), startInstance(await freePort())])
  at('three instances ready')
  const root = await pebble.root()

  // The certificate every instance serves before the load starts.
  const first = await pollUntil(
    async () => {
      const s = await Promise.all(instances.map((i) => oneRequest(i.gw.port, root).catch(() => null)))
      return s.every((x) => x !== null && x === s[0]) ? s[0] : null
    },
    { timeoutMs: 90_000, intervalMs: 200, what: 'one certificate on all three instances' },
  )
  at(`serial ${first} served by all three`)

  let running = true
  let ok = 0
  const failures: string[] = []
  /** Per instance: requests served by serial. */
  const seen = instances.map(() => new Map<string, number>())
  const loop = async (n: number): Promise<void> => {
    const i = instances[n]!
    while (running) {
      try {
        const serial = await oneRequest(i.gw.port, root)
        ok++
        seen[n]!.set(serial, (seen[n]!.get(serial) ?? 0) + 1)
      } catch (err) {
        failures.push(`instance ${n} at ${((Date.now() - t0) / 1000).toFixed(1)} s: ${(err as Error).message}`)
      }
    }
  }
  const loops = instances.flatMap((_, n) => Array.from({ length: LOOPS_PER_INSTANCE }, () => loop(n)))
  try {
    // The renewal comes due on its own (renew_before); every instance moves to its serial
    // and keeps serving it for a while, all under load.
    const renewed = await pollUntil(
      () => {
        const next = seen.map((m) => [...m.keys()].find((s) => s !== first))
        return next.every((s) => s !== undefined && s === next[0]) && seen.every((m) => (m.get(next[0]!) ?? 0) >= 20) ? next[0] : null
      },
      { timeoutMs: 150_000, intervalMs: 200, what: 'the renewed certificate served by all three instances under load' },
    )
    at(`renewed serial ${renewed} served by all three`)
    const before = ok
    await pollUntil(() => ok >= before + 60, { timeoutMs: 60_000, what: 'more requests after the renewal' })
  } finally {
    running = false
    await Promise.all(loops)
  }
  const renewedSerial = seen.map((m) => [...m.keys()].find((s) => s !== first))[0]!
  t.diagnostic(`${ok} handshakes + requests, ${failures.length} failed; per instance by serial: ${JSON.stringify(seen.map((m) => Object.fromEntries(m)))}`)
  assert.deepEqual(failures, [], 'no failed handshake or request')
  for (const [n, m] of seen.entries()) {
    assert.ok((m.get(first) ?? 0) > 0 && (m.get(renewedSerial) ?? 0) > 0, `instance ${n} served both certificates under load`)
    assert.deepEqual([...m.keys()].sort(), [first, renewedSerial].sort(), `instance ${n} served only these two`)
  }

  // One order for the renewal: the orders between the two issuances, across the fleet.
  const issued = fleetLog('acme certificate issued')
  const issuedAt = (serial: string): number => {
    const l = issued.filter((x) => x.serial?.toUpperCase() === serial.toUpperCase())
    assert.equal(l.length, 1, `one issuance of ${serial}: ${JSON.stringify(issued)}`)
    return l[0]!.time
  }
  const from = issuedAt(first)
  const to = issuedAt(renewedSerial)
  const between = (msg: string): LogLine[] => fleetLog(msg).filter((l) => l.time > from && l.time <= to)
  const orders = between('acme order')
  assert.equal(orders.length, 1, 'one order for the renewal across the fleet')
  assert.equal(between('acme finalize').length, 1, 'one finalize for the renewal across the fleet')
  // Every instance served the new certificate from its own storage_dir: the issuer wrote it, the
  // others mirrored it (possibly before the issuer logged its issuance, so counted from the order).
  const mirrored = fleetLog('acme certificate from the store mirrored for the workers').filter((l) => l.time > orders[0]!.time)
  t.diagnostic(`renewal mirrored by the other instances ${mirrored.map((l) => `${l.time - to} ms`).join(', ')} after its issuance`)
  assert.ok(mirrored.length >= 2, 'the two other instances mirrored the renewed certificate')
})
