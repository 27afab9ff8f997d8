// Config schema of the `jwt` plugin: where keys come from (each source with its own algorithm
// allow-list), which claims are checked, where the token is read, what is forwarded upstream.
import { Type, type Static } from '@sinclair/typebox'
import { Duration } from '../../config/schema/index.js'
import { TOKEN_PATTERN } from '../headers/schema.js'

/** Asymmetric JWS algorithms: public keys from PEM, JWKS or discovery. */
export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
/** HMAC algorithms: only with a shared `secret`. */
export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const
export type JwsAlg = (typeof ASYMMETRIC_ALGS)[number] | (typeof HMAC_ALGS)[number]

const Url = (description: string) => Type.String({ pattern: '^https?://', description })

const KeySource = Type.Object(
  {
    secret: Type.Optional(
      Type.String({
        minLength: 32,
        description: 'Shared HMAC secret (HS256/384/512), at least 32 bytes (RFC 7518 §3.2). Write it as ${ENV_VAR}, never inline.',
      }),
    ),
    public_key: Type.Optional(
      Type.String({
        pattern: '-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE)-----',
        description: 'A PEM public key (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY") or an X.509 certificate.',
      }),
    ),
    jwks_uri: Type.Optional(Url('URL of a JSON Web Key Set; cached and refreshed in the background.')),
    discovery: Type.Optional(
      Url(
        'OIDC issuer URL: its /.well-known/openid-configuration names the jwks_uri. The document\'s "issuer" must equal this value, ' +
          'and tokens must carry it as "iss" unless `issuer` is set.',
      ),
    ),
    algorithms: Type.Array(Type.Union([...HMAC_ALGS, ...ASYMMETRIC_ALGS].map((a) => Type.Literal(a))), {
      minItems: 1,
      uniqueItems: true,
      description:
        'Algorithms accepted with this key source, checked before any key is touched: HS* only with `secret`, ' +
        'RS*/PS*/ES*/EdDSA only with the other sources. "none" is never accepted.',
    }),
    kid: Type.Optional(Type.String({ minLength: 1, description: 'For `secret`/`public_key`: only tokens whose header "kid" equals this use the key. Unset: any kid.' })),
  },
  {
    additionalProperties: false,
    description: 'One key source: exactly one of secret, public_key, jwks_uri, discovery, with its algorithm allow-list.',
    oneOf: [{ required: ['secret'] }, { required: ['public_key'] }, { required: ['jwks_uri'] }, { required: ['discovery'] }],
    // Algorithm confusion (an RS256 public key used as an HMAC secret) is refused when the config is
    // loaded: a symmetric source accepts only HS*, an asymmetric one never does.
    if: { type: 'object', required: ['secret'] },
    then: { type: 'object', properties: { algorithms: { type: 'array', items: { enum: [...HMAC_ALGS] } } } },
    else: { type: 'object', properties: { algorithms: { type: 'array', items: { enum: [...ASYMMETRIC_ALGS] } } } },
  },
)

const StringOrList = (description: string) =>
  Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description })

export const JWT_DEFAULTS = {
  clock_skew: '30s',
  required_claims: ['exp'],
  header: 'authorization',
  max_token_size: 8192,
  cache_size: 10_000,
  jwks_cache_ttl: '5m',
  jwks_refetch_cooldown: '10s',
  jwks_max_stale: '1h',
  timeout: '2s',
  realm: 'portico',
} as const

export const JwtSchema = Type.Object(
  {
    keys: Type.Array(KeySource, { minItems: 1, description: 'Key sources, tried in order among those whose algorithms include the token\'s "alg".' }),
    issuer: Type.Optional(StringOrList('Accepted "iss" values. Unset: not checked, except against a `discovery` source\'s issuer for tokens verified with it.')),
    audience: Type.Optional(StringOrList('Accepted "aud" values (a token matches when any of its audiences is listed). Unset: not checked.')),
    clock_skew: Type.Optional(Duration('Tolerance for "exp", "nbf" and "iat" against this host\'s clock.', JWT_DEFAULTS.clock_skew)),
    required_claims: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { default: [...JWT_DEFAULTS.required_claims], description: 'Claims a token must carry. By default "exp": a token without expiry is refused.' }),
    ),
    header: Type.Optional(
      Type.String({
        default: JWT_DEFAULTS.header,
        pattern: `^(${TOKEN_PATTERN.slice(1, -1)})?$`,
        description: 'Request header carrying "Bearer <token>" (for headers other than Authorization the "Bearer " prefix is optional). "" = not read.',
      }),
    ),
    cookie: Type.Optional(Type.String({ default: '', description: 'Cookie carrying the token. "" = not read.' })),
    query: Type.Optional(Type.String({ default: '', description: 'Query parameter carrying the token (it ends up in logs: prefer a header). "" = not read.' })),
    hide_credentials: Type.Optional(Type.Boolean({ default: false, description: 'Remove the token (header, cookie or query parameter) from the request sent upstream.' })),
    claims_to_headers: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: TOKEN_PATTERN }), {
        default: {},
        description:
          'Claim (dot path, e.g. "realm_access.roles") → upstream request header. A header a client sends with one of these names is always ' +
          'removed first, so only verified values reach the upstream.',
      }),
    ),
    consumer_claim: Type.Optional(Type.String({ default: '', description: 'Claim whose string value becomes the request\'s consumer identity (logs, later plugins). "" = none.' })),
    max_token_size: Type.Optional(Type.Integer({ minimum: 64, default: JWT_DEFAULTS.max_token_size, description: 'Longer tokens are refused (401) before any parsing; bytes.' })),
    cache_size: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: JWT_DEFAULTS.cache_size,
        description: 'Verified tokens remembered (LRU keyed by a SHA-256 of the token, each until its "exp") so a repeated token skips the signature check. 0 = off.',
      }),
    ),
    jwks_cache_ttl: Type.Optional(Duration('How often remote key sets are refreshed in the background; a removed key stops working within this window.', JWT_DEFAULTS.jwks_cache_ttl)),
    jwks_refetch_cooldown: Type.Optional(
      Duration('A token with an unknown "kid" triggers one refetch of the key set, at most once per this period (shared by all requests).', JWT_DEFAULTS.jwks_refetch_cooldown),
    ),
    jwks_max_stale: Type.Optional(Duration('When refreshes fail, the last keys fetched stay in use for this long past jwks_cache_ttl; then failure_mode applies.', JWT_DEFAULTS.jwks_max_stale)),
    timeout: Type.Optional(Duration('Deadline of each discovery or JWKS fetch.', JWT_DEFAULTS.timeout)),
    failure_mode: Type.Optional(
      Type.Union([Type.Literal('closed'), Type.Literal('open')], {
        default: 'closed',
        description:
          'When no usable key set can be fetched: "closed" answers 503 auth_unavailable; "open" lets the request through unauthenticated (no claims, ' +
          'so a following rbac still refuses it). A token that fails verification is always a 401.',
      }),
    ),
    realm: Type.Optional(Type.String({ default: JWT_DEFAULTS.realm, pattern: '^[^"\\\\]*$', description: 'realm of the WWW-Authenticate challenge.' })),
  },
  { additionalProperties: false, description: 'Verifies a JSON Web Token (JWS) and forwards selected claims.' },
)

export type JwtConfig = Static<typeof JwtSchema>
export type KeySourceConfig = Static<typeof KeySource>
