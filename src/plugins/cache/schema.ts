// Config schema of the `cache` plugin.
import { Type, type Static } from '@sinclair/typebox'
import { Duration, Size } from '../../config/schema/index.js'
import { TOKEN_PATTERN } from '../headers/schema.js'

const HeaderName = Type.String({ pattern: TOKEN_PATTERN, description: 'Request header name (any case).' })
const ParamName = Type.String({ minLength: 1, maxLength: 256, description: 'Query parameter name, as it appears in the URL (not decoded).' })

export const CacheSchema = Type.Object(
  {
    max_size: Type.Optional(Size('Memory for this cache (bodies, headers and keys), least recently used entries are evicted beyond it.', '64mb')),
    max_object_size: Type.Optional(
      Size('Largest body stored. A bigger response streams through to the client and is not stored.', '1mb'),
    ),
    methods: Type.Optional(
      Type.Array(Type.Union([Type.Literal('GET'), Type.Literal('HEAD')]), {
        minItems: 1,
        uniqueItems: true,
        default: ['GET', 'HEAD'],
        description: 'Methods answered from the cache. Only GET responses are stored; a HEAD is answered from the stored GET response.',
      }),
    ),
    statuses: Type.Optional(
      Type.Array(Type.Integer({ minimum: 200, maximum: 599 }), {
        minItems: 1,
        uniqueItems: true,
        description:
          'Response statuses that may be stored. Unset: every final status (RFC 9111 §3) but 206 (range requests bypass the cache) and 304. Either way a response also needs the RFC 9111 conditions: explicit freshness (max-age, s-maxage, Expires, public) unless the status is heuristically cacheable (RFC 9110 §15.1: 200 203 204 300 301 308 404 405 410 414 501).',
      }),
    ),
    key: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.Boolean({ default: true, description: 'Include the request host in the key. Turn off only when every host of the route serves the same content.' })),
          query: Type.Optional(
            Type.Union([Type.Literal('all'), Type.Literal('sorted'), Type.Literal('none')], {
              default: 'all',
              description: 'all: the query string as sent; sorted: parameters sorted by name (a=1&b=2 and b=2&a=1 share an entry); none: the query is not part of the key.',
            }),
          ),
          query_include: Type.Optional(
            Type.Array(ParamName, { default: [], description: 'When not empty, only these query parameters are part of the key (implies sorting).' }),
          ),
          query_ignore: Type.Optional(
            Type.Array(ParamName, { default: [], description: 'Query parameters left out of the key (e.g. utm_source). Implies sorting.' }),
          ),
          headers: Type.Optional(
            Type.Array(HeaderName, {
              default: [],
              description: 'Request headers whose values are part of the key (in addition to the response\'s Vary, which is always honoured).',
            }),
          ),
          consumer: Type.Optional(
            Type.Boolean({
              default: false,
              description:
                'Cache per consumer on purpose: the consumer an auth plugin identified is part of the key, so each consumer has its own entries, and responses to authenticated requests are stored without needing public / s-maxage / must-revalidate (RFC 9111 §3.5 is about sharing between users; these entries are not shared).',
            }),
          ),
        },
        { additionalProperties: false, default: {}, description: 'What identifies a stored response. By default host + path + query; the method is not part of it (only GET is stored).' },
      ),
    ),
    heuristic_fraction: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1,
        default: 0.1,
        description:
          'RFC 9111 §4.2.2 heuristic freshness for responses without max-age/s-maxage/Expires but with Last-Modified: this fraction of (Date − Last-Modified). Only for heuristically cacheable statuses or public responses. 0 disables heuristics.',
      }),
    ),
    heuristic_max: Type.Optional(Duration('Upper bound of a heuristic freshness lifetime.', '1h')),
    request_cache_control: Type.Optional(
      Type.Union([Type.Literal('honor'), Type.Literal('ignore')], {
        default: 'honor',
        description:
          'honor: a request with Cache-Control no-cache or max-age=0 (or Pragma: no-cache) is revalidated with the origin and one with no-store bypasses the cache; ignore: clients cannot influence the cache.',
      }),
    ),
    store_set_cookie: Type.Optional(
      Type.Boolean({ default: false, description: 'Store responses that carry Set-Cookie. Off: such responses are passed through unstored, so one client\'s cookie is never replayed to another.' }),
    ),
    lock_timeout: Type.Optional(
      Duration('Concurrent misses for one key wait for the first one\'s response at most this long, then go to the origin themselves.', '5s'),
    ),
    keep_stale: Type.Optional(
      Duration('How long a stale entry with validators (ETag / Last-Modified) is kept in the second tier for revalidation after its freshness and stale windows end.', '10m'),
    ),
    tier2: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('redis')], {
        default: 'none',
        description: 'Second tier behind the memory LRU: redis = the shared Store (needs store.redis), so workers and instances share entries.',
      }),
    ),
    timeout: Type.Optional(Duration('Deadline of one second-tier (Redis) lookup; past it the failure mode applies.', '50ms')),
    failure_mode: Type.Optional(
      Type.Union([Type.Literal('open'), Type.Literal('closed')], {
        default: 'open',
        description: 'When the second tier fails or times out: open = treat it as a miss and go on (memory tier and origin); closed = answer 503 cache_unavailable.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Shared HTTP cache (RFC 9111) in front of the upstream: memory LRU bounded in bytes, optional Redis second tier, request coalescing.' },
)

export type CacheConfig = Static<typeof CacheSchema>
