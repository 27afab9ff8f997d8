// ACME Renewal Information (RFC 9773) with Pebble. Debian's Pebble (2.4) has no renewalInfo
// endpoint, so a stand-in serves the RFC's documented part of it beside the real CA: Pebble's
// directory with `renewalInfo` added, and `GET /ari/<certID>` answering the window the test sets.
// Everything else (account, orders, HTTP-01 validation, issuance) is Pebble's.
// - A fresh certificate whose window has begun is replaced at the next check (here, a restart):
//   a second order, a new serial served, the stand-in asked for the first certificate's ID.
// - A window in the future orders nothing.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { startPebble, type Pebble } from '../../helpers/pebble.js'
import { startOrigin, freePort, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'
import { handshake } from './client.js'

let pebble: Pebble
let origin: Origin
let httpPort: number
let storage: string
let standIn: https.Server
let directory: string
const asked: string[] = []
let window: { start: string; end: string } = { start: '', end: '' }
const gateways: Gateway[] = []
let toPebble: Agent | undefined

before(async () => {
  httpPort = await freePort()
  storage = await mkdtemp(join(tmpdir(), 'portico-acme-ari-'))
  ;[pebble, origin] = await Promise.all([startPebble({ httpPort }), startOrigin()])
  toPebble = new Agent({ connect: { ca: readFileSync(pebble.caFile) } })
  standIn = https.createServer({ cert: readFileSync(pebble.tls.certFile), key: readFileSync(pebble.tls.keyFile) }, (req, res) => {
    void (async () => {
      if (req.url === '/dir') {
        const dir = (await (await request(pebble.directory, { dispatcher: toPebble })).body.json()) as Record<string, unknown>
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ ...dir, renewalInfo: `https://127.0.0.1:${(standIn.address() as AddressInfo).port}/ari` }))
        return
      }
      const m = /^\/ari\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(req.url ?? '')
      if (m === null) {
        res.writeHead(404).end()
        return
      }
      asked.push(m[1]!)
      res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '21600' })
      res.end(JSON.stringify({ suggestedWindow: window }))
    })().catch(() => res.destroy())
  })
  await new Promise<void>((r) => standIn.listen(0, '127.0.0.1', r))
  directory = `https://127.0.0.1:${(standIn.address() as AddressInfo).port}/dir`
})
after(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  standIn?.closeAllConnections()
  await new Promise((r) => standIn?.close(r))
  await toPebble?.close()
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
admin: { listen: 127.0.0.1:${adminPort} }
acme:
  directory: ${directory}
  ca_file: ${pebble.caFile}
  terms_of_service_agreed: true
  storage_dir: ${storage}
  certificates:
    - { name: shop, names: [shop.test] }
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
const served = (gw: Gateway) =>
  pollUntil(
    async () => {
      const h = await handshake(gw.port, { servername: 'shop.test' }).catch(() => null)
      return h !== null && /Pebble Intermediate/.test(String(h.cert.issuer?.CN)) ? h.cert : null
    },
    { timeoutMs: 90_000, intervalMs: 250, what: 'the ACME certificate on the https listener' },
  )

/** The RFC 9773 certID of a PEM certificate, by openssl (not the code under test). */
function certIdByOpenssl(pem: string): string {
  const text = execFileSync('openssl', ['x509', '-noout', '-serial', '-ext', 'authorityKeyIdentifier'], { input: pem, encoding: 'utf8' })
  const serialHex = /serial=([0-9A-F]+)/i.exec(text)![1]!
  // OpenSSL 3 prints the key id on the line after the heading (1.1 prefixed it with "keyid:").
  const akiHex = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/i.exec(text)![1]!.replaceAll(':', '')
  let serial = serialHex.length % 2 === 1 ? `0${serialHex}` : serialHex
  if (Number.parseInt(serial.slice(0, 2), 16) >= 0x80) serial = `00${serial}`
  return `${Buffer.from(akiHex, 'hex').toString('base64url')}.${Buffer.from(serial, 'hex').toString('base64url')}`
}

const pemOf = (raw: Buffer) => `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`

test('ARI: a window that has begun replaces a fresh certificate at the next check; a future window orders nothing', { timeout: 400_000 }, async () => {
  const now = Date.now()
  window = { start: new Date(now - 3_600_000).toISOString(), end: new Date(now - 60_000).toISOString() }
  const first = await start()
  const cert1 = await served(first)
  assert.equal(orders(first), 1)
  await first.stop()

  // A restart: the stored certificate is fresh by its lifetime, but the CA's window says now.
  const second = await start()
  const id1 = certIdByOpenssl(pemOf(cert1.raw))
  await pollUntil(() => asked.includes(id1), { timeoutMs: 60_000, what: 'the renewalInfo request for the first certificate' })
  await second.waitForOutput(/the CA suggests renewing now \(ARI\)/, 30_000)
  const cert2 = await pollUntil(
    async () => {
      const c = await served(second)
      return c.serialNumber !== cert1.serialNumber ? c : null
    },
    { timeoutMs: 90_000, intervalMs: 250, what: 'the replacement certificate' },
  )
  assert.equal(orders(second), 1, 'one order for the replacement')
  await second.stop()

  // A window a month ahead: the manager reads it, draws a time in it, and orders nothing.
  window = { start: new Date(now + 30 * 86_400_000).toISOString(), end: new Date(now + 31 * 86_400_000).toISOString() }
  const third = await start()
  const id2 = certIdByOpenssl(pemOf(cert2.raw))
  await third.waitForOutput(/renewal window from the CA \(ARI\)/, 60_000)
  assert.ok(asked.includes(id2), 'asked about the replacement certificate')
  const line = third.stdout().split('\n').find((l) => l.includes('renewal window from the CA')) ?? ''
  const renewAt = Date.parse((JSON.parse(line) as { renew_at: string }).renew_at)
  assert.ok(renewAt >= Date.parse(window.start) && renewAt <= Date.parse(window.end), `renew_at ${new Date(renewAt).toISOString()} inside the window`)
  assert.equal(orders(third), 0)
  assert.equal((await served(third)).serialNumber, cert2.serialNumber)
})
