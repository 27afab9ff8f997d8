// Header value templates: `$request_id`, `$client_ip`, `$route`, `$host`, and `$$` for a literal `$`.
// Parsed once in create(); a value without a variable compiles to the plain string, so the common
// case costs a typeof check per request. Hand-written rather than a template library: four names,
// no expressions, and the render loop must not allocate more than the result string.
import type { RequestContext } from '../../core/context.js'

type Getter = (ctx: RequestContext) => string

export const VARIABLES: ReadonlyMap<string, Getter> = new Map<string, Getter>([
  ['request_id', (ctx) => ctx.id],
  ['client_ip', (ctx) => ctx.clientIp],
  ['route', (ctx) => ctx.routeName],
  ['host', (ctx) => ctx.host],
])

/** Literal text around variables: parts[0] getters[0] parts[1] … getters[n-1] parts[n]. */
export interface Template {
  readonly parts: readonly string[]
  readonly getters: readonly Getter[]
}

/** A static value stays a string; only values that reference a variable become a Template. */
export type CompiledValue = string | Template

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y

/**
 * Compiles one configured value. Throws on `$name` with an unknown name, so a typo such as
 * `$requestid` is a config error instead of a header that silently carries the literal text.
 * A `$` not followed by a name (`$5`, `${`, a trailing `$`) is literal.
 */
export function compileValue(raw: string): CompiledValue {
  if (!raw.includes('$')) return raw
  const parts: string[] = []
  const getters: Getter[] = []
  let text = ''
  let i = 0
  while (i < raw.length) {
    const dollar = raw.indexOf('$', i)
    if (dollar === -1) {
      text += raw.slice(i)
      break
    }
    text += raw.slice(i, dollar)
    if (raw[dollar + 1] === '$') {
      text += '$'
      i = dollar + 2
      continue
    }
    NAME.lastIndex = dollar + 1
    const m = NAME.exec(raw)
    if (m === null) {
      text += '$'
      i = dollar + 1
      continue
    }
    const getter = VARIABLES.get(m[0])
    if (getter === undefined) {
      throw new TypeError(`unknown variable $${m[0]} in "${raw}" (known: ${[...VARIABLES.keys()].map((k) => `$${k}`).join(', ')}; write $$ for a literal $)`)
    }
    parts.push(text)
    getters.push(getter)
    text = ''
    i = dollar + 1 + m[0].length
  }
  if (getters.length === 0) return text
  parts.push(text)
  return { parts, getters }
}

export function render(t: Template, ctx: RequestContext): string {
  let out = t.parts[0]!
  for (let i = 0; i < t.getters.length; i++) out += t.getters[i]!(ctx) + t.parts[i + 1]!
  return out
}

/** The value for this request: the string itself, or the rendered template. */
export function valueFor(v: CompiledValue, ctx: RequestContext): string {
  return typeof v === 'string' ? v : render(v, ctx)
}
