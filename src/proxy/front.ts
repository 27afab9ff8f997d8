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
export function upstreamPath(route: CompiledRoute, path: string): string {
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
