// Certificate rotation: files replaced on disk (rename, as cert-manager and ACME clients do) are
// served from the next handshake on, under load, with zero failed requests; a half-written pair
// (new certificate, old key) keeps the old pair serving. /status and the expiry metric follow.
// The same for the ACME storage: a renewal caught between its key.pem and cert.pem renames keeps
// the served pair (it used to drop the certificate, failing every handshake for its names).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import https from 'node:https'
import { X509Certificate } from 'node:crypto'
import { copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { createPki, type Ca, type Issued } from '../../helpers/pki.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'
import { registry } from '../../../src/observability/metrics.js'
import { AcmeDirectory } from '../../../src/tls/acme/storage.js'
import { createTlsListener } from '../../../src/tls/listener.js'
import { get, handshake } from './client.js'

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let v1: Issued
let v2: Issued
let v3: Issued
let origin: Origin
let gw: InProcGateway | undefined

before(async () => {
  pki = await createPki()
  ca = await pki.ca()
  ;[v1, v2, v3] = await Promise.all([ca.issue({ names: ['a.test'], days: 5 }), ca.issue({ names: ['a.test'], days: 20 }), ca.issue({ names: ['a.test'], days: 30 })])
  origin = await startOrigin()
})
after(async () => {
  await gw?.close()
  await origin.close()
  await pki.remove()
})

const fp = (pem: string): string => new X509Certificate(pem).fingerprint256

/** Replace a file by rename, as certificate tools do. */
async function replace(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp`
  await copyFile(from, tmp)
  await rename(tmp, to)
}

test('rotation under load: new handshakes get the new certificate, no request fails, /status and the metric follow', async () => {
  const certFile = join(pki.dir, 'live.crt')
  const keyFile = join(pki.dir, 'live.key')
  await copyFile(v1.chainFile, certFile)
  await copyFile(v1.keyFile, keyFile)
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      tls: { certificates: [{ name: live, cert_file: ${certFile}, key_file: ${keyFile} }] }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
log: { level: silent, access_log: false }
`)
  const port = gw.dp.addresses()[0]!.port
  assert.equal((await handshake(port, { servername: 'a.test' })).cert.fingerprint256, fp(v1.cert))

  let ok = 0
  let failed = 0
  const errors: string[] = []
  const seen = new Set<string>()
  let running = true
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 2 })
  const loop = async (agent: https.Agent | undefined): Promise<void> => {
    while (running) {
      try {
        const r = await get(port, { sni: 'a.test', ca: ca.cert, agent })
        if (r.status === 200) ok++
        else {
          failed++
          errors.push(`status ${r.status}`)
        }
      } catch (err) {
        failed++
        errors.push((err as Error).message)
      }
    }
  }
  // New connections (each a full handshake) and kept-alive ones side by side.
  const loops = [loop(undefined), loop(undefined), loop(keepAlive), loop(keepAlive)]
  const probe = async (): Promise<string> => {
    const h = await handshake(port, { servername: 'a.test' })
    seen.add(h.cert.fingerprint256)
    return h.cert.fingerprint256
  }
  await pollUntil(() => ok > 20, { timeoutMs: 20_000, what: 'load running' })

  // A half-written pair: the new certificate with the old key. The old pair keeps serving.
  await replace(v2.chainFile, certFile)
  const before = ok
  await pollUntil(() => ok > before + 20, { timeoutMs: 20_000, what: 'requests during the mismatched pair' })
  assert.equal(await probe(), fp(v1.cert))

  await replace(v2.keyFile, keyFile)
  await pollUntil(async () => (await probe()) === fp(v2.cert), { timeoutMs: 10_000, what: 'the rotated certificate on new handshakes' })
  // Without SNI too (the listener's default context).
  assert.equal((await handshake(port, {})).cert.fingerprint256, fp(v2.cert))
  const after2 = ok
  await pollUntil(() => ok > after2 + 20, { timeoutMs: 20_000, what: 'requests after the rotation' })
  running = false
  await Promise.all(loops)
  keepAlive.destroy()
  assert.equal(failed, 0, `failed requests: ${errors.slice(0, 5).join('; ')}`)
  assert.ok(seen.has(fp(v1.cert)) && seen.has(fp(v2.cert)))

  const status = gw.dp.status().certificates!
  assert.equal(status.length, 1)
  assert.equal(status[0]!.name, 'live')
  assert.equal(status[0]!.fingerprint256, fp(v2.cert))
  assert.equal(status[0]!.source, `file:${certFile}`)
  assert.deepEqual(status[0]!.names, ['a.test'])
  assert.match(status[0]!.issuer, /CN=Portico Test CA/)
  assert.doesNotMatch(JSON.stringify(status), /PRIVATE KEY/)
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'portico_tls_certificate_expiry_seconds')!
  const live = (metric.values as Array<{ labels: Record<string, string>; value: number }>).find((v) => v.labels.name === 'live')!
  const expected = (new Date(new X509Certificate(v2.cert).validTo).getTime() - Date.now()) / 1000
  assert.ok(Math.abs(live.value - expected) < 120, `expiry ${live.value} ≈ ${expected}`)

  // A config reload that swaps the certificate in the config applies without a restart.
  await gw.reload(`
server:
  listeners:
    - listen: 127.0.0.1:0
      tls: { certificates: [{ name: next, cert: "${v3.chain.replaceAll('\n', '\\n')}", key: "${v3.key.replaceAll('\n', '\\n')}" }] }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
log: { level: silent, access_log: false }
`)
  assert.equal((await handshake(port, { servername: 'a.test' })).cert.fingerprint256, fp(v3.cert))
  assert.equal(gw.dp.status().certificates![0]!.source, 'inline')
})

test('ACME storage: a renewal caught half-written (new key, old certificate) keeps the served pair; the completed pair follows', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'portico-acme-pair-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  const dir = new AcmeDirectory(root)
  await dir.init()
  // A first issuance, as the manager writes it; then the listener an https listener with acme: true builds.
  await dir.saveCertificate({ name: 'a', certPem: v1.chain, keyPem: v1.key, names: ['a.test'] }, {})
  const lines: string[] = []
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) })
  const listener = await createTlsListener({ acme: true }, { logger: pino({ level: 'debug' }, sink), acme: dir })
  const server = tls.createServer(listener.serverOptions)
  listener.attach(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => {
    listener.close()
    server.close()
  })
  const port = (server.address() as AddressInfo).port
  assert.equal((await handshake(port, { servername: 'a.test' })).cert.fingerprint256, fp(v1.cert))

  // The renewal's key lands; its certificate not yet. The reload that follows keeps v1.
  const base = join(dir.certificatesDir, 'a')
  await writeFile(join(base, 'key.pem.tmp'), v2.key)
  await rename(join(base, 'key.pem.tmp'), join(base, 'key.pem'))
  await pollUntil(() => lines.some((l) => l.includes('acme certificate not loadable yet')), { timeoutMs: 20_000, what: 'the reload that found the half-written pair' })
  assert.equal((await handshake(port, { servername: 'a.test' })).cert.fingerprint256, fp(v1.cert))
  assert.equal(listener.status()[0]?.fingerprint256, fp(v1.cert))

  await writeFile(join(base, 'cert.pem.tmp'), v2.chain)
  await rename(join(base, 'cert.pem.tmp'), join(base, 'cert.pem'))
  await pollUntil(async () => (await handshake(port, { servername: 'a.test' })).cert.fingerprint256 === fp(v2.cert), { timeoutMs: 20_000, what: 'the completed pair on new handshakes' })
})
