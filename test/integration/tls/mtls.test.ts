// mTLS downstream against node:tls/https clients: client_auth required / optional per listener and
// per SNI, and the identity forwarded upstream in x-client-cert-* (client-sent copies never pass).
// The mtls-auth plugin on top of it: test/integration/plugins/mtls-auth.test.ts.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { createPki, type Ca, type Issued } from '../../helpers/pki.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { get, handshake } from './client.js'

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let clientsCa: Ca
let rogueCa: Ca
let server: Issued
let other: Issued
let alice: Issued
let bob: Issued
let rogue: Issued
let origin: Origin
const gateways: InProcGateway[] = []

before(async () => {
  pki = await createPki()
  ;[ca, clientsCa, rogueCa] = await Promise.all([pki.ca('Server CA'), pki.ca('Clients CA'), pki.ca('Rogue CA')])
  ;[server, other, alice, bob, rogue] = await Promise.all([
    ca.issue({ names: ['api.test'] }),
    ca.issue({ names: ['open.test'] }),
    clientsCa.issue({ cn: 'alice', client: true, sans: ['URI:spiffe://example.org/alice', 'email:alice@example.org'] }),
    clientsCa.issue({ cn: 'bob', client: true }),
    rogueCa.issue({ cn: 'alice', client: true }),
  ])
  origin = await startOrigin()
})
after(async () => {
  await Promise.all(gateways.map((g) => g.close()))
  await origin.close()
  await pki.remove()
})

async function gateway(tlsExtra: string, routePlugins = '[]', consumers = '[]'): Promise<number> {
  const gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      tls:
        certificates:
          - { cert_file: ${server.chainFile}, key_file: ${server.keyFile} }
          - { cert_file: ${other.chainFile}, key_file: ${other.keyFile} }
${tlsExtra.replace(/^/gm, '        ')}
upstreams:
  o: { targets: [{ url: ${origin.url} }] }
consumers: ${consumers}
routes:
  - { name: all, paths: [/*], upstream: o, plugins: ${routePlugins} }
log: { level: silent, access_log: false }
`)
  gateways.push(gw)
  return gw.dp.addresses()[0]!.port
}

type Seen = { headers: Record<string, string | undefined> }

test('client_auth required: no certificate or a foreign CA\'s is refused; a verified one is forwarded as x-client-cert-*, forged copies dropped', async () => {
  const port = await gateway(`client_auth: { mode: required, ca_file: ${clientsCa.certFile} }`)
  await assert.rejects(get(port, { sni: 'api.test' }))
  await assert.rejects(get(port, { sni: 'api.test', cert: rogue.chain, key: rogue.key }))
  const r = await get(port, {
    sni: 'api.test',
    cert: alice.cert,
    key: alice.key,
    headers: { 'x-client-cert-subject': 'CN=admin', 'x-client-cert-verified': 'SUCCESS', 'X-Client-Cert-San': 'URI:spiffe://evil' },
  })
  assert.equal(r.status, 200)
  const h = r.json<Seen>().headers
  assert.equal(h['x-client-cert-verified'], 'SUCCESS')
  assert.match(h['x-client-cert-subject']!, /CN=alice/)
  assert.doesNotMatch(h['x-client-cert-subject']!, /admin/)
  assert.equal(h['x-client-cert-san'], 'URI:spiffe://example.org/alice, email:alice@example.org')
  assert.match(h['x-client-cert-issuer']!, /CN=Clients CA/)
  assert.match(h['x-client-cert-fingerprint']!, /^[0-9A-F:]{95}$/)
})

test('client_auth optional: the request goes on and the upstream learns NONE or FAILED; forged headers never pass', async () => {
  const port = await gateway(`client_auth: { mode: optional, ca_file: ${clientsCa.certFile} }`)
  const none = await get(port, { sni: 'api.test', headers: { 'x-client-cert-verified': 'SUCCESS', 'x-client-cert-subject': 'CN=alice' } })
  assert.equal(none.status, 200)
  assert.equal(none.json<Seen>().headers['x-client-cert-verified'], 'NONE')
  assert.equal(none.json<Seen>().headers['x-client-cert-subject'], undefined)
  const failed = await get(port, { sni: 'api.test', cert: rogue.cert, key: rogue.key })
  assert.equal(failed.json<Seen>().headers['x-client-cert-verified'], 'FAILED')
  assert.equal(failed.json<Seen>().headers['x-client-cert-subject'], undefined)
  const ok = await get(port, { sni: 'api.test', cert: bob.cert, key: bob.key })
  assert.equal(ok.json<Seen>().headers['x-client-cert-verified'], 'SUCCESS')
})

test('client_auth per SNI: required for one name, not asked on another', async () => {
  const port = await gateway(`sni:\n  api.test: { client_auth: { mode: required, ca_file: ${clientsCa.certFile} } }`)
  await assert.rejects(get(port, { sni: 'api.test' }))
  assert.equal((await get(port, { sni: 'api.test', cert: alice.cert, key: alice.key })).status, 200)
  const open = await get(port, { sni: 'open.test' })
  assert.equal(open.status, 200)
  assert.equal(open.json<Seen>().headers['x-client-cert-verified'], 'NONE')
  // The handshake itself completes for the open name without a certificate.
  assert.equal((await handshake(port, { servername: 'open.test' })).cert.subject.CN, 'open.test')
})

test('a cleartext listener never passes client-sent x-client-cert-* headers upstream', async () => {
  const origin2 = origin
  const gw = await startInProc(`
server: { listen: 127.0.0.1:0 }
upstreams: { o: { targets: [{ url: ${origin2.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
`)
  gateways.push(gw)
  const r = await request(`${gw.url}/`, { headers: { 'x-client-cert-verified': 'SUCCESS', 'x-client-cert-subject': 'CN=alice', 'x-client-cert-fingerprint': 'AA' } })
  const h = ((await r.body.json()) as Seen).headers
  assert.equal(h['x-client-cert-verified'], undefined)
  assert.equal(h['x-client-cert-subject'], undefined)
  assert.equal(h['x-client-cert-fingerprint'], undefined)
})
