// ACME against Pebble (a real RFC 8555 CA; test/helpers/pebble.ts): the primary orders a
// certificate with HTTP-01, which the worker's cleartext listener answers before routing; the
// worker's https listener (acme: true) serves the issued certificate without a restart. A
// restart with the same storage serves it at once and orders nothing (never twice for the same
// names). Pebble validates for real (no PEBBLE_VA_ALWAYS_VALID): a wrong token fails the order.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { startPebble, type Pebble } from '../../helpers/pebble.js'
import { startOrigin, freePort, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'
import { handshake, get } from './client.js'

let pebble: Pebble
let origin: Origin
let httpPort: number
let storage: string
const gateways: Gateway[] = []

before(async () => {
  httpPort = await freePort()
  storage = await mkdtemp(join(tmpdir(), 'portico-acme-'))
  ;[pebble, origin] = await Promise.all([startPebble({ httpPort }), startOrigin()])
})
after(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await pebble?.close()
  await origin?.close()
  await rm(storage, { recursive: true, force: true })
})

function start(): Promise<Gateway> {
  return startGateway({
    args: ['--workers', '1'],
    readyTimeoutMs: 120_000,
    config: ({ port, adminPort }) => `
server:
  listeners:
    - listen: 127.0.0.1:${port}
      tls: { acme: true }
    - listen: 127.0.0.1:${httpPort}
      redirect_https: { port: ${port} }
admin: { listen: 127.0.0.1:${adminPort} }
acme:
  directory: ${pebble.directory}
  ca_file: ${pebble.caFile}
  email: ops@example.org
  terms_of_service_agreed: true
  storage_dir: ${storage}
  certificates:
    - { name: shop, names: [shop.test, www.shop.test] }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
log: { level: info, access_log: false }
`,
  }).then((g) => {
    gateways.push(g)
    return g
  })
}

const orders = (gw: Gateway): number => (gw.stdout().match(/"msg":"acme order"/g) ?? []).length

test('HTTP-01 issuance with Pebble: one order, served by the worker on the next handshake, kept across a restart', { timeout: 400_000 }, async () => {
  const gw = await start()
  const root = await pebble.root()
  const issued = await pollUntil(
    async () => {
      const h = await handshake(gw.port, { servername: 'shop.test' }).catch(() => null)
      return h !== null && /Pebble Intermediate/.test(String(h.cert.issuer?.CN)) ? h : null
    },
    { timeoutMs: 90_000, intervalMs: 250, what: 'the ACME certificate on the https listener' },
  )
  assert.match(issued.cert.subjectaltname ?? '', /DNS:shop\.test/)
  assert.match(issued.cert.subjectaltname ?? '', /DNS:www\.shop\.test/)
  // The chain verifies against Pebble's root for both names.
  const verified = await handshake(gw.port, { servername: 'www.shop.test', rejectUnauthorized: true, ca: root })
  assert.equal(verified.authorized, true)
  const r = await get(gw.port, { sni: 'shop.test', path: '/hello' })
  assert.equal(r.status, 200)
  // The cleartext listener redirects, but not the challenge path (an unknown token is a 404, not a redirect).
  const redirect = await request(`http://127.0.0.1:${httpPort}/x`, { headers: { host: 'shop.test' } })
  assert.equal(redirect.statusCode, 308)
  await redirect.body.dump()
  const token = await request(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/nope`, { headers: { host: 'shop.test' } })
  assert.equal(token.statusCode, 404)
  await token.body.dump()
  assert.equal(orders(gw), 1)
  type Renewal = { name: string; names: string[]; ordering: boolean; next_check: string | null; orders: number; failures: number; last_error: unknown }
  const status = JSON.parse(await (await request(`${gw.adminUrl}/status`)).body.text()) as {
    certificates: Array<{ name: string; source: string; issuer: string; not_after: string }>
    acme: Renewal[]
  }
  // The renewal state: one order placed, none failed, the next look scheduled before expiry.
  const renewal = status.acme.find((a) => a.name === 'shop')
  assert.ok(renewal, JSON.stringify(status.acme))
  assert.deepEqual([renewal.names, renewal.orders, renewal.failures, renewal.last_error], [['shop.test', 'www.shop.test'], 1, 0, null])
  if (!renewal.ordering) {
    const next = Date.parse(renewal.next_check ?? '')
    assert.ok(next > Date.now() && next < Date.parse(status.certificates[0]!.not_after), `next check ${renewal.next_check}`)
  }
  const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text()
  assert.match(metrics, /portico_acme_orders_total\{certificate="shop",result="issued"\} 1\b/)
  assert.doesNotMatch(metrics, /portico_acme_orders_total\{[^}]*result="failed"/)
  assert.equal(status.certificates[0]?.name, 'shop')
  assert.equal(status.certificates[0]?.source, 'acme')
  assert.match(status.certificates[0]!.issuer, /Pebble/)
  const key = await readFile(join(storage, 'certificates', 'shop', 'key.pem'), 'utf8')
  assert.match(key, /PRIVATE KEY/)
  assert.ok(!JSON.stringify(status).includes(key.slice(40, 80)))

  await gw.stop()
  const again = await start()
  const h = await handshake(again.port, { servername: 'shop.test' })
  assert.equal(h.cert.fingerprint256, issued.cert.fingerprint256, 'the stored certificate is served right after the restart')
  // Give the manager its check; it must not order.
  await again.waitForOutput(/portico ready/, 30_000)
  assert.equal(orders(again), 0)
  const after = JSON.parse(await (await request(`${again.adminUrl}/status`)).body.text()) as { acme: Renewal[] }
  assert.equal(after.acme.find((a) => a.name === 'shop')?.orders, 0, 'a restart with a stored certificate orders nothing')
})
