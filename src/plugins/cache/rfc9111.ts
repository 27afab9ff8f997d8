// RFC 9111 (HTTP Caching) for a shared cache, as pure functions over header maps: parsing
// Cache-Control, deciding whether a response may be stored (§3, §3.5), its freshness lifetime
// (§4.2.1, heuristics §4.2.2), its current age (§4.2.3), and conditional-request matching (RFC 9110
// §13). No I/O and no clock of its own: callers pass `now`, so the unit tests can walk time.

export type Headers = Record<string, string | string[] | undefined>

/** Parsed Cache-Control. Numbers in seconds; -1 = directive absent. */
export interface CacheControl {
  noStore: boolean
  noCache: boolean
  private: boolean
  public: boolean
  mustRevalidate: boolean
  proxyRevalidate: boolean
  maxAge: number
  sMaxAge: number
  staleWhileRevalidate: number
  staleIfError: number
  /** Request directive (§5.2.1.7): answer from the cache or 504, never go upstream. */
  onlyIfCached: boolean
  /** Request directive (§5.2.1.3): seconds the response must stay fresh for; -1 = absent. */
  minFresh: number
  /** Request directive (§5.2.1.2): seconds of staleness accepted; Infinity without a value; -1 = absent. */
  maxStale: number
}

const NONE: CacheControl = Object.freeze({
  noStore: false,
  noCache: false,
  private: false,
  public: false,
  mustRevalidate: false,
  proxyRevalidate: false,
  maxAge: -1,
  sMaxAge: -1,
  staleWhileRevalidate: -1,
  staleIfError: -1,
  onlyIfCached: false,
  minFresh: -1,
  maxStale: -1,
})

function joined(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  return typeof v === 'string' ? v : v.join(', ')
}

/**
 * delta-seconds (RFC 9111 §1.2.2): digits only; a value too large to represent counts as 2^31. A
 * malformed value makes the directive count as invalid: -2 (callers treat it as "stale", §4.2.1).
 */
function deltaSeconds(v: string | undefined): number {
  if (v === undefined) return -2
  const s = v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v
  if (!/^\d+$/.test(s)) return -2
  const n = Number(s)
  return n > 2147483648 ? 2147483648 : n
}

