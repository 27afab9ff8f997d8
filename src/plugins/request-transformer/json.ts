// JSON body rules shared by request-transformer and response-transformer: rename, remove, set and
// add fields by dot path ("user.address.city"; a numeric segment indexes an array). Paths are split
// once in create(); a body is parsed, edited in place and serialized again. `__proto__`,
// `prototype` and `constructor` segments are refused by the schema (and again here), so no config
// can reach an object's prototype.
import { Type, type Static } from '@sinclair/typebox'
import { parsedBody } from './memory.js'

const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor'])

/** One or more non-empty segments joined by dots; no prototype-reaching segment. */
export const DOT_PATH_PATTERN = '^(?!(?:.*\\.)?(?:__proto__|prototype|constructor)(?:\\.|$))[^.]+(?:\\.[^.]+)*$'

const DotPath = Type.String({ pattern: DOT_PATH_PATTERN, maxLength: 256, description: 'Field path: names joined by dots, e.g. user.address.city; a number indexes an array.' })

export function jsonRulesSchema(where: string) {
  return Type.Object(
    {
      rename: Type.Optional(
        Type.Record(Type.String({ pattern: DOT_PATH_PATTERN }), DotPath, {
          additionalProperties: false,
          default: {},
          description: `Moves ${where} body fields, from: to (dot paths). Runs first; a missing field is skipped.`,
        }),
      ),
      remove: Type.Optional(Type.Array(DotPath, { default: [], description: `${where} body fields to delete (dot paths). Runs after rename.` })),
      set: Type.Optional(
        Type.Record(Type.String({ pattern: DOT_PATH_PATTERN }), Type.Unknown(), {
          additionalProperties: false,
          default: {},
          description: `${where} body fields to set, path: any JSON value, replacing what is there; missing parent objects are created. Runs after remove.`,
        }),
      ),
      add: Type.Optional(
        Type.Record(Type.String({ pattern: DOT_PATH_PATTERN }), Type.Unknown(), {
          additionalProperties: false,
          default: {},
          description: `${where} body fields to add, path: any JSON value, only where the field is absent. Runs last.`,
        }),
      ),
    },
    {
      additionalProperties: false,
      default: {},
      description: `Changes to a JSON ${where} body (an object or array at the top), in the order rename, remove, set, add. Other bodies pass unchanged.`,
    },
  )
}

export type JsonRulesConfig = Static<ReturnType<typeof jsonRulesSchema>>

type Path = readonly string[]

export interface JsonRules {
  readonly rename: ReadonlyArray<readonly [Path, Path]>
  readonly remove: readonly Path[]
  readonly set: ReadonlyArray<readonly [Path, unknown]>
  readonly add: ReadonlyArray<readonly [Path, unknown]>
}

function split(path: string, where: string): Path {
  const segs = path.split('.')
  if (segs.some((s) => s === '' || FORBIDDEN.has(s))) throw new TypeError(`${where}: invalid field path "${path}"`)
  return segs
}

/** Compiles the rules; null when there are none (the body is then never read). */
export function compileJsonRules(cfg: JsonRulesConfig | undefined, where: string): JsonRules | null {
  if (cfg === undefined) return null
  const r: JsonRules = {
    rename: Object.entries(cfg.rename ?? {}).map(([f, t]) => [split(f, where), split(t, where)] as const),
    remove: (cfg.remove ?? []).map((p) => split(p, where)),
    set: Object.entries(cfg.set ?? {}).map(([p, v]) => [split(p, where), v] as const),
    add: Object.entries(cfg.add ?? {}).map(([p, v]) => [split(p, where), v] as const),
  }
  return r.rename.length + r.remove.length + r.set.length + r.add.length === 0 ? null : r
}

type Container = Record<string, unknown> | unknown[]

function isContainer(v: unknown): v is Container {
  return v !== null && typeof v === 'object'
}

function index(seg: string, arr: unknown[]): number {
  if (!/^\d+$/.test(seg)) return -1
  const i = Number(seg)
  return i < arr.length ? i : -1
}

