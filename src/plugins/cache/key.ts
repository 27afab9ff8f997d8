// The cache key, compiled from the config once. A key is `host + path [+ '?' + query]` (what the
// admin API purges by key or prefix), then, for `key.headers` / `key.consumer`, '\n' + one
// length-prefixed part per value. Every part is separator-safe, so no two different requests share
// a key by moving characters from one part into another:
// - host: characters outside RFC 3986 reg-name / IP-literal / port (notably '/', '?', '%', '\n')
//   are percent-encoded, so the host ends at the first '/' (an ordinary host is unchanged);
// - path: normalized, visible ASCII and always starts with '/', with no raw '?' (router/normalize.ts);
// - query: after the first '?';
// - extra parts: `name=<length>:value;`, so a value containing ';' or '=' cannot forge another part.
import type { RequestContext } from '../../core/context.js'
import type { CacheConfig } from './schema.js'

export type KeyFn = (ctx: RequestContext) => string
/** The purgeable base key of a URI (host lower-case without port, normalized path, raw query). */
export type BaseKeyFn = (host: string, path: string, query: string) => string

/** The separator between the purgeable base key and the variant parts (extra headers, Vary). */
export const KEY_SEP = '\n'

const UNSAFE_HOST = /[^A-Za-z0-9._~!$&'()*+,;=:[\]-]/g

/** The host as it appears in a key: itself when it is a valid authority host, else escaped. */
export function keyHost(host: string): string {
  UNSAFE_HOST.lastIndex = 0
  return UNSAFE_HOST.test(host) ? host.replace(UNSAFE_HOST, (c) => encodeURIComponent(c).replace(/[!'()*]/g, (x) => '%' + x.charCodeAt(0).toString(16).toUpperCase())) : host
}

function part(name: string, v: string): string {
  return name + '=' + v.length + ':' + v + ';'
}

export function compileKey(cfg: NonNullable<CacheConfig['key']>): KeyFn {
  const baseKey = compileBaseKey(cfg)
  const headers = (cfg.headers ?? []).map((h) => h.toLowerCase())
  const perConsumer = cfg.consumer ?? false
  const base = (ctx: RequestContext): string => baseKey(ctx.host, ctx.path, ctx.query)
  if (headers.length === 0 && !perConsumer) return base
  return (ctx) => {
    let k = base(ctx) + KEY_SEP
    const h = ctx.req.headers
    for (const name of headers) {
      const v = h[name]
      k += part(name, v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v)
    }
    // The consumer's part is named with a character no header name has, so it cannot be forged by one.
    if (perConsumer) k += ctx.consumer === undefined ? '@-;' : part('@', ctx.consumer)
    return k
  }
}

export function compileBaseKey(cfg: NonNullable<CacheConfig['key']>): BaseKeyFn {
  const withHost = cfg.host ?? true
  const include = cfg.query_include ?? []
  const ignore = cfg.query_ignore ?? []
  const mode = cfg.query ?? 'all'
  const includeSet = include.length > 0 ? new Set(include) : null
  const ignoreSet = ignore.length > 0 ? new Set(ignore) : null
  const filtered = includeSet !== null || ignoreSet !== null

  const query = (q: string): string => {
    if (q === '' || mode === 'none') return ''
    if (mode === 'all' && !filtered) return '?' + q
    let parts = q.split('&').filter((p) => p !== '')
    if (filtered) {
      parts = parts.filter((p) => {
        const eq = p.indexOf('=')
        const name = eq === -1 ? p : p.slice(0, eq)
        return (includeSet === null || includeSet.has(name)) && (ignoreSet === null || !ignoreSet.has(name))
      })
    }
    if (parts.length === 0) return ''
    // Stable sort by name only: repeated parameters keep their relative order (a=1&a=2 ≠ a=2&a=1).
    parts.sort((a, b) => {
      const na = a.split('=', 1)[0]!
      const nb = b.split('=', 1)[0]!
      return na < nb ? -1 : na > nb ? 1 : 0
    })
    return '?' + parts.join('&')
  }

  return (host, path, q) => (withHost ? keyHost(host) : '') + path + query(q)
}
