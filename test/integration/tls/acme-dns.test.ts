// DNS-01 through the webhook hook, against a Pebble that requires External Account Binding: the
// gateway's webhook calls land on a small server here that puts the TXT records into
// pebble-challtestsrv (Pebble's DNS) through its HTTP API (set-txt / clear-txt), so Pebble
// validates for real. A wildcard certificate (only DNS-01 can validate one) is issued and served
// for any one-label name under it, every record put is removed again, and the account was bound
// with the EAB key (Pebble refuses a new account without it).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { startPebble, type Pebble } from '../../helpers/pebble.js'
import { startOrigin, freePort, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'
import { handshake } from './client.js'

// Pebble's own example key (base64url); acme-client takes the same form.
const EAB = { kid: 'kid-portico', hmac: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W' }

let pebble: Pebble
let origin: Origin
let hook: http.Server
let storage: string
const calls: Array<{ action: string; domain: string; name: string; value: string; auth: string | undefined }> = []
const gateways: Gateway[] = []

before(async () => {
  storage = await mkdtemp(join(tmpdir(), 'portico-acme-dns-'))
  ;[pebble, origin] = await Promise.all([startPebble({ httpPort: await freePort(), eab: { [EAB.kid]: EAB.hmac } }), startOrigin()])
  hook = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      void (async () => {
        const c = JSON.parse(body) as { action: string; domain: string; name: string; value: string }
        calls.push({ ...c, auth: req.headers.authorization })
        const path = c.action === 'present' ? '/set-txt' : '/clear-txt'
        const r = await request(`${pebble.challtestUrl}${path}`, { method: 'POST', body: JSON.stringify(c.action === 'present' ? { host: c.name, value: c.value } : { host: c.name }) })
        await r.body.dump()
        res.writeHead(r.statusCode === 200 ? 204 : 502).end()
      })()
    })
  })
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r))
})
after(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await new Promise((r) => hook?.close(r))
  await pebble?.close()
  await origin?.close()
  await rm(storage, { recursive: true, force: true })
})

test('DNS-01 via the webhook hook, with EAB: a wildcard certificate issued and served; records removed', { timeout: 300_000 }, async () => {
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/dns`
  const gw = await startGateway({
    args: ['--workers', '1'],
    readyTimeoutMs: 120_000,
    env: { EAB_HMAC: EAB.hmac, HOOK_TOKEN: 'hook-secret' },
    config: ({ port, adminPort }) => `
server:
  listeners:
    - listen: 127.0.0.1:${port}
      tls: { acme: true }
admin: { listen: 127.0.0.1:${adminPort} }
acme:
  directory: ${pebble.directory}
  ca_file: ${pebble.caFile}
  terms_of_service_agreed: true
  eab: { kid: ${EAB.kid}, hmac_key: "\${env:EAB_HMAC}" }
  storage_dir: ${storage}
  challenge: dns-01
  dns:
    webhook: { url: "${hookUrl}", headers: { authorization: "Bearer \${env:HOOK_TOKEN}" }, timeout: 5s }
  certificates:
    - { name: wild, names: ["*.wild.test", wild.test] }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
log: { level: info, access_log: false }
`,
  })
  gateways.push(gw)
  const root = await pebble.root()
  const h = await pollUntil(
    async () => {
      const x = await handshake(gw.port, { servername: 'a.wild.test', ca: root, rejectUnauthorized: true }).catch(() => null)
      return x?.authorized === true ? x : null
    },
    { timeoutMs: 90_000, intervalMs: 250, what: 'the wildcard certificate' },
  )
  assert.match(h.cert.subjectaltname ?? '', /DNS:\*\.wild\.test/)
  assert.equal((await handshake(gw.port, { servername: 'wild.test', ca: root, rejectUnauthorized: true })).cert.serialNumber, h.cert.serialNumber)
  assert.equal((await handshake(gw.port, { servername: 'other.wild.test', ca: root, rejectUnauthorized: true })).cert.serialNumber, h.cert.serialNumber)
  // Two authorizations (the wildcard and the bare name), each presented then cleaned up, on one record name.
  const presents = calls.filter((c) => c.action === 'present')
  assert.equal(presents.length, 2, JSON.stringify(calls))
  assert.ok(presents.every((c) => c.name === '_acme-challenge.wild.test.' && c.domain === 'wild.test' && /^[A-Za-z0-9_-]{43}$/.test(c.value)))
  await pollUntil(() => calls.filter((c) => c.action === 'cleanup').length === 2, { timeoutMs: 10_000, what: 'both records removed' })
  assert.ok(calls.every((c) => c.auth === 'Bearer hook-secret'))
  // Secrets stay out of the logs.
  assert.ok(!gw.stdout().includes(EAB.hmac) && !gw.stdout().includes('hook-secret'))
})
