// The hmac-auth wire format, shared by the plugin and by clients (tests, docs): the exact
// string-to-sign and the Authorization header. docs/plugins/hmac-auth.md documents it with a worked
// example that test/unit/plugins/hmac-auth.test.ts recomputes.
import { createHash, createHmac } from 'node:crypto'

export const SCHEME = 'HMAC-SHA256'

export interface SignedParts {
  /** Upper-case method as sent. */
  method: string
  /** Path of the request target exactly as sent (no normalization), without the query. */
  path: string
  /** Query exactly as sent, without '?'; '' when none. */
  query: string
  /** Unix time in seconds. */
  timestamp: number
  nonce: string
  /** Signed headers in the order listed: lower-case name and value (trimmed; repeated fields joined by ", "). */
  headers: ReadonlyArray<readonly [string, string]>
  body: Buffer | string
}

/** Lower-case hex SHA-256 of the body ('' body → e3b0c442…). */
export function bodyDigest(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('hex')
}

/**
 * The string-to-sign: these lines joined by "\n" (no trailing newline):
 *   HMAC-SHA256 · timestamp · nonce · METHOD · path · query · signed header names (space-separated)
 *   · one "name:value" line per signed header · hex SHA-256 of the body
 */
export function stringToSign(p: SignedParts, digest = bodyDigest(p.body)): string {
  const lines = [SCHEME, String(p.timestamp), p.nonce, p.method, p.path, p.query, p.headers.map(([n]) => n).join(' ')]
  for (const [n, v] of p.headers) lines.push(`${n}:${v}`)
  lines.push(digest)
  return lines.join('\n')
}

/** base64 HMAC-SHA256 of the string-to-sign. */
export function signature(secret: string | Buffer, sts: string): string {
  return createHmac('sha256', secret).update(sts).digest('base64')
}

/** The Authorization header value a client sends. */
export function authorization(keyId: string, p: SignedParts, secret: string | Buffer): string {
  const sig = signature(secret, stringToSign(p))
  return `${SCHEME} keyId="${keyId}", ts="${p.timestamp}", nonce="${p.nonce}", headers="${p.headers.map(([n]) => n).join(' ')}", signature="${sig}"`
}

export interface ParsedAuthorization {
  keyId: string
  timestamp: number
  nonce: string
  headers: string[]
  signature: Buffer
}

const PARAM = /\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)/y
const PARAMS = new Set(['keyId', 'ts', 'nonce', 'headers', 'signature'])

/** Parses an Authorization header; undefined (with no reason given to the client) when malformed. */
export function parseAuthorization(value: string): ParsedAuthorization | undefined {
  if (!value.startsWith(SCHEME + ' ')) return undefined
  const rest = value.slice(SCHEME.length + 1)
  const got = new Map<string, string>()
  PARAM.lastIndex = 0
  while (PARAM.lastIndex < rest.length) {
    const start = PARAM.lastIndex
    const m = PARAM.exec(rest)
    if (m === null || m.index !== start) return undefined
    if (!PARAMS.has(m[1]!) || got.has(m[1]!)) return undefined
    got.set(m[1]!, m[2]!)
  }
  const keyId = got.get('keyId')
  const ts = got.get('ts')
  const nonce = got.get('nonce')
  const headers = got.get('headers')
  const sig = got.get('signature')
  if (keyId === undefined || ts === undefined || nonce === undefined || headers === undefined || sig === undefined) return undefined
  if (!/^\d{1,12}$/.test(ts) || !/^[A-Za-z0-9_-]{8,128}$/.test(nonce) || !/^[A-Za-z0-9+/]{43}=$/.test(sig)) return undefined
  const names = headers === '' ? [] : headers.split(' ')
  if (names.some((n) => !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(n)) || new Set(names).size !== names.length) return undefined
  return { keyId, timestamp: Number(ts), nonce, headers: names, signature: Buffer.from(sig, 'base64') }
}
