// Where the token is read from (Authorization: Bearer, a cookie, a query parameter) and how it is
// removed from the upstream request when hide_credentials is set. RFC 6750 §2: a client uses one
// method per request; a request carrying the token in two configured places is refused (400
// invalid_request), so the gateway and the upstream can never read two different tokens; so is one
// carrying it twice in one place (two Authorization fields, two cookies of that name, a repeated
// query parameter).
import type { RequestContext } from '../../core/context.js'
import { cookieValues, headerFieldCount } from '../credentials.js'

export interface TokenPlaces {
  /** Lower-cased header name, or '' */
  readonly header: string
  /** The header is Authorization: the "Bearer" scheme is required. */
  readonly bearerOnly: boolean
  readonly cookie: string
  readonly query: string
}

export type Found = { token: string; where: 'header' | 'cookie' | 'query' }
/** undefined = no token anywhere; 'conflict' = more than one. */
export type Extracted = Found | undefined | 'conflict'

/** "Bearer <token>" (scheme case-insensitive, RFC 7235): the token, or undefined. No regex: hot path. */
function bearer(v: string): string | undefined {
  if (v.length < 8 || v.charCodeAt(6) !== 32 || v.slice(0, 6).toLowerCase() !== 'bearer') return undefined
  const t = v.slice(7).trim()
  return t === '' || t.includes(' ') ? undefined : t
}

function fromHeader(ctx: RequestContext, p: TokenPlaces): string | undefined | 'conflict' {
  const v = ctx.req.headers[p.header]
  if (typeof v !== 'string' || v === '') return undefined
  // Two fields: Node kept one (Authorization) or joined them; either way refuse, never pick one.
  if (headerFieldCount(ctx.req, p.header) > 1) return 'conflict'
  const t = bearer(v)
  if (t !== undefined) return t
  // Another scheme (Basic, ...) in Authorization is not a bearer token: "missing", not "invalid".
  return p.bearerOnly ? undefined : v.trim()
}

/** The cookie's value; 'conflict' when the cookie appears more than once (a framework may read the last). */
function fromCookie(ctx: RequestContext, name: string): string | undefined | 'conflict' {
  const vs = cookieValues(ctx.req.headers.cookie, name)
  if (vs.length > 1) return 'conflict'
  return vs.length === 0 || vs[0] === '' ? undefined : vs[0]
}

/** The parameter's value; 'conflict' when it appears more than once. */
function fromQuery(ctx: RequestContext, name: string): string | undefined | 'conflict' {
  const q = ctx.query
  if (q === '' || !q.includes(name)) return undefined
  let found: string | undefined
  for (const part of q.split('&')) {
    const eq = part.indexOf('=')
    const key = eq === -1 ? part : part.slice(0, eq)
    if (safeDecode(key) !== name) continue
    if (found !== undefined) return 'conflict'
    found = eq === -1 ? '' : (safeDecode(part.slice(eq + 1).replace(/\+/g, ' ')) ?? '')
  }
  return found === '' ? undefined : found
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}

export function extractToken(ctx: RequestContext, p: TokenPlaces): Extracted {
  let out: Found | undefined
  if (p.header !== '') {
    const t = fromHeader(ctx, p)
    if (t === 'conflict') return 'conflict'
    if (t !== undefined) out = { token: t, where: 'header' }
  }
  if (p.cookie !== '') {
    const t = fromCookie(ctx, p.cookie)
    if (t === 'conflict') return 'conflict'
    if (t !== undefined) {
      if (out !== undefined) return 'conflict'
      out = { token: t, where: 'cookie' }
    }
  }
  if (p.query !== '') {
    const t = fromQuery(ctx, p.query)
    if (t === 'conflict') return 'conflict'
    if (t !== undefined) {
      if (out !== undefined) return 'conflict'
      out = { token: t, where: 'query' }
    }
  }
  return out
}

/** hide_credentials: removes the token from what the upstream receives. */
export function stripToken(ctx: RequestContext, p: TokenPlaces, where: Found['where']): void {
  if (where === 'header') {
    delete ctx.upstreamHeaders[p.header]
  } else if (where === 'cookie') {
    const h = ctx.upstreamHeaders.cookie
    if (typeof h !== 'string') return
    const rest = h
      .split(';')
      .filter((part) => {
        const eq = part.indexOf('=')
        return eq === -1 || part.slice(0, eq).trim() !== p.cookie
      })
      .map((s) => s.trim())
      .join('; ')
    if (rest === '') delete ctx.upstreamHeaders.cookie
    else ctx.upstreamHeaders.cookie = rest
  } else {
    ctx.query = ctx.query
      .split('&')
      .filter((part) => {
        const eq = part.indexOf('=')
        return safeDecode(eq === -1 ? part : part.slice(0, eq)) !== p.query
      })
      .join('&')
  }
}
