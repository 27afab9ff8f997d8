// Reading claims by name or dot path, shared by jwt (claims_to_headers) and rbac.

/**
 * The claim at `path`: a top-level claim of exactly that name first (namespaced claims such as
 * "https://example.com/roles" contain dots), else the dot path ("realm_access.roles").
 * Compile `path` once with compileClaimPath and pass the result.
 */
export type ClaimPath = { readonly whole: string; readonly parts: readonly string[] | null }

export function compileClaimPath(path: string): ClaimPath {
  return Object.freeze({ whole: path, parts: path.includes('.') ? Object.freeze(path.split('.')) : null })
}

const own = Object.prototype.hasOwnProperty

export function claimAt(claims: Readonly<Record<string, unknown>>, p: ClaimPath): unknown {
  if (own.call(claims, p.whole)) return claims[p.whole]
  if (p.parts === null) return undefined
  let cur: unknown = claims
  for (let i = 0; i < p.parts.length; i++) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !own.call(cur, p.parts[i]!)) return undefined
    cur = (cur as Record<string, unknown>)[p.parts[i]!]
  }
  return cur
}

/** Visible ASCII and tab: what may go into a header value as is. */
const HEADER_SAFE = /^[\t\x20-\x7e]*$/

/**
 * A claim as an upstream header value: strings as is, numbers and booleans as text, lists of
 * those comma-joined, anything else as JSON. A value with characters a header cannot carry (non-
 * ASCII names, control characters) is percent-encoded as a whole (encodeURIComponent), so it can
 * neither break the request nor smuggle a second header. undefined when the claim is absent.
 */
export function headerValue(v: unknown): string | undefined {
  let s: string
  if (v === undefined || v === null) return undefined
  if (typeof v === 'string') s = v
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v)
  else if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) s = v.join(',')
  else s = JSON.stringify(v)
  return HEADER_SAFE.test(s) ? s : encodeURIComponent(s)
}
