// mtls-auth on a real https listener with client_auth optional: the verified client certificate
// (here its SAN URI, a SPIFFE ID) names the consumer, whose roles rbac then checks; a certificate
// that maps to no consumer is 403; none, or one from another CA with the same CN, is 401. A
// client-sent x-consumer-name never reaches the upstream.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createPki, type Ca, type Issued } from '../../helpers/pki.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { get } from '../tls/client.js'

let pki: Awaited<ReturnType<typeof createPki>>
let clientsCa: Ca
let server: Issued
let alice: Issued
let bob: Issued
let rogue: Issued
let origin: Origin
let gw: InProcGateway | undefined

interface Seen {
  headers: Record<string, string | undefined>
}

before(async () => {
  pki = await createPki()
  const [ca, clients, rogueCa] = await Promise.all([pki.ca('Server CA'), pki.ca('Clients CA'), pki.ca('Rogue CA')])
  clientsCa = clients
  ;[server, alice, bob, rogue] = await Promise.all([
    ca.issue({ names: ['api.test'] }),
    clientsCa.issue({ cn: 'alice', client: true, sans: ['URI:spiffe://example.org/alice', 'email:alice@example.org'] }),
    clientsCa.issue({ cn: 'bob', client: true }),
    rogueCa.issue({ cn: 'alice', client: true }),
  ])
  origin = await startOrigin()
})
after(async () => {
  await gw?.close()
  await origin.close()
  await pki.remove()
})

test('mtls-auth: the certificate names the consumer (rbac sees its roles); unlisted 403; none or unverified 401', async () => {
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      tls:
        certificates: [{ cert_file: ${server.chainFile}, key_file: ${server.keyFile} }]
        client_auth: { mode: optional, ca_file: ${clientsCa.certFile} }
upstreams:
  o: { targets: [{ url: ${origin.url} }] }
consumers: [{ name: alice, roles: [admin] }]
routes:
  - name: all
    paths: [/*]
    upstream: o
    plugins:
      - { name: mtls-auth, config: { match_on: san_uri, consumers: { "spiffe://example.org/alice": alice } } }
      - { name: rbac, config: { from: consumer, any_of: [admin] } }
log: { level: silent, access_log: false }
`)
  const port = gw.dp.addresses()[0]!.port
  const ok = await get(port, { sni: 'api.test', cert: alice.cert, key: alice.key, headers: { 'x-consumer-name': 'root' } })
  assert.equal(ok.status, 200)
  assert.equal(ok.json<Seen>().headers['x-consumer-name'], 'alice')
  const unlisted = await get(port, { sni: 'api.test', cert: bob.cert, key: bob.key })
  assert.equal(unlisted.status, 403)
  assert.equal(unlisted.json().error, 'forbidden')
  const none = await get(port, { sni: 'api.test' })
  assert.equal(none.status, 401)
  const forged = await get(port, { sni: 'api.test', cert: rogue.cert, key: rogue.key })
  assert.equal(forged.status, 401, 'same CN from another CA is not alice')
})
