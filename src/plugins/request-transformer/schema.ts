// Config schema of `request-transformer`. Header rules reuse the `headers` plugin's request side
// (same names, checks and order), so header injection is refused at validation time here too.
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Size } from '../../config/schema/index.js'
import { HeadersSchema } from '../headers/schema.js'
import { QueryRulesSchema } from './query.js'
import { jsonRulesSchema } from './json.js'

export const RequestTransformerSchema = Type.Object(
  {
    headers: HeadersSchema.properties.request,
    query: Type.Optional(QueryRulesSchema),
    path: Type.Optional(
      Type.Object(
        {
          pattern: Type.String({ minLength: 1, description: 'Regular expression matched against the upstream path (after the route\'s strip_prefix and rewrite).' }),
          replacement: Type.String({
            pattern: '^[^\\x00-\\x20\\x7f?#]*$',
            default: '/',
            description: 'Replacement; $1 and $<name> insert groups. No spaces, controls, ? or #. A leading / is added when missing.',
          }),
        },
        { additionalProperties: false, description: 'Rewrites the path sent upstream (first match, as String.replace).' },
      ),
    ),
    body: Type.Optional(jsonRulesSchema('request')),
    max_body_bytes: Type.Optional(
      Size('Largest request body the body rules read. A bigger body, a chunked one (no Content-Length), or a non-JSON one is sent unchanged.', '1mb'),
    ),
    max_depth: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: 128,
        description: 'Deepest nesting of objects and arrays in a JSON body the body rules accept; a deeper one is refused with 400 invalid_body before it is parsed.',
      }),
    ),
    body_timeout: Type.Optional(Duration('Longest pause between two chunks while reading a body to transform; 408 after it.', '10s')),
  },
  {
    additionalProperties: false,
    description: 'Changes the request before it goes upstream: headers, query parameters, path, and fields of a JSON body.',
  },
)

export type RequestTransformerConfig = Static<typeof RequestTransformerSchema>
