// HTTPS listeners against node:tls clients: SNI choice (exact, wildcard, default, strict), RSA and
// ECDSA side by side, versions, Host/SNI binding (421), HSTS, X-Forwarded-Proto, the cleartext
// redirect, routes by snis, session resumption with shared ticket keys. Certificates come from a
// CA made with openssl at test time (test/helpers/pki.ts).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { createPki, type Ca, type Issued } from '../../helpers/pki.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { get, handshake } from './client.js'

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let origin: Origin
let a: Issued
let aRsa: Issued
let b: Issued
let wild: Issued
const gateways: InProcGateway[] = []

before(async () => {
  pki = await createPki()
  ca = await pki.ca()
  ;[a, aRsa, b, wild] = await Promise.all([
    ca.issue({ names: ['a.test'], key: 'ec' }),
    ca.issue({ names: ['a.test'], key: 'rsa' }),
    ca.issue({ names: ['b.test', 'b2.test'] }),
    ca.issue({ names: ['*.wild.test'] }),
  ])
  origin = await startOrigin()
})
after(async () => {
  await Promise.all(gateways.map((g) => g.close()))
  await origin.close()
  await pki.remove()
})

const cert = (i: Issued, name?: string): string => `{ ${name === undefined ? '' : `name: ${name}, `}cert_file: ${i.chainFile}, key_file: ${i.keyFile} }`

