// TLS identity spoofing: a client that forges the gateway's mTLS identity headers, claims https
// over cleartext, or sends a Host its connection's certificate does not cover (domain fronting
// across SNI names). Each gets a clean answer, never a bypass.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import tls from 'node:tls'
import { request } from 'undici'
import { createPki, type Ca, type Issued } from '../helpers/pki.js'
import { startOrigin, type Origin } from '../helpers/origin.js'
import { startInProc, type InProcGateway } from '../helpers/inproc.js'
import { get } from '../integration/tls/client.js'

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let pub: Issued
let admin: Issued
let origin: Origin
let gw: InProcGateway
let tlsPort: number

before(async () => {
  pki = await createPki()
  ca = await pki.ca()
  ;[pub, admin] = await Promise.all([ca.issue({ names: ['www.test'] }), ca.issue({ names: ['admin.test'] })])
  origin = await startOrigin()
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      tls:
        certificates:
          - { cert_file: ${pub.chainFile}, key_file: ${pub.keyFile} }
          - { cert_file: ${admin.chainFile}, key_file: ${admin.keyFile} }
        sni:
          admin.test: { client_auth: { mode: required, ca_file: ${ca.certFile} } }
    - listen: 127.0.0.1:0
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes:
  - { name: admin, hosts: [admin.test], paths: [/*], upstream: o, plugins: [{ name: mock, config: { status: 200, body: "admin area" } }] }
  - { name: www, paths: [/*], upstream: o }
log: { level: silent, access_log: false }
`)
  tlsPort = gw.dp.addresses()[0]!.port
})
after(async () => {
  await gw.close()
  await origin.close()
  await pki.remove()
})

type Seen = { headers: Record<string, string | undefined> }

test('Host fronting: a connection made for www.test cannot reach admin.test (whose SNI requires a client certificate): 421', async () => {
  const r = await get(tlsPort, { sni: 'www.test', host: 'admin.test', path: '/secrets' })
  assert.equal(r.status, 421)
  assert.equal(r.json().error, 'misdirected_request')
  assert.doesNotMatch(r.text, /admin area/)
  // Leaving SNI out (the default certificate, no client-certificate request) does not get around it.
  // (node:https would derive SNI from the Host header, so the request is written by hand.)
  const noSni = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false }, () => s.end('GET /secrets HTTP/1.1\r\nhost: admin.test\r\nconnection: close\r\n\r\n'))
    let out = ''
    s.on('data', (d: Buffer) => (out += d.toString()))
    s.on('end', () => resolve(out))
    s.on('error', reject)
  })
  assert.match(noSni, /^HTTP\/1\.1 421 /)
  assert.doesNotMatch(noSni, /admin area/)
})

test('forged x-client-cert-* headers never reach the upstream, on https without mTLS and on cleartext', async () => {
  const forged = { 'x-client-cert-verified': 'SUCCESS', 'x-client-cert-subject': 'CN=root', 'x-client-cert-san': 'URI:spiffe://prod/admin', 'x-client-cert-fingerprint': 'AB:CD' }
  const viaTls = await get(tlsPort, { sni: 'www.test', path: '/', headers: forged })
  const h1 = viaTls.json<Seen>().headers
  for (const k of Object.keys(forged)) if (k !== 'x-client-cert-verified') assert.equal(h1[k], undefined, k)
  assert.equal(h1['x-client-cert-verified'], 'NONE')
  const clear = await request(`http://127.0.0.1:${gw.dp.addresses()[1]!.port}/`, { headers: { host: 'www.test', ...forged, 'x-forwarded-proto': 'https' } })
  const h2 = ((await clear.body.json()) as Seen).headers
  for (const k of Object.keys(forged)) assert.equal(h2[k], undefined, k)
  assert.equal(h2['x-forwarded-proto'], 'http', 'a cleartext client cannot claim https')
})
