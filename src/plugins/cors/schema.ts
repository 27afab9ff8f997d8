// Config schema of the `cors` plugin (Fetch standard, "CORS protocol").
import { Type, type Static } from '@sinclair/typebox'
import { Duration } from '../../config/schema/index.js'
import { TOKEN_PATTERN } from '../headers/schema.js'

/**
 * `*`, `null`, `~regex`, or a serialized origin: scheme://host[:port] with no path, query or
 * trailing slash (a browser never sends one, so `https://app.example.com/` could never match).
 */
const ORIGIN_PATTERN = '^(\\*|null|~.+|[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]+)$'

/** A method token; `*` is left out because browsers treat it literally on credentialed requests. */
const METHOD_PATTERN = "^[!#$%&'+.^_`|~0-9A-Za-z-]+$"

const HeaderName = Type.String({ pattern: TOKEN_PATTERN })

/** Defaults shared by the schema (what Ajv fills in) and create() (when called without Ajv). */
export const CORS_DEFAULTS = {
  methods: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'],
  allow_headers: 'reflect',
  max_age: '10m',
} as const

export const CorsSchema = Type.Object(
  {
    origins: Type.Optional(
      Type.Array(Type.String({ pattern: ORIGIN_PATTERN }), {
        default: [],
        description:
          'Allowed origins: exact ("https://app.example.com", compared case-insensitively, no trailing slash), "*" for any, ' +
          '"null" (only if you mean it), or "~regex" matched against the whole origin (it is anchored for you). Empty = none allowed.',
      }),
    ),
    methods: Type.Optional(
      Type.Array(Type.String({ pattern: METHOD_PATTERN }), {
        default: CORS_DEFAULTS.methods,
        description: 'Methods announced in Access-Control-Allow-Methods on preflight responses.',
      }),
    ),
    allow_headers: Type.Optional(
      Type.Union([Type.Literal('reflect'), Type.Literal('*'), Type.Array(HeaderName)], {
        default: CORS_DEFAULTS.allow_headers,
        description:
          'Request headers allowed on preflight: "reflect" echoes Access-Control-Request-Headers, "*" sends the wildcard ' +
          '(browsers never let it cover Authorization, and treat it literally on credentialed requests, where Portico reflects instead), or a list.',
      }),
    ),
    expose_headers: Type.Optional(
      Type.Union([Type.Literal('*'), Type.Array(HeaderName)], {
        default: [],
        description:
          'Response headers scripts may read (Access-Control-Expose-Headers). "*" exposes all; with credentials, where browsers ' +
          'treat "*" literally, Portico lists the response\'s own header names instead.',
      }),
    ),
    credentials: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Send Access-Control-Allow-Credentials: true (cookies, HTTP auth). Cannot be combined with the "*" origin: list the origins.',
      }),
    ),
    max_age: Type.Optional(Duration('How long browsers may cache a preflight answer (Access-Control-Max-Age, whole seconds). Chromium caps it at 2h.', CORS_DEFAULTS.max_age)),
    preflight_continue: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'false: the gateway answers preflights itself (204) without calling the upstream. true: preflights are proxied and the upstream answers them.',
      }),
    ),
    private_network: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Answer Access-Control-Request-Private-Network: true with Access-Control-Allow-Private-Network: true (Private Network Access).',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Cross-origin resource sharing, answered at the gateway.',
    // The Fetch standard rejects `Access-Control-Allow-Origin: *` on credentialed requests. Reflecting
    // any origin instead would hand every website on the internet the user's cookies, so the
    // combination is a config error rather than a silent rewrite.
    if: { type: 'object', properties: { credentials: { const: true } }, required: ['credentials'] },
    then: {
      type: 'object',
      properties: {
        origins: {
          type: 'array',
          items: { not: { const: '*' }, description: '"*" cannot be combined with credentials: true; list the origins instead.' },
        },
      },
    },
  },
)

export type CorsConfig = Static<typeof CorsSchema>
