// On-demand TLS against Pebble: an https listener with acme: true and no certificate at all. The
// first handshake for a name waits while the primary asks the ask URL, orders the certificate
// (TLS-ALPN-01 on the same listener) and the worker picks it up; that handshake is then served
// with it. A name the ask URL refuses, a name refused a moment ago, and a name past the global
// max_orders are refused without an order (and the last two without asking again). strict_sni
// makes a refusal a failed handshake (else the default certificate is served).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPebble, type Pebble } from '../../helpers/pebble.js'
import { startOrigin, freePort, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { handshake, get } from './client.js'

let pebble: Pebble
let origin: Origin
let tlsPort: number
let storage: string
let ask: http.Server
let askUrl: string
const asked = new Map<string, number>()
const gateways: Gateway[] = []

before(async () => {
  const [tls, unusedHttp] = await Promise.all([freePort(), freePort()])
  tlsPort = tls
  storage = await mkdtemp(join(tmpdir(), 'portico-acme-od-'))
  ask = http.createServer((req, res) => {
    const domain = new URL(req.url ?? '/', 'http://x').searchParams.get('domain') ?? ''
    asked.set(domain, (asked.get(domain) ?? 0) + 1)
    res.writeHead(domain.endsWith('.ok.test') ? 200 : 403).end()
  })
  await new Promise<void>((r) => ask.listen(0, '127.0.0.1', r))
  askUrl = `http://127.0.0.1:${(ask.address() as AddressInfo).port}/check`
  ;[pebble, origin] = await Promise.all([startPebble({ httpPort: unusedHttp, tlsPort }), startOrigin()])
})
after(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await pebble?.close()
  await origin?.close()
  await new Promise((r) => ask?.close(r))
  await rm(storage, { recursive: true, force: true })
})

const orders = (gw: Gateway): number => (gw.stdout().match(/"msg":"acme order"/g) ?? []).length

test('on-demand: the first handshake gets its certificate; ask, per-name and global limits refuse without ordering', { timeout: 400_000 }, async () => {
  const gw = await startGateway({
    args: ['--workers', '1'],
    readyTimeoutMs: 120_000,
    config: ({ adminPort }) => `
server:
  listeners:
    - listen: 127.0.0.1:${tlsPort}
      tls: { acme: true, strict_sni: true }
admin: { listen: 127.0.0.1:${adminPort} }
acme:
  directory: ${pebble.directory}
  ca_file: ${pebble.caFile}
  terms_of_service_agreed: true
  challenge: tls-alpn-01
  storage_dir: ${storage}
  on_demand: { ask: "${askUrl}", wait: 120s, per_name_interval: 1h, max_orders: 2, per: 1h }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
log: { level: info, access_log: false }
`,
  })
  gateways.push(gw)

  // The very first handshake for a.ok.test is answered with a Pebble certificate for it.
  const first = await handshake(tlsPort, { servername: 'a.ok.test', ALPNProtocols: ['http/1.1'] })
  assert.match(String(first.cert.issuer?.CN), /Pebble Intermediate/)
  assert.match(first.cert.subjectaltname ?? '', /DNS:a\.ok\.test/)
  assert.equal(asked.get('a.ok.test'), 1)
  assert.equal(orders(gw), 1)
  const meta = JSON.parse(await readFile(join(storage, 'certificates', 'a.ok.test', 'meta.json'), 'utf8')) as { on_demand?: boolean }
  assert.equal(meta.on_demand, true)
  // Next handshakes and requests: served at once, no new ask or order.
  const again = await handshake(tlsPort, { servername: 'a.ok.test' })
  assert.equal(again.cert.fingerprint256, first.cert.fingerprint256)
  assert.equal((await get(tlsPort, { sni: 'a.ok.test', path: '/x' })).status, 200)
  assert.equal(asked.get('a.ok.test'), 1)

  // The ask URL says no: refused (strict_sni: no default certificate), no order; a second try is not asked again.
  await assert.rejects(handshake(tlsPort, { servername: 'x.no.test' }))
  assert.equal(asked.get('x.no.test'), 1)
  await assert.rejects(handshake(tlsPort, { servername: 'x.no.test' }))
  assert.equal(asked.get('x.no.test'), 1, 'per_name_interval: not asked again')

  // max_orders: 2 per hour: b.ok.test is the second order, c.ok.test is refused before asking.
  const b = await handshake(tlsPort, { servername: 'b.ok.test' })
  assert.match(b.cert.subjectaltname ?? '', /DNS:b\.ok\.test/)
  await assert.rejects(handshake(tlsPort, { servername: 'c.ok.test' }))
  assert.equal(asked.get('c.ok.test'), undefined, 'the global limit refuses before the ask URL')
  assert.equal(orders(gw), 2)
  // The log line may reach stdout a moment after the refused handshake.
  await gw.waitForOutput(/global on-demand limit reached/, 30_000)

  // Not demandable at all: a single-label name (nor an IP address) is never asked about.
  await assert.rejects(handshake(tlsPort, { servername: 'localhost' }))
  assert.equal(asked.get('localhost'), undefined, 'a single-label name is never demanded')
})
