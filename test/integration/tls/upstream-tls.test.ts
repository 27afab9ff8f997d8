// TLS towards upstreams against real node:https origins: verification on by default, a CA bundle,
// SNI / server_name, pinned names, upstream mTLS (client certificate), and active health checks
// over the same TLS settings.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import https from 'node:https'
import type http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { request } from 'undici'
import { createPki, type Ca, type Issued } from '../../helpers/pki.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let clientsCa: Ca
let backend: Issued
let gwClient: Issued
let plain: https.Server
let mutual: https.Server
const gateways: InProcGateway[] = []

function listen(s: https.Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)))
}

const answer: http.RequestListener = (req, res) => {
  const peer = (req.socket as TLSSocket).getPeerCertificate()
  const body = JSON.stringify({ sni: (req.socket as TLSSocket & { servername?: string }).servername ?? null, client: peer?.subject?.CN ?? null })
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(body)
}

let plainPort = 0
let mutualPort = 0
before(async () => {
  pki = await createPki()
  ;[ca, clientsCa] = await Promise.all([pki.ca('Upstream CA'), pki.ca('Gateway clients CA')])
  ;[backend, gwClient] = await Promise.all([ca.issue({ names: ['backend.test'] }), clientsCa.issue({ cn: 'portico-gw', client: true })])
  plain = https.createServer({ cert: backend.chain, key: backend.key }, answer)
  mutual = https.createServer({ cert: backend.chain, key: backend.key, requestCert: true, rejectUnauthorized: true, ca: clientsCa.cert }, answer)
  ;[plainPort, mutualPort] = await Promise.all([listen(plain), listen(mutual)])
})
after(async () => {
  await Promise.all(gateways.map((g) => g.close()))
  plain.closeAllConnections()
  mutual.closeAllConnections()
  plain.close()
  mutual.close()
  await pki.remove()
})

async function gateway(port: number, tls: string, extra = ''): Promise<InProcGateway> {
  const gw = await startInProc(`
server: { listen: 127.0.0.1:0 }
upstreams:
  u:
    targets: [{ url: https://127.0.0.1:${port} }]
${tls === '' ? '' : `    tls: ${tls}`}
${extra}
routes: [{ name: all, paths: [/*], upstream: u, retries: { attempts: 0 } }]
log: { level: silent, access_log: false }
`)
  gateways.push(gw)
  return gw
}

async function call(gw: InProcGateway): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await request(`${gw.url}/`)
  return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> }
}

test('https targets are verified by default: an unknown CA is 502, the configured CA bundle passes, server_name is the SNI', async () => {
  const untrusted = await call(await gateway(plainPort, ''))
  assert.equal(untrusted.status, 502)
  assert.equal(untrusted.body.error, 'upstream_unreachable')
  const wrongName = await call(await gateway(plainPort, `{ ca_file: ${ca.certFile}, server_name: other.test }`))
  assert.equal(wrongName.status, 502)
  const ok = await call(await gateway(plainPort, `{ ca_file: ${ca.certFile}, server_name: backend.test }`))
  assert.equal(ok.status, 200)
  assert.equal(ok.body.sni, 'backend.test')
  const off = await call(await gateway(plainPort, '{ verify: false }'))
  assert.equal(off.status, 200)
})

test('pinned_names: the certificate must carry one of them (an IP-addressed target with a known name)', async () => {
  assert.equal((await call(await gateway(plainPort, `{ ca_file: ${ca.certFile}, pinned_names: [backend.test] }`))).status, 200)
  assert.equal((await call(await gateway(plainPort, `{ ca_file: ${ca.certFile}, pinned_names: [evil.test] }`))).status, 502)
})

test('upstream mTLS: the target requires a client certificate; with cert_file/key_file the gateway presents one', async () => {
  assert.equal((await call(await gateway(mutualPort, `{ ca_file: ${ca.certFile}, server_name: backend.test }`))).status, 502)
  const ok = await call(await gateway(mutualPort, `{ ca_file: ${ca.certFile}, server_name: backend.test, cert_file: ${gwClient.certFile}, key_file: ${gwClient.keyFile} }`))
  assert.equal(ok.status, 200)
  assert.equal(ok.body.client, 'portico-gw')
})

test('active health checks use the upstream\'s TLS settings', async () => {
  const hc = '    health_checks: { active: { interval: 100ms, timeout: 1s, unhealthy: { failures: 1 }, healthy: { successes: 1 } } }'
  const bad = await gateway(plainPort, `{ server_name: backend.test }`, hc)
  await pollUntil(() => bad.dp.status().upstreams.u?.targets[0]?.healthy === false, { timeoutMs: 10_000, what: 'target unhealthy (untrusted certificate)' })
  const good = await gateway(mutualPort, `{ ca_file: ${ca.certFile}, server_name: backend.test, cert_file: ${gwClient.certFile}, key_file: ${gwClient.keyFile} }`, hc)
  // Stays healthy over several probe rounds.
  await new Promise<void>((resolve) => {
    let rounds = 0
    const t = setInterval(() => {
      assert.equal(good.dp.status().upstreams.u?.targets[0]?.healthy, true)
      if (++rounds === 5) {
        clearInterval(t)
        resolve()
      }
    }, 100)
  })
  assert.equal((await call(good)).status, 200)
})
