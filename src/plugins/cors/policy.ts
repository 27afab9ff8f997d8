// The CORS decisions as pure functions over a policy compiled once in create(): which origins are
// allowed, what a preflight answer carries, how Vary is merged. Hand-written rather than the
// `cors` npm package: that one is connect middleware that writes to `res` itself, so it cannot be
// split into an access decision and a response-phase edit of the upstream's headers.
import type { IncomingHttpHeaders } from 'node:http'
import { parseDuration } from '../../config/units.js'
import { CORS_DEFAULTS, type CorsConfig } from './schema.js'

export const ACAO = 'access-control-allow-origin'
export const ACAC = 'access-control-allow-credentials'
export const ACAM = 'access-control-allow-methods'
export const ACAH = 'access-control-allow-headers'
export const ACEH = 'access-control-expose-headers'
export const ACMA = 'access-control-max-age'
export const ACAPN = 'access-control-allow-private-network'

/** Every response header of the CORS protocol: on a cors route only the gateway sets them. */
export const CORS_RESPONSE_HEADERS: readonly string[] = [ACAO, ACAC, ACAM, ACAH, ACEH, ACMA, ACAPN]

export interface Policy {
  /** `*` configured (never together with credentials: the schema refuses it). */
  readonly anyOrigin: boolean
  /** Exact origins, lower-cased. */
  readonly exact: ReadonlySet<string>
  /** `~regex` origins, anchored. */
  readonly patterns: readonly RegExp[]
  readonly credentials: boolean
  /** Access-Control-Allow-Methods value; '' = not sent. */
  readonly allowMethods: string
  /** Echo Access-Control-Request-Headers instead of sending allowHeaders. */
  readonly reflectHeaders: boolean
  /** Access-Control-Allow-Headers value when not reflecting; '' = not sent. */
  readonly allowHeaders: string
  /** Access-Control-Expose-Headers value; '' = not sent. */
  readonly exposeHeaders: string
  /** Expose every header of the response by name (`*` with credentials, where browsers read `*` literally). */
  readonly exposeAll: boolean
  /** Access-Control-Max-Age value in seconds. */
  readonly maxAge: string
  readonly preflightContinue: boolean
  readonly privateNetwork: boolean
  /** Vary of a preflight answer: everything the answer was computed from. */
  readonly preflightVary: string
}

export function compilePolicy(config: CorsConfig): Policy {
  const origins = config.origins ?? []
  const credentials = config.credentials ?? false
  const anyOrigin = origins.includes('*')
  // Same rule as the schema's if/then, for callers that build instances without the validator.
  if (anyOrigin && credentials) throw new TypeError('cors: credentials: true cannot be combined with the "*" origin; list the allowed origins')
  const patterns = origins
    .filter((o) => o.startsWith('~'))
    .map((o) => {
      try {
        // Anchored so that `~https://.*\.example\.com` cannot match `https://x.example.com.evil.io`.
        return new RegExp(`^(?:${o.slice(1)})$`)
      } catch (err) {
        throw new TypeError(`cors: origins: invalid regular expression "${o}": ${(err as Error).message}`)
      }
    })
  const allow = config.allow_headers ?? CORS_DEFAULTS.allow_headers
  const expose = config.expose_headers ?? []
  const privateNetwork = config.private_network ?? false
  return Object.freeze({
    anyOrigin,
    exact: new Set(origins.filter((o) => o !== '*' && !o.startsWith('~')).map((o) => o.toLowerCase())),
    patterns,
    credentials,
    allowMethods: [...new Set(config.methods ?? CORS_DEFAULTS.methods)].join(', '),
    // On a credentialed request browsers read `*` as a header literally named "*", so reflect.
    reflectHeaders: allow === 'reflect' || (allow === '*' && credentials),
    allowHeaders: allow === 'reflect' ? '' : allow === '*' ? '*' : allow.map((h) => h.toLowerCase()).join(', '),
    exposeHeaders: expose === '*' ? (credentials ? '' : '*') : expose.map((h) => h.toLowerCase()).join(', '),
    exposeAll: expose === '*' && credentials,
    maxAge: String(Math.floor(parseDuration(config.max_age ?? CORS_DEFAULTS.max_age) / 1000)),
    preflightContinue: config.preflight_continue ?? false,
    privateNetwork,
    preflightVary: `Origin, Access-Control-Request-Method, Access-Control-Request-Headers${privateNetwork ? ', Access-Control-Request-Private-Network' : ''}`,
  })
}

export function originAllowed(p: Policy, origin: string): boolean {
  if (p.anyOrigin || p.exact.has(origin)) return true
  // Browsers serialize origins in lower case; only other clients pay for the second lookup.
  const lower = origin.toLowerCase()
  if (lower !== origin && p.exact.has(lower)) return true
  for (let i = 0; i < p.patterns.length; i++) if (p.patterns[i]!.test(origin)) return true
  return false
}

/** Fetch: a CORS preflight is an OPTIONS request carrying Origin and Access-Control-Request-Method. */
export function isPreflight(method: string, headers: IncomingHttpHeaders): boolean {
  return method === 'OPTIONS' && headers.origin !== undefined && headers['access-control-request-method'] !== undefined
}

/** `a, b,c` as sent in Access-Control-Request-Headers: comma-separated tokens, nothing else. */
const TOKEN_LIST = /^[\t ]*[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[\t ]*,[\t ]*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*[\t ]*$/

/**
 * Headers of the gateway's preflight answer. A disallowed origin gets none of the
 * Access-Control-* headers (only Vary), so the browser fails the preflight and never sends the
 * actual request; the answer is still a 204 so that nothing about the route's policy leaks.
 */
export function preflightHeaders(p: Policy, origin: string, req: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = { vary: p.preflightVary }
  if (!originAllowed(p, origin)) return out
  out[ACAO] = p.anyOrigin ? '*' : origin
  if (p.credentials) out[ACAC] = 'true'
  if (p.allowMethods !== '') out[ACAM] = p.allowMethods
  if (p.reflectHeaders) {
    const requested = req['access-control-request-headers']
    // Echoed only when it is a well-formed list; anything else is not worth repeating to the client.
    if (requested !== undefined && TOKEN_LIST.test(requested)) out[ACAH] = requested.trim()
  } else if (p.allowHeaders !== '') {
    out[ACAH] = p.allowHeaders
  }
  out[ACMA] = p.maxAge
  if (p.privateNetwork && req['access-control-request-private-network'] === 'true') out[ACAPN] = 'true'
  return out
}

/** Adds `token` to a Vary value unless it (or `*`) is already there; keeps what the upstream sent. */
export function mergeVary(existing: string | string[] | number | undefined, token: string): string {
  if (existing === undefined) return token
  const joined = Array.isArray(existing) ? existing.join(', ') : String(existing)
  if (joined.trim() === '') return token
  const want = token.toLowerCase()
  for (const part of joined.split(',')) {
    const t = part.trim().toLowerCase()
    if (t === want || t === '*') return joined
  }
  return `${joined}, ${token}`
}

/** Names of a response's headers for Access-Control-Expose-Headers (Set-Cookie is never exposable). */
export function exposeAllValue(headers: Record<string, unknown>): string {
  let out = ''
  for (const name of Object.keys(headers)) {
    if (name === 'set-cookie' || name === 'set-cookie2') continue
    out = out === '' ? name : `${out}, ${name}`
  }
  return out
}
