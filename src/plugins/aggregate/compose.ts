// Pure parts of `aggregate`, compiled once in create(): path templates, the dependency check, the
// fields allow-list, and composing the backends' results into one object.

/** A path template: literal parts around placeholders. */
export interface PathTemplate {
  readonly parts: readonly string[]
  /** One per gap between parts: a route param name, or a field path in the dependency's response. */
  readonly holes: ReadonlyArray<{ readonly kind: 'param'; readonly name: string } | { readonly kind: 'dep'; readonly path: readonly string[] }>
}

const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor'])

/** `{id}` = route param; `{user.address.id}` = field `address.id` of backend `user` (must be `dep`). */
export function compilePath(path: string, dep: string | undefined, where: string): PathTemplate {
  const parts: string[] = []
  const holes: Array<PathTemplate['holes'][number]> = []
  const re = /\{([^{}]*)\}/g
  let last = 0
  for (let m = re.exec(path); m !== null; m = re.exec(path)) {
    parts.push(path.slice(last, m.index))
    last = m.index + m[0].length
    const inner = m[1]!
    const segs = inner.split('.')
    if (inner === '' || segs.some((s) => s === '' || FORBIDDEN.has(s))) throw new TypeError(`${where}: invalid placeholder {${inner}}`)
    if (segs.length === 1) holes.push({ kind: 'param', name: inner })
    else {
      if (segs[0] !== dep) throw new TypeError(`${where}: placeholder {${inner}} must refer to the depends_on backend${dep === undefined ? ' (none is set)' : ` "${dep}"`}`)
      holes.push({ kind: 'dep', path: segs.slice(1) })
    }
  }
  parts.push(path.slice(last))
  if (parts.some((p) => p.includes('{') || p.includes('}'))) throw new TypeError(`${where}: unbalanced { } in path`)
  return { parts, holes }
}

/** A scalar that can go into a path, URL-encoded; undefined for objects, arrays, null, missing. */
export function pathValue(v: unknown): string | undefined {
  if (typeof v === 'string') return encodeURIComponent(v)
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (typeof v === 'boolean') return String(v)
  return undefined
}

export function getPath(v: unknown, path: readonly string[]): unknown {
  let cur = v
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg)) return undefined
      cur = cur[Number(seg)]
    } else cur = Object.hasOwn(cur, seg) ? (cur as Record<string, unknown>)[seg] : undefined
  }
  return cur
}

/** Throws on duplicate names, unknown or self dependencies, and cycles. */
export function checkGraph(backends: ReadonlyArray<{ name: string; depends_on?: { backend: string } | undefined }>): void {
  const deps = new Map<string, string | undefined>()
  for (const b of backends) {
    if (deps.has(b.name)) throw new TypeError(`aggregate: duplicate backend name "${b.name}"`)
    deps.set(b.name, b.depends_on?.backend)
  }
  for (const [name, dep] of deps) {
    if (dep === undefined) continue
    if (!deps.has(dep)) throw new TypeError(`aggregate: backend "${name}" depends on unknown backend "${dep}"`)
    const seen = new Set([name])
    for (let d: string | undefined = dep; d !== undefined; d = deps.get(d)) {
      if (seen.has(d)) throw new TypeError(`aggregate: dependency cycle through backend "${name}"`)
      seen.add(d)
    }
  }
}

function define(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true })
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * Keeps only the allowed paths of an object. An array met on the way (at the top or inside) is
 * filtered element by element, so `items.id` keeps the id of every item. A scalar response is kept.
 */
export function pick(v: unknown, fields: ReadonlyArray<readonly string[]>): unknown {
  if (Array.isArray(v)) return v.map((e) => pick(e, fields))
  if (!isObject(v)) return v
  const out: Record<string, unknown> = {}
  const nested = new Map<string, Array<readonly string[]>>()
  for (const path of fields) {
    const k = path[0]!
    if (!Object.hasOwn(v, k)) continue
    if (path.length === 1) define(out, k, v[k])
    else if (!Object.hasOwn(out, k)) {
      let rest = nested.get(k)
      if (rest === undefined) nested.set(k, (rest = []))
      rest.push(path.slice(1))
    }
  }
  for (const [k, rest] of nested) {
    const x = v[k]
    // A scalar where the allow-list expects an object is dropped: it is not what was allowed.
    if (!Object.hasOwn(out, k) && x !== null && typeof x === 'object') define(out, k, pick(x, rest))
  }
  return out
}

/** Puts one backend's data into the response: under `group`, merged at the top (objects), or under its name. */
export function place(out: Record<string, unknown>, name: string, group: string, data: unknown): void {
  const key = group !== '' ? group : isObject(data) ? '' : name
  if (key === '') {
    for (const k of Object.keys(data as Record<string, unknown>)) define(out, k, (data as Record<string, unknown>)[k])
    return
  }
  const prev = Object.hasOwn(out, key) ? out[key] : undefined
  if (isObject(prev) && isObject(data)) for (const k of Object.keys(data)) define(prev, k, data[k])
  else define(out, key, data)
}
