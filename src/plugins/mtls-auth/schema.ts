// Config schema of the `mtls-auth` plugin: which client-certificate field names the consumer.
import { Type, type Static } from '@sinclair/typebox'
import { TOKEN_PATTERN } from '../headers/schema.js'

export const MtlsAuthSchema = Type.Object(
  {
    match_on: Type.Union([Type.Literal('subject_cn'), Type.Literal('subject'), Type.Literal('san_dns'), Type.Literal('san_uri'), Type.Literal('san_email')], {
      default: 'subject_cn',
      description: 'The certificate field looked up in `consumers`: the subject CN, the whole subject DN ("CN=alice, O=Example"), or a subjectAltName DNS / URI (SPIFFE IDs) / email entry (any entry of that kind may match).',
    }),
    consumers: Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), {
      default: {},
      description: 'Field value → consumer name (one of `consumers:`). A verified certificate whose value is not listed is refused (403) unless allow_unlisted.',
    }),
    allow_unlisted: Type.Boolean({ default: false, description: 'Let a verified certificate that maps to no consumer through, without a consumer.' }),
    consumer_header: Type.String({
      pattern: `^(?:|${TOKEN_PATTERN.slice(1, -1)})$`,
      default: 'x-consumer-name',
      description: 'Upstream header carrying the consumer name (any client-sent value is replaced); "" sends none.',
    }),
  },
  { additionalProperties: false, description: 'Consumers from the verified client certificate of an https listener with client_auth.' },
)

export type MtlsAuthConfig = Static<typeof MtlsAuthSchema>