/** Parses one or more Cache-Control field lines. Unknown directives are ignored (§5.2.3). */
export function parseCacheControl(value: string | string[] | undefined): CacheControl {
  const text = joined(value)
  if (text === undefined || text === '') return NONE
  const cc: CacheControl = { ...NONE }
  // Split on commas outside quoted strings (no-cache="a, b" is one directive).
  const parts: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '"') quoted = !quoted
    if (c === ',' && !quoted) {
      parts.push(cur)
      cur = ''
    } else cur += c
  }
  parts.push(cur)
  for (const raw of parts) {
    const part = raw.trim()
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase()
    const arg = eq === -1 ? undefined : part.slice(eq + 1).trim()
    switch (name) {
      case 'no-store':
        cc.noStore = true
        break
      // Qualified forms (no-cache="set-cookie", private="x") are treated as unqualified: the
      // cache would otherwise have to strip the named fields, and storing less is always safe.
      case 'no-cache':
        cc.noCache = true
        break
      case 'private':
        cc.private = true
        break
      case 'public':
        cc.public = true
        break
      case 'must-revalidate':
        cc.mustRevalidate = true
        break
      case 'proxy-revalidate':
        cc.proxyRevalidate = true
        break
      case 'only-if-cached':
        cc.onlyIfCached = true
        break
      case 'max-age':
        // Duplicate directives: the first wins only if it is valid; an invalid one means stale (§4.2.1).
        if (cc.maxAge === -1) cc.maxAge = Math.max(deltaSeconds(arg), 0)
        break
      case 's-maxage':
        if (cc.sMaxAge === -1) cc.sMaxAge = Math.max(deltaSeconds(arg), 0)
        break
      case 'stale-while-revalidate':
        if (cc.staleWhileRevalidate === -1) cc.staleWhileRevalidate = Math.max(deltaSeconds(arg), 0)
        break
      case 'min-fresh':
        if (cc.minFresh === -1) cc.minFresh = Math.max(deltaSeconds(arg), 0)
        break
      case 'max-stale':
        // No value: any staleness; an invalid value is ignored (serving stale is never required).
        if (cc.maxStale === -1) cc.maxStale = arg === undefined ? Infinity : deltaSeconds(arg) >= 0 ? deltaSeconds(arg) : -1
        break
      case 'stale-if-error':
        if (cc.staleIfError === -1) cc.staleIfError = Math.max(deltaSeconds(arg), 0)
        break
    }
  }
  return cc
}

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 }
const MON = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)'
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})'
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MON} (\\d{4}) ${TIME} GMT$`, 'i')
const RFC850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MON}-(\\d{2}) ${TIME} GMT$`, 'i')
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MON} ([ \\d]\\d) ${TIME} (\\d{4})$`, 'i')

function utc(year: number, month: number, day: number, h: string, m: string, sec: string): number {
  const hh = Number(h)
  const mm = Number(m)
  const ss = Number(sec)
  // second 60: a leap second (RFC 9110 §5.6.7 allows it); counted as :59.
  if (hh > 23 || mm > 59 || ss > 60 || day < 1) return NaN
  const t = Date.UTC(year, month, day, hh, mm, Math.min(ss, 59))
  return new Date(t).getUTCDate() === day ? t : NaN // 31 Nov is not a date
}

/**
 * HTTP-date → ms since epoch, or NaN. Exactly the three formats of RFC 9110 §5.6.7 (IMF-fixdate,
 * obsolete rfc850-date and asctime-date); anything else is invalid — for Expires
 * that means "already expired" (RFC 9111 §5.3). Not Date.parse: it takes a missing comma, double
 * spaces, dashes, one-digit hours and time zones other than GMT. The weekday is not checked against
 * the date (nor by nginx or Envoy), and letter case is not (RFC 9110 makes it significant, but
 * the cache-tests suite counts accepting `sun, 06 nov 1994 … gmt` as optimal, as nginx does).
 */
export function parseHttpDate(v: string | string[] | undefined): number {
  const s = typeof v === 'string' ? v : Array.isArray(v) ? v[0] : undefined
  if (s === undefined || s.length < 24 || s.length > 40) return NaN
  let m = IMF_FIXDATE.exec(s)
  if (m !== null) return utc(Number(m[3]), MONTHS[m[2]!.toLowerCase()]!, Number(m[1]), m[4]!, m[5]!, m[6]!)
  m = RFC850_DATE.exec(s)
  if (m !== null) {
    // Two-digit year: more than 50 years in the future means the most recent past year with those digits.
    const now = new Date().getUTCFullYear()
    let year = Math.floor(now / 100) * 100 + Number(m[3])
    if (year > now + 50) year -= 100
    return utc(year, MONTHS[m[2]!.toLowerCase()]!, Number(m[1]), m[4]!, m[5]!, m[6]!)
  }
  m = ASCTIME_DATE.exec(s)
  if (m !== null) return utc(Number(m[6]), MONTHS[m[1]!.toLowerCase()]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!)
  return NaN
}

/** RFC 9110 §15.1: status codes that are heuristically cacheable. */
export const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501])

export interface Freshness {
  /** Freshness lifetime in ms (0 = stale on arrival). */
  lifetimeMs: number
  /** Where it came from, for logs and tests. */
  source: 's-maxage' | 'max-age' | 'expires' | 'heuristic' | 'none'
}

export interface HeuristicPolicy {
  /** Fraction of (Date − Last-Modified), RFC 9111 §4.2.2 suggests 10%. 0 disables heuristics. */
  fraction: number
  /** Upper bound of a heuristic lifetime, ms. */
  maxMs: number
}

/**
 * §4.2.1 for a shared cache: s-maxage, then max-age, then Expires − Date, then a heuristic — only
 * when none of those is present and the status is heuristically cacheable or the response is public.
 */
export function freshnessLifetime(status: number, headers: Headers, cc: CacheControl, responseTimeMs: number, heuristic: HeuristicPolicy): Freshness {
  if (cc.sMaxAge >= 0) return { lifetimeMs: cc.sMaxAge * 1000, source: 's-maxage' }
  if (cc.maxAge >= 0) return { lifetimeMs: cc.maxAge * 1000, source: 'max-age' }
  if (headers.expires !== undefined) {
    const expires = parseHttpDate(headers.expires)
    // An invalid Expires (e.g. "0") means "already expired" (§5.3).
    if (Number.isNaN(expires)) return { lifetimeMs: 0, source: 'expires' }
    const date = parseHttpDate(headers.date)
    const base = Number.isNaN(date) ? responseTimeMs : date
    return { lifetimeMs: Math.max(0, expires - base), source: 'expires' }
  }
  if (heuristic.fraction > 0 && (HEURISTIC_STATUSES.has(status) || cc.public)) {
    const lm = parseHttpDate(headers['last-modified'])
    if (!Number.isNaN(lm)) {
      const date = parseHttpDate(headers.date)
      const base = Number.isNaN(date) ? responseTimeMs : date
      if (base > lm) return { lifetimeMs: Math.min(Math.floor((base - lm) * heuristic.fraction), heuristic.maxMs), source: 'heuristic' }
    }
  }
  return { lifetimeMs: 0, source: 'none' }
}

/**
 * §4.2.3 corrected initial age (ms) at the moment the response was received; the current age is
 * this plus the time it has been resident (now − responseTime).
 */
export function initialAgeMs(headers: Headers, requestTimeMs: number, responseTimeMs: number): number {
  const date = parseHttpDate(headers.date)
  const apparent = Number.isNaN(date) ? 0 : Math.max(0, responseTimeMs - date)
  const ageRaw = typeof headers.age === 'string' ? headers.age : Array.isArray(headers.age) ? headers.age[0] : undefined
  const ageValue = ageRaw !== undefined && /^\d+$/.test(ageRaw.trim()) ? Number(ageRaw.trim()) * 1000 : 0
  const correctedAge = ageValue + (responseTimeMs - requestTimeMs)
  return Math.max(apparent, correctedAge)
}

export type StoreDecision = { store: true } | { store: false; reason: string }

export interface StoreRules {
  /**
   * Statuses the config allows storing; null = every final status the cache understands (all but
   * 206, which it does not assemble, and 304, which only revalidates). Without explicit freshness a
   * status must also be heuristically cacheable (§4.2.2, RFC 9110 §15.1).
   */
  statuses: ReadonlySet<number> | null
  /** Store responses that set cookies (off by default: a session cookie must not be replayed). */
  storeSetCookie: boolean
}

/**
 * §3 "Storing Responses in Caches" for a shared cache, for a GET whose response is final.
 * `hasAuthorization`: the request carried Authorization (§3.5).
 */
export function mayStore(status: number, headers: Headers, cc: CacheControl, requestCc: CacheControl, hasAuthorization: boolean, rules: StoreRules): StoreDecision {
  if (rules.statuses === null ? status === 206 || status === 304 || status < 200 : !rules.statuses.has(status)) return { store: false, reason: `status ${status} is not in statuses` }
  if (requestCc.noStore) return { store: false, reason: 'request no-store' }
  if (cc.noStore) return { store: false, reason: 'no-store' }
  if (cc.private) return { store: false, reason: 'private' }
  if (hasAuthorization && !(cc.public || cc.sMaxAge >= 0 || cc.mustRevalidate)) return { store: false, reason: 'request has Authorization and the response does not allow sharing' }
  const vary = joined(headers.vary)
  if (vary !== undefined && vary.split(',').some((v) => v.trim() === '*')) return { store: false, reason: 'Vary: *' }
  if (!rules.storeSetCookie && headers['set-cookie'] !== undefined) return { store: false, reason: 'Set-Cookie' }
  const explicit = cc.public || cc.maxAge >= 0 || cc.sMaxAge >= 0 || headers.expires !== undefined
  if (!explicit && !HEURISTIC_STATUSES.has(status)) return { store: false, reason: `status ${status} is not heuristically cacheable and has no explicit freshness` }
  return { store: true }
}

/** Lower-cased header names listed by Vary, or null without Vary. */
export function varyNames(headers: Headers): string[] | null {
  const v = joined(headers.vary)
  if (v === undefined) return null
  const names = v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '')
  if (names.length === 0) return null
  return [...new Set(names)].sort()
}

/**
 * The secondary key of a request for a Vary list (§4.1): each nominated request header's value,
 * normalized by joining repeated lines and collapsing whitespace after commas.
 */
export function varySignature(names: readonly string[], request: Headers): string {
  let sig = ''
  for (const n of names) {
    const v = joined(request[n])
    sig += n + '=' + (v === undefined ? '\u0001' : v.replace(/\s*,\s*/g, ',').trim()) + '\n'
  }
  return sig
}

/** RFC 9110 §8.8.3.2 weak comparison of two entity-tags. */
function weakEqual(a: string, b: string): boolean {
  const strip = (t: string) => (t.startsWith('W/') ? t.slice(2) : t)
  return strip(a.trim()) === strip(b.trim())
}

/**
 * RFC 9110 §13.1.2 / §13.1.3 for GET/HEAD against a stored response: true when the client's own
 * conditional matches, so a 304 answers it. If-None-Match takes precedence over If-Modified-Since.
 */
export function notModified(request: Headers, stored: Headers): boolean {
  const inm = joined(request['if-none-match'])
  if (inm !== undefined) {
    const etag = joined(stored.etag)
    if (inm.trim() === '*') return etag !== undefined
    if (etag === undefined) return false
    return inm.split(',').some((t) => weakEqual(t, etag))
  }
  const ims = parseHttpDate(request['if-modified-since'])
  if (Number.isNaN(ims)) return false
  const lm = parseHttpDate(stored['last-modified'])
  const ref = Number.isNaN(lm) ? parseHttpDate(stored.date) : lm
  return !Number.isNaN(ref) && ref <= ims
}

/** Header fields a 304 carries (RFC 9110 §15.4.5). */
export const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'] as const

/**
 * §3.2 "Updating Stored Header Fields": the 304 (or HEAD) response's fields replace the stored
 * ones, except framing and per-hop fields the cache manages itself.
 */
export const NOT_UPDATED_BY_304 = new Set(['content-length', 'content-encoding', 'content-range', 'transfer-encoding', 'x-request-id', 'via', 'x-cache', 'age'])
