// Pure pieces of src/tls: name coverage (exact, one-label wildcard), ticket key derivation,
// the OCSP request encoding (checked by openssl itself), the certificate merge of /status, and
// the listener config checks.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { X509Certificate } from 'node:crypto'
import { covers } from '../../../src/tls/cert-set.js'
import { ticketKeys } from '../../../src/tls/tickets.js'
import { ocspRequest } from '../../../src/tls/ocsp.js'
import { certificateStatus } from '../../../src/control/status.js'
import { loadConfigText } from '../../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { renewalTime, directoryUrl } from '../../../src/tls/acme/manager.js'
import { createPki } from '../../helpers/pki.js'

test('covers: exact names and one label under a wildcard', () => {
  const exact = new Set(['a.example.com'])
  const suffixes = ['.wild.example.com']
  assert.equal(covers(exact, suffixes, 'a.example.com'), true)
  assert.equal(covers(exact, suffixes, 'x.wild.example.com'), true)
  assert.equal(covers(exact, suffixes, 'wild.example.com'), false)
  assert.equal(covers(exact, suffixes, 'x.y.wild.example.com'), false)
  assert.equal(covers(exact, suffixes, 'b.example.com'), false)
  assert.equal(covers(exact, suffixes, ''), false)
})

test('ticket keys: 48 bytes, equal for equal seed and period, different otherwise', () => {
  const k = ticketKeys('seed-0123456789-0123456789-0123456789', 7)
  assert.equal(k.length, 48)
  assert.deepEqual(k, ticketKeys('seed-0123456789-0123456789-0123456789', 7))
  assert.notDeepEqual(k, ticketKeys('seed-0123456789-0123456789-0123456789', 8))
  assert.notDeepEqual(k, ticketKeys('other-0123456789-0123456789-012345678', 7))
})

test('OCSP request: openssl parses it and finds the leaf\'s serial and issuer hashes', async () => {
  const pki = await createPki()
  try {
    const ca = await pki.ca()
    const leaf = await ca.issue({ names: ['a.test'], ocspUrl: 'http://127.0.0.1:1/' })
    const der = ocspRequest(new X509Certificate(leaf.cert), new X509Certificate(ca.cert))
    const file = join(pki.dir, 'req.der')
    await writeFile(file, der)
    const { stdout } = await promisify(execFile)('openssl', ['ocsp', '-reqin', file, '-req_text'])
    const serial = new X509Certificate(leaf.cert).serialNumber.replace(/^0+/, '')
    assert.match(stdout.replace(/\s/g, ''), new RegExp(`SerialNumber:0*${serial}`, 'i'))
    // Same request as openssl builds for this pair.
    const mine = join(pki.dir, 'openssl.der')
    await promisify(execFile)('openssl', ['ocsp', '-issuer', ca.certFile, '-cert', leaf.certFile, '-no_nonce', '-reqout', mine])
    const theirs = await promisify(execFile)('openssl', ['ocsp', '-reqin', mine, '-req_text'])
    const hashes = (t: string): string[] => [...t.matchAll(/Issuer (?:Name|Key) Hash: ([0-9A-F]+)/g)].map((m) => m[1]!)
    assert.equal(hashes(stdout).length, 2)
    assert.deepEqual(hashes(stdout), hashes(theirs.stdout))
  } finally {
    await pki.remove()
  }
})

test('certificateStatus: one row per fingerprint with the workers serving it', () => {
  const row = { name: 'a', names: ['a.test'], issuer: 'CN=CA', subject: 'CN=a.test', not_before: '', not_after: '', key_type: 'ec', serial: '1', fingerprint256: 'F1', source: 'inline' }
  const rows = certificateStatus([
    { slot: 0, status: { ready: true, version: 1, hash: '', inFlight: 0, routes: 0, upstreams: {}, certificates: [row] } },
    { slot: 1, status: { ready: true, version: 1, hash: '', inFlight: 0, routes: 0, upstreams: {}, certificates: [row, { ...row, fingerprint256: 'F2' }] } },
    { slot: 2, status: null },
  ])
  assert.deepEqual(rows.map((r) => [r.fingerprint256, r.workers]), [['F1', [0, 1]], ['F2', [1]]])
})

test('config checks: listen xor listeners, cert pairs, client_auth needs a CA, redirect only on cleartext', () => {
  const errs = (server: string): string[] => {
    const r = loadConfigText(`server: ${server}\nupstreams: {}\nroutes: []\n`, 't.yaml', { checks: INSTALLED_CHECKS })
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
  }
  assert.deepEqual(errs('{ listeners: [{ listen: 8080 }] }'), [])
  assert.match(errs('{ listen: 8080, listeners: [{ listen: 8081 }] }').join(), /set server.listen or server.listeners, not both/)
  assert.match(errs('{ listeners: [{ listen: 8443, tls: { certificates: [{ cert_file: a.crt }] } }] }').join(), /cert_file and key_file go together/)
  assert.match(errs('{ listeners: [{ listen: 8443, tls: { certificates: [{ cert_file: a, key_file: b, cert: c, key: d }] } }] }').join(), /either cert_file \+ key_file or cert \+ key/)
  assert.match(errs('{ listeners: [{ listen: 8443, tls: { certificates: [] } }] }').join(), /needs certificates \(or acme: true\)/)
  assert.match(errs('{ listeners: [{ listen: 8443, tls: { certificates: [{ cert: a, key: b }], client_auth: { mode: optional } } }] }').join(), /needs ca_file or ca/)
  assert.match(errs('{ listeners: [{ listen: 8443, redirect_https: {}, tls: { certificates: [{ cert: a, key: b }] } }] }').join(), /redirect_https belongs on a cleartext listener/)
  assert.match(errs('{ listeners: [{ listen: "nope" }] }').join(), /host:port/)
})