async function gateway(tlsBlock: string, extra = '', routes = ''): Promise<{ gw: InProcGateway; https: number; http: number }> {
  const gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      tls:
${tlsBlock.replace(/^/gm, '        ')}
    - listen: 127.0.0.1:0
${extra.replace(/^/gm, '      ')}
upstreams:
  o: { targets: [{ url: ${origin.url} }] }
routes:
${routes}
  - { name: all, paths: [/*], upstream: o }
log: { level: silent, access_log: false }
`)
  gateways.push(gw)
  const addrs = gw.dp.addresses()
  return { gw, https: addrs[0]!.port, http: addrs[1]!.port }
}

const fp = (pem: string): string => new X509Certificate(pem).fingerprint256

test('SNI picks the certificate: exact, wildcard (one label), default for unknown or no SNI', async () => {
  const { https } = await gateway(`certificates: [${cert(b, 'b')}, ${cert(a, 'a')}, ${cert(wild, 'wild')}]\ndefault_certificate: b`)
  assert.equal((await handshake(https, { servername: 'a.test' })).cert.fingerprint256, fp(a.cert))
  assert.equal((await handshake(https, { servername: 'B2.TEST' })).cert.fingerprint256, fp(b.cert))
  assert.equal((await handshake(https, { servername: 'x.wild.test' })).cert.fingerprint256, fp(wild.cert))
  // *.wild.test covers one label only: neither the apex nor two labels down.
  assert.equal((await handshake(https, { servername: 'x.y.wild.test' })).cert.fingerprint256, fp(b.cert))
  assert.equal((await handshake(https, { servername: 'wild.test' })).cert.fingerprint256, fp(b.cert))
  assert.equal((await handshake(https, { servername: 'nope.test' })).cert.fingerprint256, fp(b.cert))
  assert.equal((await handshake(https, {})).cert.fingerprint256, fp(b.cert))
  // Verified by a client that trusts the CA and checks the name.
  const ok = await handshake(https, { servername: 'x.wild.test', rejectUnauthorized: true, ca: ca.cert })
  assert.equal(ok.authorized, true)
})

test('RSA and ECDSA certificates for the same name: the client\'s signature algorithms choose', async () => {
  const { https } = await gateway(`certificates: [${cert(a)}, ${cert(aRsa)}]`)
  const ec = await handshake(https, { servername: 'a.test', sigalgs: 'ecdsa_secp256r1_sha256', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })
  assert.equal(ec.cert.fingerprint256, fp(a.cert))
  const rsa = await handshake(https, { servername: 'a.test', sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })
  assert.equal(rsa.cert.fingerprint256, fp(aRsa.cert))
  const rsa13 = await handshake(https, { servername: 'a.test', sigalgs: 'rsa_pss_rsae_sha256' })
  assert.equal(rsa13.cert.fingerprint256, fp(aRsa.cert))
  assert.equal(rsa13.protocol, 'TLSv1.3')
})

test('strict_sni refuses handshakes without SNI or for names no certificate covers', async () => {
  const { https } = await gateway(`certificates: [${cert(a)}]\nstrict_sni: true`)
  assert.equal((await handshake(https, { servername: 'a.test' })).cert.fingerprint256, fp(a.cert))
  await assert.rejects(handshake(https, { servername: 'other.test' }))
  await assert.rejects(handshake(https, {}))
})

test('min_version / max_version: TLS 1.2 refused by a 1.3-only listener, and the reverse', async () => {
  const only13 = await gateway(`certificates: [${cert(a)}]\nmin_version: TLSv1.3`)
  await assert.rejects(handshake(only13.https, { servername: 'a.test', maxVersion: 'TLSv1.2' }))
  assert.equal((await handshake(only13.https, { servername: 'a.test' })).protocol, 'TLSv1.3')
  const only12 = await gateway(`certificates: [${cert(a)}]\nmax_version: TLSv1.2`)
  await assert.rejects(handshake(only12.https, { servername: 'a.test', minVersion: 'TLSv1.3' }))
  assert.equal((await handshake(only12.https, { servername: 'a.test' })).protocol, 'TLSv1.2')
  // ALPN: h2 preferred by default (HTTP/2 is on for https listeners), HTTP/1.1 offered too.
  assert.equal((await handshake(only12.https, { servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2')
  assert.equal((await handshake(only12.https, { servername: 'a.test', ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1')
})

test('a Host the SNI certificate does not cover is 421 misdirected_request; covered hosts are proxied with X-Forwarded-Proto https and HSTS', async () => {
  const { https } = await gateway(`certificates: [${cert(a)}, ${cert(b)}]\nhsts: { max_age: 1h, include_subdomains: true }`)
  const wrong = await get(https, { sni: 'a.test', host: 'b.test', path: '/x' })
  assert.equal(wrong.status, 421)
  const body = wrong.json()
  assert.equal(body.error, 'misdirected_request')
  assert.equal(typeof body.request_id, 'string')
  // Same certificate, other name it covers (connection coalescing): fine.
  const alt = await get(https, { sni: 'b.test', host: 'b2.test:443', path: '/y' })
  assert.equal(alt.status, 200)
  const ok = await get(https, { sni: 'a.test', host: 'a.test', path: '/z' })
  assert.equal(ok.status, 200)
  assert.equal(ok.headers['strict-transport-security'], 'max-age=3600; includeSubDomains')
  const seen = ok.json<{ headers: Record<string, string> }>().headers
  assert.equal(seen['x-forwarded-proto'], 'https')
  assert.match(seen.forwarded!, /proto=https/)
  // A client cannot claim to be https on the cleartext side either.
})

test('a certificate with an IP address in its subjectAltName covers that address as SNI and Host (clients such as wrk send it)', async () => {
  const ip = await ca.issue({ names: ['ip.test'], sans: ['IP:127.0.0.1'] })
  const { https } = await gateway(`certificates: [${cert(a)}, ${cert(ip)}]`)
  const byIp = await get(https, { sni: '127.0.0.1', host: '127.0.0.1', path: '/ip' })
  assert.equal(byIp.status, 200)
  // The address is not a name for another certificate's connection.
  assert.equal((await get(https, { sni: 'a.test', host: '127.0.0.1' })).status, 421)
})

test('check_host: false lets any Host through', async () => {
  const { https } = await gateway(`certificates: [${cert(a)}]\ncheck_host: false`)
  assert.equal((await get(https, { sni: 'a.test', host: 'elsewhere.test' })).status, 200)
})

test('a cleartext listener with redirect_https answers 308 to the https URL; X-Forwarded-Proto is http there', async () => {
  const { http: port } = await gateway(`certificates: [${cert(a)}]`, 'redirect_https: { port: 8443 }')
  const { request } = await import('undici')
  const r = await request(`http://127.0.0.1:${port}/p/q?x=1`, { headers: { host: 'a.test' } })
  assert.equal(r.statusCode, 308)
  assert.equal(r.headers.location, 'https://a.test:8443/p/q?x=1')
  await r.body.dump()
  const { http: plain } = await gateway(`certificates: [${cert(a)}]`)
  const p = await request(`http://127.0.0.1:${plain}/`, { headers: { host: 'a.test', 'x-forwarded-proto': 'https' } })
  const seen = (await p.body.json()) as { headers: Record<string, string> }
  assert.equal(seen.headers['x-forwarded-proto'], 'http')
})

test('routes match on snis; a route with snis never matches cleartext', async () => {
  const { https, http: port } = await gateway(
    `certificates: [${cert(a)}, ${cert(wild)}]\ncheck_host: false`,
    '',
    `  - { name: wild-only, snis: ["*.wild.test"], paths: [/*], upstream: o, plugins: [{ name: headers, config: { response: { set: { x-route: wild } } } }] }`,
  )
  const w = await get(https, { sni: 'x.wild.test', host: 'x.wild.test' })
  assert.equal(w.headers['x-route'], 'wild')
  const other = await get(https, { sni: 'a.test', host: 'x.wild.test' })
  assert.equal(other.status, 200)
  assert.equal(other.headers['x-route'], undefined)
  const { request } = await import('undici')
  const clear = await request(`http://127.0.0.1:${port}/`, { headers: { host: 'x.wild.test' } })
  assert.equal(clear.headers['x-route'], undefined)
  await clear.body.dump()
})

test('session tickets: a second handshake resumes, on this listener and on another one given the same secret', async () => {
  const secret = 's'.repeat(40)
  const one = await gateway(`certificates: [${cert(a)}, ${cert(b)}]\nsession_tickets: { secret: ${secret} }`)
  const two = await gateway(`certificates: [${cert(a)}, ${cert(b)}]\nsession_tickets: { secret: ${secret} }`)
  const other = await gateway(`certificates: [${cert(a)}, ${cert(b)}]\nsession_tickets: { secret: ${'t'.repeat(40)} }`)
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const first = await handshake(one.https, { servername: 'a.test', maxVersion: version })
    assert.equal(first.reused, false)
    assert.ok(first.session, `${version}: a ticket was issued`)
    const again = await handshake(one.https, { servername: 'a.test', maxVersion: version, session: first.session })
    assert.equal(again.reused, true, `${version}: resumed on the same listener`)
    const elsewhere = await handshake(two.https, { servername: 'a.test', maxVersion: version, session: first.session })
    assert.equal(elsewhere.reused, true, `${version}: resumed on another listener with the same secret`)
    const stranger = await handshake(other.https, { servername: 'a.test', maxVersion: version, session: first.session })
    assert.equal(stranger.reused, false, `${version}: another secret cannot read the ticket`)
  }
})

test('a listener whose certificate does not parse or does not match its key fails to start with a message naming it', async () => {
  await assert.rejects(gateway(`certificates: [{ cert_file: ${a.chainFile}, key_file: ${b.keyFile} }]`), /does not belong to the certificate/)
  await assert.rejects(gateway(`certificates: [{ cert_file: /nonexistent/x.crt, key_file: ${b.keyFile} }]`), /nonexistent\/x\.crt: ENOENT/)
})
