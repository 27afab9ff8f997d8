// Sealed secrets of config-center resources: secret fields sealed, the rest and references left
// alone; opened with the current or a previous key; a value moved to another resource, tampered
// or sealed with an unknown key does not open and the error names the field.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Envelope } from '../../../src/core/envelope.js'
import { openSecrets, sealSecrets, SealedValueError, SEALED_PREFIX } from '../../../src/control/sources/sealed.js'

const consumer = {
  name: 'alice',
  credentials: { key_auth: ['alice-key-0123456789'], hmac: [{ key_id: 'k1', secret: 'hmac-secret-0123' }] },
  plugins: [{ name: 'jwt', config: { secret: '${env:JWT_SECRET}', issuer: 'me' } }],
}

test('secret fields are sealed; references and everything else stay readable; opening gives the original back', () => {
  const env = new Envelope(randomBytes(32))
  const sealed = sealSecrets(consumer, env, 'consumers/alice') as typeof consumer
  assert.ok(sealed.credentials.key_auth[0]!.startsWith(SEALED_PREFIX))
  assert.ok(sealed.credentials.hmac[0]!.secret.startsWith(SEALED_PREFIX))
  assert.equal(sealed.credentials.hmac[0]!.key_id, 'k1')
  assert.equal(sealed.plugins[0]!.config.secret, '${env:JWT_SECRET}', 'a reference is not a secret')
  assert.equal(sealed.plugins[0]!.config.issuer, 'me')
  assert.ok(!JSON.stringify(sealed).includes('alice-key-0123456789'))
  assert.ok(!JSON.stringify(sealed).includes('hmac-secret-0123'))
  assert.deepEqual(openSecrets(sealed, env, 'consumers/alice'), consumer)
  assert.deepEqual(sealSecrets(sealed, env, 'consumers/alice'), sealed, 'sealing twice changes nothing')
})

test('rotation: a value sealed with the previous key still opens; new seals use the current key', () => {
  const old = randomBytes(32)
  const current = randomBytes(32)
  const before = sealSecrets(consumer, new Envelope(old), 'consumers/alice')
  const rotated = new Envelope(current, [old])
  assert.deepEqual(openSecrets(before, rotated, 'consumers/alice'), consumer)
  const resealed = sealSecrets(openSecrets(before, rotated, 'consumers/alice'), rotated, 'consumers/alice') as typeof consumer
  assert.equal(rotated.isStale(resealed.credentials.key_auth[0]!.slice(SEALED_PREFIX.length)), false)
})

test('does not open: moved to another resource, tampered, unknown key, no key; the error names the field', () => {
  const env = new Envelope(randomBytes(32))
  const sealed = sealSecrets(consumer, env, 'consumers/alice') as typeof consumer
  const fails = (v: unknown, e: Envelope | null, aad: string, re: RegExp) =>
    assert.throws(
      () => openSecrets(v, e, aad),
      (err: unknown) => err instanceof SealedValueError && err.path === 'credentials.key_auth[0]' && re.test(err.message),
    )
  fails(sealed, env, 'consumers/mallory', /does not authenticate/)
  const v = sealed.credentials.key_auth[0]!
  const tampered = { ...sealed, credentials: { ...sealed.credentials, key_auth: [v.slice(0, -4) + (v.endsWith('AAAA') ? 'BBBB' : 'AAAA')] } }
  fails(tampered, env, 'consumers/alice', /does not authenticate/)
  fails(sealed, new Envelope(randomBytes(32)), 'consumers/alice', /neither the current key nor one of the previous keys/)
  fails(sealed, null, 'consumers/alice', /secrets\.encryption_key is not set/)
})
