// One side's rules (request or response), compiled to flat parallel arrays of lower-cased names
// and precompiled values, then applied per request in the documented order:
// rename → remove → set → add.
import type { RequestContext } from '../../core/context.js'
import type { HeaderRules } from './schema.js'
import { compileValue, valueFor, type CompiledValue } from './template.js'

/** Both header maps the plugin edits: ctx.upstreamHeaders and UpstreamHead.headers (lower-case keys). */
export type HeaderBag = Record<string, string | string[] | number | undefined>

export interface CompiledRules {
  readonly renameFrom: readonly string[]
  readonly renameTo: readonly string[]
  readonly remove: readonly string[]
  readonly setNames: readonly string[]
  readonly setValues: readonly CompiledValue[]
  /** One entry per added value: `add: {x: [a, b]}` becomes two entries for x. */
  readonly addNames: readonly string[]
  readonly addValues: readonly CompiledValue[]
}

/** Compiles one side; null when it has nothing to do, so the phase is not wired at all. */
export function compileRules(rules: HeaderRules | undefined, where: string): CompiledRules | null {
  if (rules === undefined) return null
  const out = {
    renameFrom: [] as string[],
    renameTo: [] as string[],
    remove: [] as string[],
    setNames: [] as string[],
    setValues: [] as CompiledValue[],
    addNames: [] as string[],
    addValues: [] as CompiledValue[],
  }
  const compile = (op: string, name: string, raw: string): CompiledValue => {
    try {
      return compileValue(raw)
    } catch (err) {
      throw new TypeError(`headers: ${where}.${op}.${name}: ${(err as Error).message}`)
    }
  }
  for (const [from, to] of Object.entries(rules.rename ?? {})) {
    const f = from.toLowerCase()
    const t = to.toLowerCase()
    if (f === t) continue
    out.renameFrom.push(f)
    out.renameTo.push(t)
  }
  for (const name of rules.remove ?? []) out.remove.push(name.toLowerCase())
  // Names differing only in case collapse to one entry: the last one written wins, as for any map.
  const set = new Map<string, CompiledValue>()
  for (const [name, raw] of Object.entries(rules.set ?? {})) set.set(name.toLowerCase(), compile('set', name, raw))
  out.setNames.push(...set.keys())
  out.setValues.push(...set.values())
  for (const [name, raw] of Object.entries(rules.add ?? {})) {
    for (const v of Array.isArray(raw) ? raw : [raw]) {
      out.addNames.push(name.toLowerCase())
      out.addValues.push(compile('add', name, v))
    }
  }
  const empty = out.renameFrom.length + out.remove.length + out.setNames.length + out.addNames.length === 0
  return empty ? null : out
}

export function applyRules(r: CompiledRules, headers: HeaderBag, ctx: RequestContext): void {
  for (let i = 0; i < r.renameFrom.length; i++) {
    const v = headers[r.renameFrom[i]!]
    if (v === undefined) continue
    delete headers[r.renameFrom[i]!]
    headers[r.renameTo[i]!] = v
  }
  for (let i = 0; i < r.remove.length; i++) delete headers[r.remove[i]!]
  for (let i = 0; i < r.setNames.length; i++) headers[r.setNames[i]!] = valueFor(r.setValues[i]!, ctx)
  for (let i = 0; i < r.addNames.length; i++) {
    const name = r.addNames[i]!
    const v = valueFor(r.addValues[i]!, ctx)
    const prev = headers[name]
    // A new array every time: the existing one may be shared with the client's parsed headers.
    headers[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v]
  }
}
