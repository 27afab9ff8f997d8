// Config schema of the `oauth2-introspection` plugin (RFC 7662).
import { Type, type Static } from '@sinclair/typebox'
import { Duration } from '../../config/schema/index.js'
import { TOKEN_PATTERN } from '../headers/schema.js'

export const IntrospectionSchema = Type.Object(
  {
    endpoint: Type.String({ pattern: '^https?://', description: 'The authorization server\'s introspection endpoint (RFC 7662 §2).' }),
    client_id: Type.String({ minLength: 1, description: 'Client id the gateway authenticates to the endpoint with.' }),
    client_secret: Type.String({ minLength: 1, description: 'Client secret for the endpoint. Use ${ENV}; never logged.' }),
    auth_method: Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')], {
      default: 'client_secret_basic',
      description: 'How the client credentials are sent: HTTP Basic (RFC 6749 §2.3.1) or in the form body.',
    }),
    token_type_hint: Type.String({ default: 'access_token', description: 'Sent as token_type_hint; "" sends none.' }),
    timeout: Duration('Deadline for one introspection call; past it failure_mode applies.', '1s'),
    failure_mode: Type.Union([Type.Literal('closed'), Type.Literal('open')], {
      default: 'closed',
      description: 'When the endpoint cannot answer (timeout, error, non-200): closed answers 503 auth_unavailable; open lets the request through unauthenticated (logged and counted). Use open only on routes that do not need the identity.',
    }),
    positive_ttl: Duration('How long an active token\'s answer is reused (never past the token\'s exp).', '60s'),
    negative_ttl: Duration('How long an inactive token\'s answer is reused.', '10s'),
    max_entries: Type.Integer({ minimum: 1, default: 10000, description: 'Bound of the answer cache (LRU), positive and negative together.' }),
    max_token_size: Type.Integer({ minimum: 16, default: 4096, description: 'Longer tokens are refused without a call.' }),
    hide_credentials: Type.Boolean({ default: false, description: 'Remove the Authorization header before the request goes upstream.' }),
    claims_to_headers: Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: TOKEN_PATTERN }), {
      default: {},
      description: 'Introspection fields sent upstream as headers, field: header (e.g. sub: x-user-id). Client-sent values are removed.',
    }),
    consumer_claim: Type.String({
      default: '',
      description: 'Field naming the consumer (e.g. client_id or username); when a declared consumer has that name its roles apply. "" sets none.',
    }),
  },
  { additionalProperties: false, description: 'Validates opaque bearer tokens with the authorization server (RFC 7662).' },
)

export type IntrospectionConfig = Static<typeof IntrospectionSchema>
