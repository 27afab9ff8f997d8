// Config schema of the `rate-limit` plugin.
import { Type, type Static } from '@sinclair/typebox'
import { Duration } from '../../config/schema/index.js'

/** A header name (RFC 9110 token) or a JWT claim name after `header:` / `claim:`. */
export const KEY_PATTERN = "^(ip|consumer|route|global|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|claim:[A-Za-z0-9_.:$-]+)$"

export const Limit = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_.-]*$',
        maxLength: 64,
        default: '',
        description:
          'Policy name sent in the RateLimit-Policy / RateLimit headers. Empty = derived, e.g. "10-per-1s". Letters, digits, "_", "." and "-".',
      }),
    ),
    algorithm: Type.Optional(
      Type.Union([Type.Literal('sliding-window'), Type.Literal('fixed-window'), Type.Literal('token-bucket'), Type.Literal('gcra')], {
        default: 'sliding-window',
        description:
          'sliding-window: counter approximation over the current and previous window (smooth, 2 numbers per key). fixed-window: a counter per ' +
          'clock-aligned window (up to 2× the limit across a window edge). token-bucket: refills limit/window, holds up to burst. ' +
          'gcra: the same limits as token-bucket with one number of state.',
      }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Requests allowed per window (the sustained rate for token-bucket and gcra). Required.' }),
    window: Type.Optional(Duration('The window the limit applies to (1s, 1m, 1h); the refill period for token-bucket and gcra.', '1s')),
    burst: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000_000,
        default: 0,
        description: 'token-bucket and gcra: the most requests admitted at once (bucket size). 0 = the same as limit. Ignored by the window algorithms.',
      }),
    ),
  },
  { additionalProperties: false, description: 'One limit: limit requests per window.' },
)

export const RateLimitSchema = Type.Object(
  {
    limits: Type.Array(Limit, {
      minItems: 1,
      maxItems: 8,
      description: 'One or more limits, all enforced (e.g. 10 per second and 1000 per hour). A request refused by one limit consumes nothing from the others.',
    }),
    key: Type.Optional(
      Type.String({
        pattern: KEY_PATTERN,
        default: 'ip',
        description:
          'What one counter is kept per: ip (client address after server.trusted_proxies), consumer (set by an auth plugin), ' +
          'header:<name>, claim:<name> (a JWT claim), route (one counter for the route), global (one counter for every route using this instance).',
      }),
    ),
    key_missing: Type.Optional(
      Type.Union([Type.Literal('ip'), Type.Literal('skip')], {
        default: 'ip',
        description: 'When the key has no value (no consumer, no such header or claim): ip = count by client address instead; skip = no limit for that request.',
      }),
    ),
    policy: Type.Optional(
      Type.Union([Type.Literal('local'), Type.Literal('redis')], {
        default: 'local',
        description:
          'local: counters in this worker\'s memory; with N workers or instances each counts alone, so up to N× the limit passes. ' +
          'redis: counters in store.redis, exact across workers and instances, one round trip per request.',
      }),
    ),
    failure_mode: Type.Optional(
      Type.Union([Type.Literal('open'), Type.Literal('closed')], {
        default: 'open',
        description: 'policy redis, when Redis fails or is slower than timeout: open = decide with this worker\'s local counters instead; closed = answer 503.',
      }),
    ),
    timeout: Type.Optional(Duration('policy redis: deadline of the Redis call for one request; past it failure_mode applies.', '50ms')),
    ietf_headers: Type.Optional(
      Type.Boolean({ default: true, description: 'Send RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-10) on every response.' }),
    ),
    legacy_headers: Type.Optional(
      Type.Boolean({ default: false, description: 'Also send X-RateLimit-Limit / -Remaining / -Reset for the limit closest to exhaustion.' }),
    ),
    max_keys: Type.Optional(
      Type.Integer({
        minimum: 100,
        default: 100_000,
        description: 'Local counters kept per limit (memory bound). Past it the oldest are dropped, which resets those clients\' counts.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Limits the request rate per client, consumer, header, JWT claim, route or globally.' },
)

export type RateLimitConfig = Static<typeof RateLimitSchema>
