// `mock`: answers the route with a fixed response (status, headers, body) and never calls the
// upstream. For stubbing an API before its service exists, maintenance pages and tests. The reply
// is built once in create(); a request costs one object spread.
import { Type, type Static } from '@sinclair/typebox'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply } from '../../core/verdict.js'
import { RESPONSE_RESERVED, VALUE_PATTERN, headerNamePattern } from '../headers/schema.js'

const Name = Type.String({ pattern: headerNamePattern(RESPONSE_RESERVED), description: 'Header name (RFC 9110 token).' })

export const MockSchema = Type.Object(
  {
    status: Type.Optional(Type.Integer({ minimum: 200, maximum: 599, default: 200, description: 'Response status (200-599).' })),
    headers: Type.Optional(
      Type.Record(Name, Type.String({ pattern: VALUE_PATTERN }), {
        additionalProperties: false,
        default: {},
        description: 'Response headers, name: value. Hop-by-hop headers and content-length are refused (the gateway frames the body).',
      }),
    ),
    body: Type.Optional(
      Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown()), Type.Array(Type.Unknown())], {
        default: '',
        description: 'Response body: a string is sent as is (text/plain unless content_type says otherwise); a mapping or list is sent as JSON.',
      }),
    ),
    content_type: Type.Optional(
      Type.String({
        pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]*(/[^\\x00-\\x1f\\x7f]+)?$',
        default: '',
        description: 'Content-Type. Empty = application/json for a mapping or list body, text/plain; charset=utf-8 for a string.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Answers with a fixed response; the upstream is not called.' },
)

export type MockConfig = Static<typeof MockSchema>

export default definePlugin({
  name: 'mock',
  phases: ['access'],
  // Last in access: ip, auth, rate-limit and headers still apply to a mocked route.
  priority: 100,
  schema: MockSchema,
  status: 'beta',
  create(config) {
    const raw = config.body ?? ''
    const json = typeof raw !== 'string'
    const body = Buffer.from(json ? JSON.stringify(raw) : raw)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(config.headers ?? {})) headers[k.toLowerCase()] = v
    if (headers['content-type'] === undefined) {
      headers['content-type'] = config.content_type !== undefined && config.content_type !== '' ? config.content_type : json ? 'application/json' : 'text/plain; charset=utf-8'
    }
    const reply: LocalReply = Object.freeze({ status: config.status ?? 200, headers: Object.freeze(headers), body })
    const instance: PluginInstance = { access: () => reply }
    return Object.freeze(instance)
  },
})
