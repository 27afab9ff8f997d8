// Config schema of `aggregate`.
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Size } from '../../config/schema/index.js'
import { TOKEN_PATTERN } from '../headers/schema.js'
import { DOT_PATH_PATTERN } from '../request-transformer/json.js'

export const BACKEND_NAME_PATTERN = '^[A-Za-z0-9_-]+$'

const FieldPath = Type.String({ pattern: DOT_PATH_PATTERN, maxLength: 256, description: 'Field path: names joined by dots, e.g. user.id.' })

export const BackendSchema = Type.Object(
  {
    name: Type.String({
      pattern: BACKEND_NAME_PATTERN,
      description: 'Backend name (letters, digits, _ and -): unique in the list; names the backend in `_errors`, in `depends_on` and in `{name.field}` placeholders.',
    }),
    upstream: Type.String({ minLength: 1, description: 'Upstream (config `upstreams:`) to call, through its targets, balancer and pools.' }),
    path: Type.String({
      pattern: '^/[^\\x00-\\x20\\x7f#]*$',
      description:
        'Path (and query) to call. `{param}` inserts a route path parameter; `{backend.field}` a field of the depends_on backend\'s response. Inserted values are URL-encoded.',
    }),
    method: Type.Optional(
      Type.Union([Type.Literal('GET'), Type.Literal('HEAD'), Type.Literal('POST'), Type.Literal('PUT'), Type.Literal('PATCH'), Type.Literal('DELETE')], {
        default: 'GET',
        description: 'Method of the call. No request body is sent.',
      }),
    ),
    group: Type.Optional(
      Type.String({ default: '', description: 'Key to put this backend\'s response under. Empty: an object response is merged into the top level; any other value goes under the backend name.' }),
    ),
    fields: Type.Optional(Type.Array(FieldPath, { default: [], description: 'Allow-list of response fields to keep (dot paths); empty = all. On an array, applies to each element.' })),
    timeout: Type.Optional(Duration('Deadline of this call (connect, head and body); the backend is marked failed after it.', '2s')),
    depends_on: Type.Optional(
      Type.Object(
        {
          backend: Type.String({ pattern: BACKEND_NAME_PATTERN, description: 'Backend whose response this call needs; it runs first.' }),
          field: FieldPath,
        },
        { additionalProperties: false, description: 'Sequential call: waits for `backend` and needs `field` in its response (a scalar), else fails with dependency_failed.' },
      ),
    ),
    required: Type.Optional(Type.Boolean({ default: false, description: 'When this backend fails the whole request fails (502 aggregate_failed) instead of answering partially.' })),
    max_body_bytes: Type.Optional(Size('Largest response accepted from this backend; larger fails it with too_large.', '1mb')),
  },
  { additionalProperties: false },
)

export const AggregateSchema = Type.Object(
  {
    backends: Type.Array(BackendSchema, { minItems: 1, maxItems: 32, description: 'Upstream calls, made in parallel except where depends_on orders them.' }),
    forward_headers: Type.Optional(
      Type.Array(Type.String({ pattern: TOKEN_PATTERN }), {
        default: [],
        description: 'Request headers (as the upstream would receive them, after other plugins) copied to every call. x-request-id is always sent.',
      }),
    ),
    forward_query: Type.Optional(Type.Boolean({ default: false, description: 'Append the client\'s query string to every call\'s path.' })),
  },
  { additionalProperties: false, description: 'Answers the route with one JSON object composed from several upstream calls (KrakenD-style aggregation).' },
)

export type AggregateConfig = Static<typeof AggregateSchema>
export type BackendConfig = Static<typeof BackendSchema>
