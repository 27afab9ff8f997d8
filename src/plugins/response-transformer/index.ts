// `response-transformer`: changes what the client receives: headers (the `headers` plugin's rules)
// and fields of a JSON body. Body rules use the core's held-body seam (UpstreamHead.rewriteBody):
// the head waits while the body (at most max_body_bytes) is collected, then the edited body is sent
// with its new Content-Length. A bigger, compressed or non-JSON body streams through unchanged.
import { Type, type Static } from '@sinclair/typebox'
import { Size } from '../../config/schema/index.js'
import { parseSize } from '../../config/units.js'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type BodyRewrite } from '../../core/verdict.js'
import { HeadersSchema } from '../headers/schema.js'
import { applyRules, compileRules } from '../headers/rules.js'
import { compileJsonRules, isIdentity, isJsonType, jsonRulesSchema, transformJson } from '../request-transformer/json.js'

const NAME = 'response-transformer'

export const ResponseTransformerSchema = Type.Object(
  {
    headers: HeadersSchema.properties.response,
    body: Type.Optional(jsonRulesSchema('response')),
    max_body_bytes: Type.Optional(
      Size('Largest response body the body rules hold and rewrite. A bigger one streams through unchanged, as do non-JSON and compressed bodies.', '1mb'),
    ),
  },
  { additionalProperties: false, description: 'Changes the response before it reaches the client: headers and fields of a JSON body.' },
)

export type ResponseTransformerConfig = Static<typeof ResponseTransformerSchema>

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

export default definePlugin({
  name: NAME,
  phases: ['response'],
  // Before `cache` (10), which then stores the response as transformed; after `headers` (900).
  priority: 800,
  schema: ResponseTransformerSchema,
  status: 'beta',
  create(config) {
    const headers = compileRules(config.headers, 'response')
    const rules = compileJsonRules(config.body, 'response-transformer: body')
    const maxBytes = parseSize(config.max_body_bytes ?? '1mb')
    const rewrite: BodyRewrite | null = rules === null ? null : Object.freeze({ maxBytes, apply: (b: Buffer) => transformJson(rules, b) })
    const instance: PluginInstance = {}
    if (headers === null && rewrite === null) return Object.freeze(instance)
    instance.response = (ctx, head) => {
      if (headers !== null) applyRules(headers, head.headers, ctx)
      if (rewrite === null) return
      const s = head.status
      const h = head.headers
      if (ctx.method === 'HEAD' || s === 204 || s === 304 || !isJsonType(h['content-type']) || !isIdentity(h['content-encoding'])) return
      const cl = first(h['content-length'])
      if (cl !== undefined && Number(cl) > maxBytes) return
      head.rewriteBody = rewrite
    }
    return Object.freeze(instance)
  },
})
