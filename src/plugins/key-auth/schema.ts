// Config schema of the `key-auth` plugin. The keys themselves live on consumers
// (consumers[].credentials.key_auth); this only says where a request carries its key.
import { Type, type Static } from '@sinclair/typebox'
import { TOKEN_PATTERN } from '../headers/schema.js'

export const KeyAuthSchema = Type.Object(
  {
    header_names: Type.Array(Type.String({ pattern: TOKEN_PATTERN }), {
      default: ['apikey', 'x-api-key'],
      description: 'Request headers that may carry the key (any case). A request with the key in more than one place is refused.',
    }),
    query_names: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.~-]+$' }), {
      default: ['apikey'],
      description: 'Query parameters that may carry the key; [] accepts headers only (keys in URLs end up in logs and browser history).',
    }),
    hide_credentials: Type.Boolean({
      default: true,
      description: 'Remove the key (header and query parameter) before the request goes upstream.',
    }),
    consumer_header: Type.String({
      pattern: `^(?:|${TOKEN_PATTERN.slice(1, -1)})$`,
      default: 'x-consumer-name',
      description: 'Upstream header carrying the consumer name (any client-sent value is replaced); "" sends none.',
    }),
  },
  { additionalProperties: false, description: 'API keys from a header or query parameter, matched against the consumers\' hashed keys.' },
)

export type KeyAuthConfig = Static<typeof KeyAuthSchema>
