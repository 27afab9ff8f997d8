// Write-only fields of a config document. The admin API, config dumps and audit diffs show them as
// "[REDACTED]"; a write that sends the placeholder back where a value exists keeps that value, so
// GET → edit → PUT (and `config dump` → `config apply`) never wipes or changes a secret.
type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

export const REDACTED = '[REDACTED]'

/** A JSON body may carry an own "__proto__" key: define it as data, never as the prototype. */
export function setOwn(o: Obj, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
}

// Keys whose values are credentials wherever they appear (plugin configs included: jwt `secret`,
// oauth2-introspection `client_secret`, hmac credentials, key-auth keys, the admin token, ACME's EAB
// hmac_key and storage encryption keys).
const SECRET_KEY = /^(secret|password|passphrase|token|api_key|private_key|client_secret|key_auth|sha256|hmac_key|encryption_key|previous_encryption_keys)$|_(secret|password|token)$/
/** A key whose value is write-only wherever it appears (the OpenAPI document marks these). */
export const isSecretKey = (key: string): boolean => SECRET_KEY.test(key)
/** A value that only names an environment variable (no default) or a secret file tells nothing secret. */
const PURE_REF = /^\$\{(?:(?:env:)?[A-Za-z_][A-Za-z0-9_]*|file:\/[^}]*)\}$/
/** A string that is only a reference (${NAME}, ${env:NAME}, ${file:/path}): it carries no secret. */
export const isPureReference = (v: string): boolean => PURE_REF.test(v)

function redactValue(v: unknown): unknown {
  if (typeof v === 'string') return PURE_REF.test(v) ? v : REDACTED
  if (Array.isArray(v)) return v.map(redactValue)
  if (isObj(v)) return Object.fromEntries(Object.keys(v).map((k) => [k, redactValue(v[k])])) // fromEntries defines own keys
  return v === undefined || v === null ? v : REDACTED
}

/** A URL's password (redis://:pw@host) is replaced; the rest of the URL stays readable. */
function redactUrl(v: string): string {
  if (PURE_REF.test(v)) return v
  try {
    const u = new URL(v)
    if (u.password === '') return v
    u.password = REDACTED
    return u.toString().replace(encodeURIComponent(REDACTED), REDACTED)
  } catch {
    return v
  }
}

/** A deep copy of `v` with every write-only field replaced by the placeholder. */
export function redact<T>(v: T, key = ''): T {
  if (SECRET_KEY.test(key)) return redactValue(v) as T
  if (typeof v === 'string') return (key === 'url' ? redactUrl(v) : v) as T
  if (Array.isArray(v)) return v.map((x) => redact(x, '')) as T
  if (isObj(v)) {
    const out: Obj = {}
    for (const k of Object.keys(v)) {
      // Tracing collector headers carry API keys; every value there is write-only.
      setOwn(out, k, k === 'headers' && key === 'otlp' ? redactValue(v[k]) : redact(v[k], k))
    }
    return out as T
  }
  return v
}

/**
 * Named arrays (routes, consumers, plugins) pair by name, and hmac credentials by key_id, so a
 * reordered or shortened list restores correctly: removing the first of two hmac credentials must
 * not give the second one the first one's secret.
 */
function pairOf(list: unknown[], item: unknown, index: number): unknown {
  for (const id of ['name', 'key_id']) {
    if (!isObj(item) || typeof item[id] !== 'string') continue
    const byId = list.find((x) => isObj(x) && x[id] === item[id])
    if (byId !== undefined) return byId
    if (list.some((x) => isObj(x) && typeof x[id] === 'string')) return undefined
  }
  return list[index]
}

/**
 * `incoming` with every value that equals the redacted form of the `current` value at the same
 * place put back to the current value. Returns a new tree.
 */
export function restoreRedacted(incoming: unknown, current: unknown, key = '', inSecret = false): unknown {
  if (current === undefined) return incoming
  const secret = inSecret || SECRET_KEY.test(key)
  if (typeof incoming === 'string') {
    const shown = secret ? redactValue(current) : redact(current, key)
    return typeof shown === 'string' && incoming === shown && incoming !== current ? current : incoming
  }
  if (Array.isArray(incoming)) {
    const cur = Array.isArray(current) ? current : []
    return incoming.map((x, i) => restoreRedacted(x, pairOf(cur, x, i), key, secret))
  }
  if (isObj(incoming)) {
    const cur = isObj(current) ? current : {}
    const out: Obj = {}
    for (const k of Object.keys(incoming)) {
      const sub = secret || (k === 'headers' && key === 'otlp')
      setOwn(out, k, restoreRedacted(incoming[k], Object.hasOwn(cur, k) ? cur[k] : undefined, k, sub))
    }
    return out
  }
  return incoming
}

/** Paths (formatted like validation paths) that still hold the placeholder after restoring. */
export function placeholdersLeft(v: unknown, path = ''): string[] {
  if (typeof v === 'string') return v.includes(REDACTED) ? [path] : []
  if (Array.isArray(v)) return v.flatMap((x, i) => placeholdersLeft(x, `${path}[${i}]`))
  if (isObj(v)) return Object.keys(v).flatMap((k) => placeholdersLeft(v[k], path === '' ? k : `${path}.${k}`))
  return []
}
