import { Type, type Static } from '@sinclair/typebox'
import { Duration } from '../../config/schema/index.js'

export const JwtRevocationSchema = Type.Object(
  {
    failure_mode: Type.Union([Type.Literal('closed'), Type.Literal('open')], {
      default: 'closed',
      description: 'When the Store cannot answer: closed answers 503 auth_unavailable; open lets the token through (logged and counted).',
    }),
    timeout: Duration('Deadline for the Store lookup; past it failure_mode applies.', '100ms'),
    cache_ttl: Duration(
      'How long a "not revoked" answer is reused per token without asking the Store. Revocations reach every instance at once through pub/sub; this bounds staleness only if a pub/sub message is lost.',
      '5s',
    ),
    max_entries: Type.Integer({ minimum: 1, default: 100000, description: 'Bound of the per-process "not revoked" cache.' }),
  },
  { additionalProperties: false, description: 'Refuses tokens revoked by jti or by sub (portico revoke / POST /admin/revocations).' },
)

export type JwtRevocationConfig = Static<typeof JwtRevocationSchema>
