// The consumer form's handling of write-only values (ui/src/secrets.ts): a placeholder is a stored
// value to keep, a ${reference} is shown as written, and a key_auth key may be removed only where
// no stored key would shift into its position (the admin API restores placeholders by position).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { REDACTED as SERVER_REDACTED } from '../../../src/control/admin/redact.js'
import { REDACTED, keyRemovable, secretState } from '../../../ui/src/secrets.js'

test('the console uses the placeholder the admin API sends', () => {
  assert.equal(REDACTED, SERVER_REDACTED)
})

test('secretState: stored placeholder, pure references, anything else is a new value', () => {
  assert.equal(secretState(REDACTED), 'stored')
  assert.equal(secretState('${ALICE_KEY}'), 'reference')
  assert.equal(secretState('${env:ALICE_KEY}'), 'reference')
  assert.equal(secretState('${file:/run/secrets/key}'), 'reference')
  // A reference with a default carries a value in the text: masked like a typed key.
  assert.equal(secretState('${ALICE_KEY:-fallback-key-0123456789}'), 'new')
  assert.equal(secretState('typed-key-0123456789'), 'new')
  assert.equal(secretState(''), 'new')
  assert.equal(secretState(undefined), 'new')
})

test('keyRemovable: only where no stored key follows', () => {
  const keys = [REDACTED, REDACTED, 'new-key-0123456789abc']
  assert.deepEqual(keys.map((_, i) => keyRemovable(keys, i)), [false, true, true])
  const replaced = ['new-key-0123456789abc', REDACTED]
  assert.deepEqual(replaced.map((_, i) => keyRemovable(replaced, i)), [false, true])
})
