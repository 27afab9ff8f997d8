// The request's front half: the checks on the request line and head that every protocol makes
// before routing (HTTP/1.1 now; HTTP/2 and WebSocket upgrades call the same functions), and the
// path a matched route sends upstream. Pure functions over strings: no allocation unless a check
// fails or the path changes.
import { normalizePath } from '../router/normalize.js'
import type { CompiledRoute } from '../snapshot/compile.js'

/** RFC 9112 §3.2: more than one Host field is a 400. Node keeps only the first, so count raw ones. */
function hasDuplicateHost(raw: string[]): boolean {
  let seen = false
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!
    if (k.length === 4 && k.toLowerCase() === 'host') {
      if (seen) return true
      seen = true
    }
  }
  return false
}

// RFC 3986 §3.2.2 reg-name characters: unreserved / sub-delims / '%' (pct-encoded, checked in
// hostValid). A 128-entry table indexed by char code: hostValid runs on every request, and a loop
// over a table is cheaper than a regex match (no RegExp state, no allocation) and is easier to read
// than a chain of range comparisons.
const REG_NAME = new Uint8Array(128)
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%") REG_NAME[c.charCodeAt(0)] = 1
// Inside [ ]: an IPv6 address (hex, ':' and '.' for an embedded IPv4) or RFC 3986 IPvFuture
// ('v' hex '.' then unreserved / sub-delims / ':'), i.e. reg-name characters plus ':' minus '%'
// (a zone id is not allowed in a URI's IP-literal).
const IP_LITERAL = new Uint8Array(128)
for (let i = 0; i < 128; i++) IP_LITERAL[i] = REG_NAME[i]!
IP_LITERAL[58 /* : */] = 1
IP_LITERAL[37 /* % */] = 0

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102)
}

/**
 * Host = ( reg-name / IP-literal / IPv4 ) [ ":" *DIGIT ] (RFC 9110 §7.2, RFC 3986 §3.2.2). Anything
 * else (userinfo `a:@b`, a path `a/b`, a query `a?b`, a non-numeric port) → 400 invalid_host: the
 * router, cache keys and X-Forwarded-Host all read this header, and must agree on what it names.
 */
export function hostValid(h: string): boolean {
  const n = h.length
  let i = 0
  if (n > 0 && h.charCodeAt(0) === 91 /* [ */) {
    i = 1
    while (i < n) {
      const c = h.charCodeAt(i)
      if (c === 93 /* ] */) break
      if (c >= 128 || IP_LITERAL[c] === 0) return false
      i++
    }
    if (i === n || i === 1) return false
    i++ // past ']'
  } else {
    while (i < n) {
      const c = h.charCodeAt(i)
      if (c === 58 /* : */) break
      if (c >= 128 || REG_NAME[c] === 0) return false
      if (c === 37 /* % */ && !(i + 2 < n && isHex(h.charCodeAt(i + 1)) && isHex(h.charCodeAt(i + 2)))) return false
      i++
    }
  }
  if (i === n) return true
  if (h.charCodeAt(i) !== 58 /* : */) return false
  // Port: digits only, at most 5 (a longer run is not a port any client means).
  if (n - i - 1 > 5) return false
  for (i++; i < n; i++) {
    const c = h.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/**
 * A problem with the request head that makes it a 400 bad_request (the message), or undefined.
 * Defense in depth: llhttp already refuses CL+TE and conflicting Content-Length; a request that
 * still carries both never reaches an upstream.
 */
export function headProblem(headers: Record<string, string | string[] | undefined>, rawHeaders: string[]): string | undefined {
  if (headers['transfer-encoding'] !== undefined && headers['content-length'] !== undefined) return 'both Content-Length and Transfer-Encoding'
  if (hasDuplicateHost(rawHeaders)) return 'more than one Host header'
  return undefined
}

/**
 * The request target's path (before `?`, at index `q` or -1), normalized for routing; undefined
 * when it is not routable (→ 400 invalid_path). absolute-form (RFC 9112 §3.2.2) is legal towards a
 * proxy; anything else that does not start with '/' (e.g. "*") is not.
 */
export function targetPath(url: string, q: number): string | undefined {
  let rawPath = q === -1 ? url : url.slice(0, q)
  if (rawPath.charCodeAt(0) !== 47 /* / */) {
    const m = /^https?:\/\/[^/?#]*(\/[^?#]*)?/i.exec(rawPath)
    if (m === null) return undefined
    rawPath = m[1] ?? '/'
  }
  return normalizePath(rawPath)
}

/** The path sent upstream: the route's strip_prefix and rewrite applied to the normalized path. */
export function upstreamPath(route: Pick<CompiledRoute, 'stripPrefix' | 'rewrite'>, path: string): string {
  let p = path
  const prefix = route.stripPrefix
  if (prefix !== null) {
    if (p === prefix) p = '/'
    else if (p.startsWith(prefix) && p.charCodeAt(prefix.length) === 47) p = p.slice(prefix.length)
  }
  if (route.rewrite !== null) {
    p = p.replace(route.rewrite.re, route.rewrite.replacement)
    if (p.charCodeAt(0) !== 47) p = '/' + p
  }
  return p
}
