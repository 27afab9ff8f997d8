// The cache key, compiled from the config once. A key is `host + path [+ '?' + query]` (what the
// admin API purges by key or prefix), then, for `key.headers`, '\n' + name=value lines. Paths are
// normalized and visible-ASCII only (router/normalize.ts), so '\n' cannot occur before the extras.
import type { RequestContext } from '../../core/context.js'
import type { CacheConfig } from './schema.js'

export type KeyFn = (ctx: RequestContext) => string

/** The separator between the purgeable base key and the variant parts (extra headers, Vary). */
export const KEY_SEP = '\n'

export function compileKey(cfg: NonNullable<CacheConfig['key']>): KeyFn {
  const withHost = cfg.host ?? true
  const include = cfg.query_include ?? []
  const ignore = cfg.query_ignore ?? []
  const mode = cfg.query ?? 'all'
  const headers = (cfg.headers ?? []).map((h) => h.toLowerCase())
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

  if (headers.length === 0) return (ctx) => (withHost ? ctx.host : '') + ctx.path + query(ctx.query)
  return (ctx) => {
    let k = (withHost ? ctx.host : '') + ctx.path + query(ctx.query) + KEY_SEP
    const h = ctx.req.headers
    for (const name of headers) {
      const v = h[name]
      k += name + '=' + (v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v) + ';'
    }
    return k
  }
}
