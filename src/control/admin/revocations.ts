// POST /admin/revocations: revoke a token by jti, or every token of a sub issued before a time.
// The primary writes to the shared Store (Redis) and publishes, so every worker of every instance
// pointed at that Redis applies it within the pub/sub latency (src/state/revocations.ts).
//
//   { "jti": "abc", "exp": 1735689600 }              exp: the token's exp (unix s); default now + 24h
//   { "sub": "user-7", "before": 1735689600, "ttl": "24h" }   before: default now; ttl ≥ longest token lifetime
import type http from 'node:http'
import { parseDuration } from '../../config/units.js'

export const DEFAULT_REVOCATION_TTL_MS = 24 * 3_600_000
const MAX_BODY = 4096

export type RevocationRequest = { kind: 'jti'; jti: string; exp: number } | { kind: 'sub'; sub: string; before: number; ttlMs: number }

/** What the admin listener needs to record a revocation; absent when no shared Store is configured. */
export interface RevocationWriter {
  revoke(r: RevocationRequest): Promise<void>
}

export class BadRevocation extends Error {}

/** Validates a request body into a RevocationRequest; throws BadRevocation with a message for the caller. */
export function parseRevocation(body: unknown, nowS = Math.floor(Date.now() / 1000)): RevocationRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRevocation('the body must be a JSON object')
  const b = body as Record<string, unknown>
  const allowed = new Set(['jti', 'exp', 'sub', 'before', 'ttl'])
  for (const k of Object.keys(b)) if (!allowed.has(k)) throw new BadRevocation(`unknown field "${k}"`)
  const str = (v: unknown, name: string) => {
    if (typeof v !== 'string' || v === '' || v.length > 512) throw new BadRevocation(`"${name}" must be a non-empty string of at most 512 characters`)
    return v
  }
  const time = (v: unknown, name: string, def: number) => {
    if (v === undefined) return def
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new BadRevocation(`"${name}" must be unix seconds (an integer)`)
    return v
  }
  if ((b.jti === undefined) === (b.sub === undefined)) throw new BadRevocation('give exactly one of "jti" or "sub"')
  if (b.jti !== undefined) {
    if (b.before !== undefined || b.ttl !== undefined) throw new BadRevocation('"before" and "ttl" go with "sub"; a jti takes "exp"')
    const exp = time(b.exp, 'exp', nowS + DEFAULT_REVOCATION_TTL_MS / 1000)
    if (exp <= nowS) throw new BadRevocation('"exp" is in the past: the token has already expired')
    return { kind: 'jti', jti: str(b.jti, 'jti'), exp }
  }
  if (b.exp !== undefined) throw new BadRevocation('"exp" goes with "jti"; a sub takes "before" and "ttl"')
  let ttlMs = DEFAULT_REVOCATION_TTL_MS
  if (b.ttl !== undefined) {
    try {
      if (typeof b.ttl !== 'string' && typeof b.ttl !== 'number') throw new Error()
      ttlMs = parseDuration(b.ttl)
    } catch {
      throw new BadRevocation('"ttl" must be a duration like 24h or integer milliseconds')
    }
    if (ttlMs <= 0) throw new BadRevocation('"ttl" must be positive')
  }
  return { kind: 'sub', sub: str(b.sub, 'sub'), before: time(b.before, 'before', nowS), ttlMs }
}

/** Reads a small JSON body; rejects with BadRevocation when too large or not JSON. */
export function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) {
        reject(new BadRevocation(`the body is larger than ${MAX_BODY} bytes`))
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
      } catch {
        reject(new BadRevocation('the body is not valid JSON'))
      }
    })
    req.on('error', reject)
  })
}
