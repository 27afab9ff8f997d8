// Query-string rules of request-transformer: rename, remove, set, add parameters of ctx.query (the
// raw query sent upstream). Names are compared decoded (form encoding: '+' is a space); parameters
// no rule names keep every byte the client sent; configured names and values are encoded once.
import { Type, type Static } from '@sinclair/typebox'

const Name = Type.String({ minLength: 1, maxLength: 256, description: 'Query parameter name (decoded).' })
const Val = Type.String({ maxLength: 4096, description: 'Query parameter value (encoded by the gateway).' })

export const QueryRulesSchema = Type.Object(
  {
    rename: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Name, { additionalProperties: false, default: {}, description: 'Renames parameters, from: to; their values are kept. Runs first.' }),
    ),
    remove: Type.Optional(Type.Array(Name, { default: [], description: 'Parameters to delete (every occurrence). Runs after rename.' })),
    set: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Val, { additionalProperties: false, default: {}, description: 'Parameters to set, name: value, replacing every occurrence. Runs after remove.' }),
    ),
    add: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.Union([Val, Type.Array(Val, { minItems: 1 })]), {
        additionalProperties: false,
        default: {},
        description: 'Parameters to append, name: value or [values]; existing occurrences are kept. Runs last.',
      }),
    ),
  },
  { additionalProperties: false, default: {}, description: 'Changes to the query string sent upstream, in the order rename, remove, set, add.' },
)

export type QueryRulesConfig = Static<typeof QueryRulesSchema>

export interface QueryRules {
  /** Decoded name → encoded new name. */
  readonly rename: ReadonlyMap<string, string>
  /** Decoded names whose occurrences are dropped (removed and set). */
  readonly drop: ReadonlySet<string>
  /** Encoded `name=value` parts appended, set first then add. */
  readonly append: readonly string[]
}

const enc = (s: string): string => encodeURIComponent(s)

export function compileQueryRules(cfg: QueryRulesConfig | undefined): QueryRules | null {
  if (cfg === undefined) return null
  const rename = new Map(Object.entries(cfg.rename ?? {}).map(([f, t]) => [f, enc(t)]))
  const drop = new Set(cfg.remove ?? [])
  const append: string[] = []
  for (const [n, v] of Object.entries(cfg.set ?? {})) {
    drop.add(n)
    append.push(`${enc(n)}=${enc(v)}`)
  }
  for (const [n, v] of Object.entries(cfg.add ?? {})) for (const one of Array.isArray(v) ? v : [v]) append.push(`${enc(n)}=${enc(one)}`)
  return rename.size + drop.size + append.length === 0 ? null : { rename, drop, append }
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}

/** The query (without '?') after the rules. A renamed parameter that `set` also names is dropped by set. */
export function applyQueryRules(r: QueryRules, query: string): string {
  const out: string[] = []
  if (query !== '') {
    for (const part of query.split('&')) {
      if (part === '') continue
      const eq = part.indexOf('=')
      const rawKey = eq === -1 ? part : part.slice(0, eq)
      const key = decode(rawKey)
      if (key === undefined) {
        out.push(part) // not ours to judge: passed as sent
        continue
      }
      const to = r.rename.get(key)
      if (to !== undefined) {
        if (r.drop.has(decode(to) ?? to)) continue
        out.push(eq === -1 ? to : to + part.slice(eq))
        continue
      }
      if (r.drop.has(key)) continue
      out.push(part)
    }
  }
  for (const a of r.append) out.push(a)
  return out.join('&')
}
