// ACME TLS-ALPN-01 (RFC 8737) against Pebble: the gateway has no cleartext listener at all. The
// primary orders with tls-alpn-01 and writes the validation certificate to the storage; Pebble's
// validator connects to the worker's https listener (acme: true) with SNI = the name and ALPN
// acme-tls/1 only, and gets that certificate; every other handshake on the listener is served as
// before (http/1.1, the issued certificate once there). Pebble validates for real.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPebble, type Pebble } from '../../helpers/pebble.js'
import { startOrigin, freePort, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'
import { handshake, get } from './client.js'

let pebble: Pebble
let origin: Origin
let tlsPort: number
let storage: string
const gateways: Gateway[] = []

before(async () => {
  // Pebble validates tls-alpn-01 on tlsPort: the gateway's https listener binds exactly there.
  // httpPort has nothing listening, so an HTTP-01 attempt could not succeed.
  const [tls, unusedHttp] = await Promise.all([freePort(), freePort()])
  tlsPort = tls
  storage = await mkdtemp(join(tmpdir(), 'portico-acme-alpn-'))
  ;[pebble, origin] = await Promise.all([startPebble({ httpPort: unusedHttp, tlsPort }), startOrigin()])
})
after(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await pebble?.close()
  await origin?.close()
  await rm(storage, { recursive: true, force: true })
})

const orders = (gw: Gateway): number => (gw.stdout().match(/"msg":"acme order"/g) ?? []).length

test('TLS-ALPN-01 issuance with Pebble on the https listener alone; ordinary handshakes unaffected', { timeout: 400_000 }, async () => {
  const gw = await startGateway({
    args: ['--workers', '1'],
    readyTimeoutMs: 120_000,
    config: ({ adminPort }) => `
server:
  listeners:
    - listen: 127.0.0.1:${tlsPort}
      tls: { acme: true }
admin: { listen: 127.0.0.1:${adminPort} }
acme:
  directory: ${pebble.directory}
  ca_file: ${pebble.caFile}
  terms_of_service_agreed: true
  challenge: tls-alpn-01
  storage_dir: ${storage}
  certificates:
    - { name: alpn, names: [alpn.test, api.alpn.test] }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
log: { level: info, access_log: false }
`,
  })
  gateways.push(gw)
  const issued = await pollUntil(
    async () => {
      const h = await handshake(tlsPort, { servername: 'alpn.test', ALPNProtocols: ['h2', 'http/1.1'] }).catch(() => null)
      return h !== null && /Pebble Intermediate/.test(String(h.cert.issuer?.CN)) ? h : null
    },
    { timeoutMs: 120_000, intervalMs: 250, what: 'the TLS-ALPN-01 certificate on the https listener' },
  )
  assert.match(issued.cert.subjectaltname ?? '', /DNS:alpn\.test/)
  assert.match(issued.cert.subjectaltname ?? '', /DNS:api\.alpn\.test/)
  assert.equal(issued.alpn, 'h2', 'ordinary clients still negotiate their protocol (h2 first, the listener default)')
  assert.equal((await handshake(tlsPort, { servername: 'alpn.test', ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1')
  const verified = await handshake(tlsPort, { servername: 'api.alpn.test', rejectUnauthorized: true, ca: await pebble.root() })
  assert.equal(verified.authorized, true)
  const r = await get(tlsPort, { sni: 'alpn.test', path: '/hello' })
  assert.equal(r.status, 200)
  assert.equal(orders(gw), 1)
  await gw.waitForOutput(/"msg":"acme certificate issued"/, 30_000)

  // With no challenge pending, an acme-tls/1 handshake is refused; so is one that offers no protocol we serve.
  await assert.rejects(handshake(tlsPort, { servername: 'alpn.test', ALPNProtocols: ['acme-tls/1'] }))
  await assert.rejects(handshake(tlsPort, { servername: 'alpn.test', ALPNProtocols: ['spdy/3'] }))
  // Without ALPN at all, the handshake is an ordinary one.
  const plain = await handshake(tlsPort, { servername: 'alpn.test' })
  assert.equal(plain.cert.fingerprint256, issued.cert.fingerprint256)
})
