// Config schema of the `hmac-auth` plugin. Secrets live on consumers
// (consumers[].credentials.hmac_auth); this says what must be signed and how strict to be.
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Size } from '../../config/schema/index.js'
import { TOKEN_PATTERN } from '../headers/schema.js'

export const HmacAuthSchema = Type.Object(
  {
    window: Duration('Largest allowed difference between the signed timestamp and the gateway clock, either way.', '300s'),
    required_headers: Type.Array(Type.String({ pattern: TOKEN_PATTERN }), {
      default: ['host'],
      description: 'Headers every signature must cover (the client may sign more). host binds a signature to one site.',
    }),
    required_body_headers: Type.Array(Type.String({ pattern: TOKEN_PATTERN }), {
      default: ['content-type'],
      description:
        'Headers a signature must also cover when the request has a body (and which must then be present): content-type binds the body digest to how the upstream will read it (JSON, form, ...). Method, path, query, timestamp and the body digest are always signed.',
    }),
    max_body_size: Size('Largest body that can be signed (it is buffered to compute its digest); 413 above it, and never more than the route\'s max_body_size.', '1mb'),
    hide_credentials: Type.Boolean({ default: true, description: 'Remove the Authorization header before the request goes upstream.' }),
    consumer_header: Type.String({
      pattern: `^(?:|${TOKEN_PATTERN.slice(1, -1)})$`,
      default: 'x-consumer-name',
      description: 'Upstream header carrying the consumer name (any client-sent value is replaced); "" sends none.',
    }),
    failure_mode: Type.Union([Type.Literal('closed'), Type.Literal('open')], {
      default: 'closed',
      description: 'When the Store cannot record the nonce: closed answers 503 auth_unavailable; open accepts the request without replay protection (logged and counted).',
    }),
    timeout: Duration('Deadline for recording the nonce in the Store; past it failure_mode applies.', '100ms'),
  },
  { additionalProperties: false, description: 'Request signing with a per-consumer secret (HMAC-SHA256) and replay protection.' },
)

export type HmacAuthConfig = Static<typeof HmacAuthSchema>
