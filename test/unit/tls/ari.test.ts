// ARI (RFC 9773) pieces: the certID (with the DER leading zero of a high-bit serial), the window's
// parsing and the draw inside it, and Retry-After's bounds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ariCertId, parseRenewalInfo, pickRenewalTime, retryAfterMs } from '../../../src/tls/acme/ari.js'

function selfSigned(serial: string, aki: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-ari-'))
  try {
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', '/CN=t', '-days', '1', '-set_serial', serial]
    if (aki) args.push('-addext', 'authorityKeyIdentifier=keyid:always')
    else args.push('-addext', 'authorityKeyIdentifier=none', '-addext', 'subjectKeyIdentifier=none')
    execFileSync('openssl', args, { stdio: 'ignore' })
    return readFileSync(join(dir, 'c.pem'), 'utf8')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('certID: base64url(key id) "." base64url(DER serial), a zero byte before a high-bit serial', () => {
  const pem = selfSigned('0x80112233', true)
  const text = execFileSync('openssl', ['x509', '-noout', '-ext', 'authorityKeyIdentifier'], { input: pem, encoding: 'utf8' })
  const keyId = /\n\s*(?:keyid:)?([0-9A-F:]+)/i.exec(text)![1]!.replaceAll(':', '')
  const [aki, serial] = ariCertId(pem)!.split('.')
  assert.equal(Buffer.from(aki!, 'base64url').toString('hex'), keyId.toLowerCase())
  assert.equal(Buffer.from(serial!, 'base64url').toString('hex'), '0080112233')
  assert.equal(Buffer.from(ariCertId(selfSigned('0x7f0102', true))!.split('.')[1]!, 'base64url').toString('hex'), '7f0102')
})

test('certID: none without an authority key identifier', () => {
  assert.equal(ariCertId(selfSigned('0x01', false)), null)
})

test('renewalInfo answers: a window is two dates, start before end; anything else is refused', () => {
  const w = parseRenewalInfo({ suggestedWindow: { start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' } }, '3600')
  assert.deepEqual(w && { start: w.start, end: w.end, retryAfterMs: w.retryAfterMs }, { start: Date.parse('2026-01-01T00:00:00Z'), end: Date.parse('2026-01-02T00:00:00Z'), retryAfterMs: 3_600_000 })
  for (const bad of [null, {}, { suggestedWindow: { start: 'x', end: 'y' } }, { suggestedWindow: { start: '2026-01-02T00:00:00Z', end: '2026-01-01T00:00:00Z' } }, { suggestedWindow: { start: 1, end: 2 } }]) {
    assert.equal(parseRenewalInfo(bad, undefined), null, JSON.stringify(bad))
  }
})

test('the renewal time is drawn inside the window', () => {
  const w = { start: 1000, end: 2000, retryAfterMs: 0 }
  assert.equal(pickRenewalTime(w, () => 0), 1000)
  assert.equal(pickRenewalTime(w, () => 0.5), 1500)
  for (let i = 0; i < 100; i++) {
    const t = pickRenewalTime(w)
    assert.ok(t >= 1000 && t <= 2000)
  }
})

test('Retry-After: seconds or a date, kept within a minute and a day; six hours without one', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  assert.equal(retryAfterMs('7200', now), 7_200_000)
  assert.equal(retryAfterMs('1', now), 60_000)
  assert.equal(retryAfterMs('999999', now), 86_400_000)
  assert.equal(retryAfterMs('Thu, 01 Jan 2026 02:00:00 GMT', now), 7_200_000)
  assert.equal(retryAfterMs(undefined, now), 6 * 3_600_000)
  assert.equal(retryAfterMs('soon', now), 6 * 3_600_000)
})
