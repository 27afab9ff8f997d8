// Counting a credential's occurrences. Node keeps only the first of repeated Authorization fields
// (and joins other repeated fields with ", "), while a framework behind the gateway may read the
// last one: a credential the gateway verified once and a forged second copy must never travel
// together. Auth plugins refuse a request whose credential appears more than once in any place
// (header field, cookie, query parameter).
import type { IncomingMessage } from 'node:http'

/** How many header fields named `name` (lower case) the request carried, from the raw list. */
export function headerFieldCount(req: IncomingMessage, name: string): number {
  const raw = req.rawHeaders
  let n = 0
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!
    if (k.length === name.length && k.toLowerCase() === name) n++
  }
  return n
}

/**
 * The values of cookie `name` in a Cookie header (Node joins several Cookie fields with "; "), in
 * order, with one pair of surrounding quotes removed.
 */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (header === undefined || !header.includes(name)) return []
  const out: string[] = []
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      let v = part.slice(eq + 1).trim()
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1)
      out.push(v)
    }
  }
  return out
}
