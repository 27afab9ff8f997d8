// How the console's forms treat write-only values (consumer keys and secrets). Pure, so the unit
// tests (test/unit/ui/secrets.test.ts) run it without a browser.

/** What the API sends instead of a write-only value (src/control/admin/redact.ts). */
export const REDACTED = '[REDACTED]'
/** A value that only names an environment variable or a secret file: not a secret, shown as is. */
const PURE_REF = /^\$\{(?:(?:env:)?[A-Za-z_][A-Za-z0-9_]*|file:\/[^}]*)\}$/

export type SecretState = 'stored' | 'reference' | 'new'
/** How the form shows a write-only value: a kept stored one, a ${reference}, or one being typed. */
export function secretState(value: unknown): SecretState {
  if (value === REDACTED) return 'stored'
  return typeof value === 'string' && PURE_REF.test(value) ? 'reference' : 'new'
}

/**
 * Whether entry `i` of a key_auth list can be removed without another key taking a stored key's
 * place: the API restores placeholders by position, so none may come after it.
 */
export function keyRemovable(keys: readonly unknown[], i: number): boolean {
  return !keys.slice(i + 1).some((k) => k === REDACTED)
}