test('ACME: directory aliases and the renewal time (two thirds, or renew_before)', async () => {
  assert.equal(directoryUrl('staging'), 'https://acme-staging-v02.api.letsencrypt.org/directory')
  assert.equal(directoryUrl(undefined), 'https://acme-v02.api.letsencrypt.org/directory')
  assert.equal(directoryUrl('https://ca.example/dir'), 'https://ca.example/dir')
  const pki = await createPki()
  try {
    const ca = await pki.ca()
    const x = new X509Certificate((await ca.issue({ names: ['a.test'], days: 9 })).cert)
    const from = new Date(x.validFrom).getTime()
    const to = new Date(x.validTo).getTime()
    assert.equal(renewalTime(x, undefined), from + ((to - from) * 2) / 3)
    assert.equal(renewalTime(x, 86_400_000), to - 86_400_000)
  } finally {
    await pki.remove()
  }
})

test('config checks: ACME fleet mode needs store.redis and a 32-byte encryption key, errors name the path and never the key', () => {
  const key = Buffer.alloc(32, 7).toString('base64')
  const errs = (storage: string, store = '', env: Record<string, string> = {}): string[] => {
    const text = `${store}acme:\n  terms_of_service_agreed: true\n  certificates: [{ names: [a.test] }]\n  storage: ${storage}\nupstreams: {}\nroutes: []\n`
    const r = loadConfigText(text, 't.yaml', { checks: INSTALLED_CHECKS, env })
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
  }
  const redis = 'store: { redis: { url: "redis://127.0.0.1:6379" } }\n'
  assert.deepEqual(errs(`{ backend: redis, encryption_key: "${key}" }`, redis), [])
  assert.deepEqual(errs('{ backend: redis, encryption_key: "${env:K}" }', redis, { K: Buffer.alloc(32, 1).toString('hex') }), [])
  assert.match(errs(`{ backend: redis, encryption_key: "${key}" }`).join(), /acme\.storage\.backend: backend: redis \(fleet mode\) needs store\.redis/)
  assert.match(errs('{ backend: redis }', redis).join(), /acme\.storage: backend: redis needs encryption_key/)
  const bad = errs('{ backend: redis, encryption_key: "${env:K}" }', redis, { K: 'not-a-key-hunter2' })
  assert.match(bad.join(), /acme\.storage\.encryption_key: must be 32 bytes/)
  assert.ok(!bad.join().includes('hunter2'))
  assert.match(errs(`{ backend: redis, encryption_key: "${key}", previous_encryption_keys: [short] }`, redis).join(), /acme\.storage\.previous_encryption_keys\[0\]: must be 32 bytes/)
  assert.deepEqual(errs('{ backend: directory }'), [])
})

test('config checks: dns-01 needs one hook; wildcard names need dns-01', () => {
  const errs = (acme: string): string[] => {
    const r = loadConfigText(`acme:\n  terms_of_service_agreed: true\n${acme}\nupstreams: {}\nroutes: []\n`, 't.yaml', { checks: INSTALLED_CHECKS })
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
  }
  assert.deepEqual(errs('  challenge: dns-01\n  dns: { exec: { command: [/bin/true] } }\n  certificates: [{ names: ["*.a.test"] }]'), [])
  assert.match(errs('  challenge: dns-01\n  certificates: [{ names: [a.test] }]').join(), /acme\.challenge: dns-01 needs acme\.dns/)
  assert.match(errs('  challenge: dns-01\n  dns: { propagation_delay: 1s }\n  certificates: [{ names: [a.test] }]').join(), /acme\.dns: needs exactly one of webhook, exec/)
  assert.match(errs('  certificates: [{ names: [a.test, "*.a.test"] }]').join(), /acme\.certificates\[0\]\.names\[1\]: a wildcard name can only be validated with challenge: dns-01/)
})

test('DNS-01 exec hook: <command...> present|cleanup <FQDN.> <value>; failures and timeouts name the hook', async () => {
  const { dnsProvider, dnsRecord } = await import('../../../src/tls/acme/dns01.js')
  const pki = await createPki()
  try {
    const out = join(pki.dir, 'args.json')
    const ok = dnsProvider({ exec: { command: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.argv.slice(1)))`] } })
    const rec = dnsRecord('*.Shop.test', 'v4lue')
    assert.deepEqual(rec, { domain: 'shop.test', name: '_acme-challenge.shop.test.', value: 'v4lue' })
    await ok.present(rec)
    assert.deepEqual(JSON.parse(await (await import('node:fs/promises')).readFile(out, 'utf8')), ['present', '_acme-challenge.shop.test.', 'v4lue'])
    await ok.cleanup(rec)
    assert.deepEqual(JSON.parse(await (await import('node:fs/promises')).readFile(out, 'utf8')), ['cleanup', '_acme-challenge.shop.test.', 'v4lue'])
    const failing = dnsProvider({ exec: { command: [process.execPath, '-e', 'console.error("zone not found"); process.exit(3)'] } })
    await assert.rejects(failing.present(rec), /dns-01 exec hook .* present _acme-challenge\.shop\.test\.: .*zone not found/)
    const slow = dnsProvider({ exec: { command: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'], timeout: '300ms' } })
    await assert.rejects(slow.present(rec), /did not finish within 300 ms/)
  } finally {
    await pki.remove()
  }
})
