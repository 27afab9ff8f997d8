// Config schema of the `headers` plugin. Header injection is made impossible here, at validation
// time: names must be RFC 9110 tokens and values may hold no control characters, so nothing a
// config author writes can end a header line early or smuggle a second one.
import { Type, type Static } from '@sinclair/typebox'
import { VARIABLES } from './template.js'
import { HOP_BY_HOP as HOP_BY_HOP_SET } from '../../core/address.js'

/** RFC 9110 §5.6.2 tchar: the characters a field name (token) may contain. */
const TCHAR = "!#$%&'*+.^_`|~0-9A-Za-z-"

/** A field name: one or more tchars. Also used by cors for header and method lists. */
export const TOKEN_PATTERN = `^[${TCHAR}]+$`

/**
 * A header value: RFC 9110 §5.5 field-value characters (HTAB, SP, VCHAR, obs-text) and the template
 * rule of template.ts. CR, LF, NUL and every other control are out, which is also exactly the set
 * Node's http module accepts when it writes a header: anything wider would pass validation and then
 * throw (a 500) on every request. A `$` must start `$$`, a known `$name`, or be followed by no name,
 * so `portico validate` already refuses a misspelt variable.
 */
export const VALUE_PATTERN =
  '^(?:[\\t\\x20-\\x23\\x25-\\x7e\\x80-\\xff]|\\$\\$|\\$(?:' +
  [...VARIABLES.keys()].join('|') +
  ')(?![A-Za-z0-9_])|\\$(?![A-Za-z_$]))*$'

/** Hop-by-hop headers are refused on both sides: core/address.ts says why (the one list the proxy strips too). */
const HOP_BY_HOP = [...HOP_BY_HOP_SET]

/**
 * Request side also refuses `host` (the target, or route.preserve_host, decides it: the upstream
 * routes on it, so it is not a header to patch) and `content-length` (the proxy streams the body
 * and frames it; a configured length that disagrees with the body is a smuggling vector).
 */
export const REQUEST_RESERVED: readonly string[] = [...HOP_BY_HOP, 'content-length', 'host']

/** Response side refuses `content-length` too: the body is streamed as received, a wrong length truncates or hangs the client. */
export const RESPONSE_RESERVED: readonly string[] = [...HOP_BY_HOP, 'content-length']

/** `abc` → `[aA][bB][cC]`: JSON Schema patterns have no flags, so case-insensitivity is spelled out. */
function caseless(word: string): string {
  return word.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`)
}

/** A token pattern that refuses the reserved names in any letter case. */
export function headerNamePattern(reserved: readonly string[]): string {
  return `^(?!(?:${reserved.map(caseless).join('|')})$)[${TCHAR}]+$`
}

const Value = Type.String({
  pattern: VALUE_PATTERN,
  description:
    'Header value. No CR, LF, NUL or other control characters. May reference $request_id, $client_ip, $route and $host; write $$ for a literal $.',
})

function side(reserved: readonly string[], where: string) {
  const description = `Header name (RFC 9110 token, any case). Not allowed: ${reserved.join(', ')}.`
  const Name = Type.String({ pattern: headerNamePattern(reserved), description })
  // Map keys: a key outside the pattern is refused (additionalProperties: false) and the loader
  // reports it at the key itself.
  const Key = Type.String({ pattern: headerNamePattern(reserved), description })
  return Type.Object(
    {
      rename: Type.Optional(
        Type.Record(Key, Name, {
          additionalProperties: false,
          default: {},
          description: `Renames ${where} headers, from: to. Runs first. The new name replaces a header already there.`,
        }),
      ),
      remove: Type.Optional(
        Type.Array(Name, { default: [], description: `${where} headers to delete. Runs after rename.` }),
      ),
      set: Type.Optional(
        Type.Record(Key, Value, {
          additionalProperties: false,
          default: {},
          description: `${where} headers to set, name: value, replacing any value already there. Runs after remove.`,
        }),
      ),
      add: Type.Optional(
        Type.Record(Key, Type.Union([Value, Type.Array(Value, { minItems: 1 })]), {
          additionalProperties: false,
          default: {},
          description: `${where} headers to append, name: value or [values]; existing values are kept. Runs last.`,
        }),
      ),
    },
    { additionalProperties: false, default: {}, description: `Changes to ${where} headers, applied in the order rename, remove, set, add.` },
  )
}

export const HeadersSchema = Type.Object(
  {
    request: Type.Optional(side(REQUEST_RESERVED, 'request')),
    response: Type.Optional(side(RESPONSE_RESERVED, 'response')),
  },
  { additionalProperties: false, description: 'Add, set, rename and remove request headers (to the upstream) and response headers (to the client).' },
)

export type HeadersConfig = Static<typeof HeadersSchema>
export type HeaderRules = NonNullable<HeadersConfig['request']>
