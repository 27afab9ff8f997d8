// The config document seen as named resources: routes, upstreams, consumers and global plugins,
// each addressed by name, plus the top-level settings. Pure functions on the document as written
// (before ${ENV} interpolation); the API, `config diff` and the audit log all read changes from here.
import { createHash } from 'node:crypto'
import { setOwn } from './redact.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

export type Kind = 'routes' | 'upstreams' | 'consumers' | 'plugins'
export const KINDS: readonly Kind[] = ['routes', 'upstreams', 'consumers', 'plugins']
/** Singular nouns for messages. */
export const NOUN: Record<Kind, string> = { routes: 'route', upstreams: 'upstream', consumers: 'consumer', plugins: 'global plugin' }

export const NAME_RE = /^[A-Za-z0-9_.@-]{1,128}$/

export interface Change {
  kind: Kind | 'settings'
  name: string
  op: 'create' | 'update' | 'delete'
  before?: unknown
  after?: unknown
}

/** The resources of one kind in document order, each as the API shows it (upstreams get their name inside). */
export function list(doc: Obj, kind: Kind): Obj[] {
  const section = doc[kind]
  if (kind === 'upstreams') {
    return isObj(section) ? Object.keys(section).map((name) => ({ name, ...(isObj(section[name]) ? section[name] : {}) })) : []
  }
  return Array.isArray(section) ? section.filter(isObj) : []
}

export function get(doc: Obj, kind: Kind, name: string): Obj | undefined {
  return list(doc, kind).find((r) => r.name === name)
}

/** A new document with the resource `name` replaced (kept in place) or appended. */
export function put(doc: Obj, kind: Kind, name: string, value: Obj): Obj {
  const body = { ...value, name }
  if (kind === 'upstreams') {
    const { name: _n, ...upstream } = body
    return { ...doc, upstreams: { ...(isObj(doc.upstreams) ? doc.upstreams : {}), [name]: upstream } }
  }
  const items = Array.isArray(doc[kind]) ? [...(doc[kind] as unknown[])] : []
  const at = items.findIndex((r) => isObj(r) && r.name === name)
  if (at >= 0) items[at] = body
  else items.push(body)
  return { ...doc, [kind]: items }
}

export function remove(doc: Obj, kind: Kind, name: string): Obj {
  if (kind === 'upstreams') {
    const { [name]: _gone, ...rest } = isObj(doc.upstreams) ? doc.upstreams : {}
    return { ...doc, upstreams: rest }
  }
  const items = Array.isArray(doc[kind]) ? (doc[kind] as unknown[]) : []
  return { ...doc, [kind]: items.filter((r) => !(isObj(r) && r.name === name)) }
}

/** JSON with object keys sorted: equal content, equal text. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (isObj(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

/** A strong ETag from the content: any change, by anyone, through any path, changes it. */
export function etagOf(v: unknown): string {
  return `"${createHash('sha256').update(canonical(v)).digest('hex').slice(0, 20)}"`
}

/** Resource-level differences between two documents: what `dry_run`, `config diff` and the audit log report. */
export function changes(before: Obj, after: Obj): Change[] {
  const out: Change[] = []
  for (const kind of KINDS) {
    const a = new Map(list(before, kind).map((r) => [String(r.name), r]))
    const b = new Map(list(after, kind).map((r) => [String(r.name), r]))
    for (const [name, was] of a) {
      const now = b.get(name)
      if (now === undefined) out.push({ kind, name, op: 'delete', before: was })
      else if (canonical(was) !== canonical(now)) out.push({ kind, name, op: 'update', before: was, after: now })
    }
    for (const [name, now] of b) if (!a.has(name)) out.push({ kind, name, op: 'create', after: now })
  }
  const settings = new Set([...Object.keys(before), ...Object.keys(after)].filter((k) => !(KINDS as readonly string[]).includes(k)))
  for (const key of [...settings].sort()) {
    const was = before[key]
    const now = after[key]
    if (was === undefined && now !== undefined) out.push({ kind: 'settings', name: key, op: 'create', after: now })
    else if (was !== undefined && now === undefined) out.push({ kind: 'settings', name: key, op: 'delete', before: was })
    else if (canonical(was) !== canonical(now)) out.push({ kind: 'settings', name: key, op: 'update', before: was, after: now })
  }
  return out
}

/** RFC 7396 JSON merge patch: objects merge, null deletes a key, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return patch
  const out: Obj = isObj(target) ? { ...target } : {}
  for (const k of Object.keys(patch)) {
    if (patch[k] === null) delete out[k]
    else setOwn(out, k, mergePatch(Object.hasOwn(out, k) ? out[k] : undefined, patch[k]))
  }
  return out
}
