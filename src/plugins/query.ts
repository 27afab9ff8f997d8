// Small helpers over the raw query string (ctx.query, without '?'): find a parameter's values and
// remove a parameter, leaving every other byte as the client sent it.

/** Decoded values of every `name=` parameter (form encoding: '+' is a space). Undecodable values are skipped. */
export function queryValues(query: string, name: string): string[] {
  const out: string[] = []
  if (query === '' || !query.includes(name)) return out
  for (const part of query.split('&')) {
    const eq = part.indexOf('=')
    const key = eq === -1 ? part : part.slice(0, eq)
    if (safeDecode(key) !== name) continue
    const v = safeDecode(eq === -1 ? '' : part.slice(eq + 1))
    if (v !== undefined) out.push(v)
  }
  return out
}

/** The query without any `name` parameter. */
export function withoutParam(query: string, name: string): string {
  if (query === '' || !query.includes(name)) return query
  return query
    .split('&')
    .filter((part) => {
      const eq = part.indexOf('=')
      return safeDecode(eq === -1 ? part : part.slice(0, eq)) !== name
    })
    .join('&')
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}
