// `request-size-limit`: a body size limit that can be lower than the route's `max_body_size`, set
// globally (a global use), per route, and per consumer. The effective limit of a request is the
// smallest of the route's max_body_size and this plugin's; this plugin can only lower it.
// A declared Content-Length over the limit is a 413 before anything is read; a chunked body is
// counted as it streams to the upstream (the core's BodyLimit, through ctx.bodyLimit) and cut with
// a 413 when it passes the limit.
import { Type, type Static } from '@sinclair/typebox'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply, type Verdict } from '../../core/verdict.js'
import type { RequestContext } from '../../core/context.js'
import { Size } from '../../config/schema/index.js'
import { parseSize } from '../../config/units.js'

export const RequestSizeLimitSchema = Type.Object(
  {
    max_size: Type.Optional(Size('Largest request body accepted; 413 payload_too_large above it. Only lowers the route\'s max_body_size.', '1mb')),
    consumers: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Size('Limit for this consumer (by the name an auth plugin identified).'), {
        default: {},
        description:
          'Per-consumer limits, consumer name: size, used instead of max_size for that consumer (still capped by max_body_size). ' +
          'When set, the check runs in the access phase after the auth plugins; otherwise in rewrite, before any other plugin.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Refuses request bodies over a size, globally, per route or per consumer.' },
)

export type RequestSizeLimitConfig = Static<typeof RequestSizeLimitSchema>

const size = (v: string | number): number => (typeof v === 'number' ? v : parseSize(v))

function tooLarge(limit: number): LocalReply {
  // The body was not read: the connection cannot be reused.
  return { status: 413, error: 'payload_too_large', message: `request body exceeds ${limit} bytes`, headers: { connection: 'close' } }
}

function check(ctx: RequestContext, limit: number, reply: LocalReply): Verdict {
  const cl = ctx.req.headers['content-length']
  if (cl !== undefined && Number(cl) > limit) return reply
  // A body a plugin already buffered (PluginDefinition.body) is measured directly.
  const body = (ctx as { body?: unknown }).body
  if (Buffer.isBuffer(body) && body.length > limit) return reply
  if (limit < ctx.bodyLimit) ctx.bodyLimit = limit
  return undefined
}

export default definePlugin({
  name: 'request-size-limit',
  phases: ['rewrite', 'access'],
  // In access: after the auth plugins (2400-2510) so `consumer` is known, before rate-limit (1000)
  // so an oversized request does not use up the client's quota.
  priority: 1100,
  schema: RequestSizeLimitSchema,
  status: 'beta',
  create(config) {
    const limit = size(config.max_size ?? '1mb')
    const reply = Object.freeze(tooLarge(limit))
    const perConsumer = new Map<string, { limit: number; reply: LocalReply }>()
    for (const [name, v] of Object.entries(config.consumers ?? {})) {
      const l = size(v)
      perConsumer.set(name, { limit: l, reply: Object.freeze(tooLarge(l)) })
    }
    const instance: PluginInstance = {}
    if (perConsumer.size === 0) {
      instance.rewrite = (ctx) => check(ctx, limit, reply)
    } else {
      instance.access = (ctx) => {
        const c = ctx.consumer === undefined ? undefined : perConsumer.get(ctx.consumer)
        return c === undefined ? check(ctx, limit, reply) : check(ctx, c.limit, c.reply)
      }
    }
    return Object.freeze(instance)
  },
})
