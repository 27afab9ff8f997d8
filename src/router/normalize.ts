// Request-path normalization: the ONLY place in Portico where a request path is decoded.
//
// Routes are matched, plugins decide and upstreams receive the path this function returns, so
// every reader of the path sees the same string and no encoding trick can make the gateway and an
// upstream disagree about which resource is asked for (`/public/%2e%2e/admin`, `//admin`, ...).
//
// Rules (RFC 3986 §6.2.2 syntax-based normalization, plus gateway hardening):
// - The path must start with '/'. Absolute-form and `*` targets are the caller's business.
// - Only visible ASCII (0x21–0x7E) is accepted raw. Node hands us the raw bytes as a latin1 string;
//   a conforming client percent-encodes everything else (UTF-8 included), so anything outside that
//   range is an attack or a broken client. Raw '\' is rejected (some upstreams treat it as '/'), and
//   raw '#' too: a fragment is never sent on the wire, and find-my-way would cut the path there.
// - Percent-escapes of UNRESERVED characters (ALPHA DIGIT - . _ ~) are decoded, in any hex case;
//   all other escapes are kept with their hex upper-cased (`%3a` → `%3A`) so a route pattern cannot
//   be dodged by case. Decoding only unreserved characters can never create a new '%' or '/', so
//   the result is stable: normalizing it again returns it unchanged (no double-decoding anywhere).
// - Rejected: encoded '/' (%2F) and '\' (%5C), which would let a segment smuggle a separator past
//   the router; NUL and the other encoded C0 controls and DEL (%00–%1F, %7F), which no legitimate
//   path carries and which enable log and header injection in upstreams that decode them; invalid
//   escapes (`%`, `%4`, `%G1`).
// - Runs of '/' are merged into one.
// - '.' segments are removed and '..' segments resolved, after decoding (so `%2e%2E` counts), never
//   above the root (`/../a` → `/a`). A trailing '/.' or '/..' leaves a trailing slash (`/a/b/..` →
//   `/a/`), as RFC 3986's remove_dot_segments does.
// - ';' is an ordinary character (path parameters are kept literally and matched literally), but a
//   segment that is a dot segment with parameters (`..;x`, `.;`) is rejected: servlet containers
//   resolve `/public/..;/admin` to `/admin`, which would bypass a route that protects `/admin`.
// - Paths are case-sensitive (RFC 3986 §6.2.2.1 only makes the scheme and host case-insensitive):
//   `/Admin` and `/admin` are different paths, and routes match them as written.
//
// Hand-written rather than taken from a library: it runs on every request, and no library applies
// exactly this set of rules (WHATWG URL decodes nothing and keeps '\' semantics for special
// schemes; find-my-way's sanitizer decodes everything but '/'-like reserved characters; the `path`
// module knows nothing about escapes). The common path has no '%', no '//' and no '/.', and for it
// one scan validates the characters and returns the input string itself, without allocating.

const SLASH = 0x2f
const DOT = 0x2e
const PERCENT = 0x25
const BACKSLASH = 0x5c
const HASH = 0x23
const HEX_DIGITS = '0123456789ABCDEF'

/**
 * Normalizes the path part of a request-target (everything before the first '?').
 * Returns the normalized path, or `undefined` when the request must be rejected with
 * 400 `invalid_path`. See the rules at the top of this file.
 */
export function normalizePath(raw: string): string | undefined {
  const len = raw.length
  if (len === 0 || raw.charCodeAt(0) !== SLASH) return undefined
  let clean = true
  let prev = SLASH
  for (let i = 1; i < len; i++) {
    const c = raw.charCodeAt(i)
    if (c < 0x21 || c > 0x7e || c === BACKSLASH || c === HASH) return undefined
    if (c === PERCENT || (prev === SLASH && (c === SLASH || c === DOT))) clean = false
    prev = c
  }
  // The scan above has validated every raw character, so the slow path only checks escapes.
  return clean ? raw : normalizeSlow(raw)
}

function normalizeSlow(raw: string): string | undefined {
  const decoded = raw.indexOf('%') === -1 ? raw : decodeUnreserved(raw)
  if (decoded === undefined) return undefined

  // decoded starts with '/', so parts[0] is '' and the segments are parts[1..].
  const parts = decoded.split('/')
  const out: string[] = []
  for (let k = 1; k < parts.length; k++) {
    const seg = parts[k] as string
    if (seg === '' || seg === '.') continue
    if (seg === '..') {
      out.pop()
      continue
    }
    if (seg.startsWith('.;') || seg.startsWith('..;')) return undefined
    out.push(seg)
  }
  if (out.length === 0) return '/'
  const last = parts[parts.length - 1]
  const trailingSlash = last === '' || last === '.' || last === '..'
  return trailingSlash ? `/${out.join('/')}/` : `/${out.join('/')}`
}

/** Decodes escapes of unreserved characters, upper-cases the others; undefined when forbidden. */
function decodeUnreserved(raw: string): string | undefined {
  let result = ''
  let copied = 0
  for (let i = raw.indexOf('%'); i !== -1; i = raw.indexOf('%', i)) {
    const hi = hexValue(raw.charCodeAt(i + 1))
    const lo = hexValue(raw.charCodeAt(i + 2))
    if (hi < 0 || lo < 0) return undefined
    const byte = (hi << 4) | lo
    if (byte < 0x20 || byte === 0x7f || byte === SLASH || byte === BACKSLASH) return undefined
    result += raw.slice(copied, i)
    result += isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX_DIGITS[hi]}${HEX_DIGITS[lo]}`
    i += 3
    copied = i
  }
  return result + raw.slice(copied)
}

/** Value of one hex digit, or -1 (NaN from charCodeAt past the end also gives -1). */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

/** RFC 3986 §2.3 unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === DOT ||
    c === 0x5f ||
    c === 0x7e
  )
}
