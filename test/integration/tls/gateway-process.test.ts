// The real `portico start` with two workers and an https listener: every worker serves the same
// certificates and shares session-ticket keys (a ticket from one worker resumes on the other),
// /status lists the certificates (never a key) and /metrics carries their expiry.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { createPki, type Ca, type Issued } from '../../helpers/pki.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { handshake } from './client.js'

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let a: Issued
let origin: Origin
let gw: Gateway | undefined

before(async () => {
  pki = await createPki()
  ca = await pki.ca()
  a = await ca.issue({ names: ['a.test', '*.a.test'] })
  origin = await startOrigin()
})
after(async () => {
  await gw?.stop()
  await origin.close()
  await pki.remove()
})

test('two workers: shared ticket keys, certificates in /status, expiry in /metrics', { timeout: 300_000 }, async () => {
  gw = await startGateway({
    args: ['--workers', '2'],
    readyTimeoutMs: 120_000,
    config: ({ port, adminPort }) => `
server:
  listeners:
    - listen: 127.0.0.1:${port}
      tls: { certificates: [{ name: site-a, cert_file: ${a.chainFile}, key_file: ${a.keyFile} }] }
admin: { listen: 127.0.0.1:${adminPort} }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
log: { level: warn, access_log: false }
`,
  })
  const first = await handshake(gw.port, { servername: 'a.test', maxVersion: 'TLSv1.2' })
  // Connections are spread over both workers (cluster round robin): all of them resume.
  for (let i = 0; i < 8; i++) {
    const again = await handshake(gw.port, { servername: 'a.test', maxVersion: 'TLSv1.2', session: first.session })
    assert.equal(again.reused, true, `handshake ${i} resumed`)
  }
  const st = await request(`${gw.adminUrl}/status`)
  const text = await st.body.text()
  assert.doesNotMatch(text, /PRIVATE KEY/)
  const doc = JSON.parse(text) as { certificates: Array<{ name: string; names: string[]; not_after: string; source: string; workers: number[] }> }
  assert.equal(doc.certificates.length, 1)
  const c = doc.certificates[0]!
  assert.equal(c.name, 'site-a')
  assert.deepEqual(c.names, ['a.test', '*.a.test'])
  assert.equal(c.source, `file:${a.chainFile}`)
  assert.deepEqual([...c.workers].sort(), [0, 1])
  const m = await request(`${gw.adminUrl}/metrics`)
  const metrics = await m.body.text()
  const line = /portico_tls_certificate_expiry_seconds\{name="site-a"\} (\d+)/.exec(metrics)
  assert.ok(line, 'expiry series present')
  const left = Number(line[1])
  assert.ok(left > 9 * 86400 && left <= 10 * 86400, `about ten days left, got ${left}s`)
})