/** The container holding the last segment of `path`; creates missing objects when `create`. */
function parentOf(root: Container, path: Path, create: boolean): Container | undefined {
  let cur: Container = root
  for (let i = 0; i < path.length - 1; i++) {
    const seg = path[i]!
    let next: unknown
    if (Array.isArray(cur)) {
      const k = index(seg, cur)
      next = k === -1 ? undefined : cur[k]
      if (!isContainer(next)) return undefined // arrays are not grown
    } else {
      next = Object.hasOwn(cur, seg) ? cur[seg] : undefined
      if (!isContainer(next)) {
        if (!create || next !== undefined) return undefined // never overwrite a scalar on the way
        next = {}
        cur[seg] = next
      }
    }
    cur = next as Container
  }
  return cur
}

function has(c: Container, key: string): boolean {
  return Array.isArray(c) ? index(key, c) !== -1 : Object.hasOwn(c, key)
}

function read(c: Container, key: string): unknown {
  return Array.isArray(c) ? c[index(key, c)] : c[key]
}

function del(c: Container, key: string): void {
  if (Array.isArray(c)) {
    const i = index(key, c)
    if (i !== -1) c.splice(i, 1)
  } else delete c[key]
}

function write(c: Container, key: string, v: unknown): boolean {
  if (Array.isArray(c)) {
    const i = index(key, c)
    if (i === -1) return false
    c[i] = v
  } else {
    // defineProperty: a plain data property even for odd keys; FORBIDDEN keys never get here.
    Object.defineProperty(c, key, { value: v, writable: true, enumerable: true, configurable: true })
  }
  return true
}

/** A fresh copy of a configured value, so one request's edits never reach the next. */
function fresh(v: unknown): unknown {
  return v !== null && typeof v === 'object' ? structuredClone(v) : v
}

/** Applies the rules to a parsed JSON value in place. Returns false when the top is not an object or array. */
export function applyJsonRules(r: JsonRules, root: unknown): boolean {
  if (!isContainer(root)) return false
  for (const [from, to] of r.rename) {
    const p = parentOf(root, from, false)
    const k = from[from.length - 1]!
    if (p === undefined || !has(p, k)) continue
    const v = read(p, k)
    del(p, k)
    const q = parentOf(root, to, true)
    if (q !== undefined) write(q, to[to.length - 1]!, v)
  }
  for (const path of r.remove) {
    const p = parentOf(root, path, false)
    if (p !== undefined) del(p, path[path.length - 1]!)
  }
  for (const [path, v] of r.set) {
    const p = parentOf(root, path, true)
    if (p !== undefined) write(p, path[path.length - 1]!, fresh(v))
  }
  for (const [path, v] of r.add) {
    const p = parentOf(root, path, true)
    const k = path[path.length - 1]!
    if (p !== undefined && !has(p, k)) write(p, k, fresh(v))
  }
  return true
}

/**
 * Parses, edits and serializes a JSON body. undefined = leave the body as it is (not JSON, or the
 * top is a scalar). A UTF-8 BOM is accepted and dropped.
 */
/** Default largest nesting of a JSON body the rules parse (objects and arrays). */
export const DEFAULT_MAX_DEPTH = 128

/**
 * Whether a JSON text nests objects/arrays deeper than `max`: one pass over the bytes, brackets
 * inside strings skipped. Run before JSON.parse, so a body of 10 000 '[' never reaches the parser
 * or the recursive rule walk and serializer (which would overflow the stack).
 */
export function nestsDeeper(body: Buffer, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped byte
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/** The transformed body, or undefined to leave it unchanged (not JSON, nothing changed, or nested deeper than maxDepth). */
export function transformJson(r: JsonRules, body: Buffer, maxDepth = DEFAULT_MAX_DEPTH): Buffer | undefined {
  if (nestsDeeper(body, maxDepth)) return undefined
  let text = body.toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return undefined
  } finally {
    parsedBody(body.length)
  }
  if (!applyJsonRules(r, doc)) return undefined
  return Buffer.from(JSON.stringify(doc))
}

/** application/json, or any +json type (application/problem+json, …). */
export function isJsonType(ct: string | string[] | undefined): boolean {
  const v = Array.isArray(ct) ? ct[0] : ct
  if (v === undefined) return false
  const semi = v.indexOf(';')
  const t = (semi === -1 ? v : v.slice(0, semi)).trim().toLowerCase()
  return t === 'application/json' || (t.startsWith('application/') && t.endsWith('+json'))
}

/** No Content-Encoding, or identity: a compressed body is never parsed. */
export function isIdentity(ce: string | string[] | undefined): boolean {
  if (ce === undefined) return true
  const v = (Array.isArray(ce) ? ce.join(',') : ce).trim().toLowerCase()
  return v === '' || v === 'identity'
}
