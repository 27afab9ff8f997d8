// `jwt`: verifies a JSON Web Token (JWS) with jose, then exposes its claims to later plugins
// (ctx.claims), optionally as upstream headers. Keys come from a shared secret, a PEM public key, a
// JWKS URL or OIDC discovery, each with its own algorithm allow-list (verifier.ts, jwks.ts).
//
// Per request: find the token (token.ts) → size check → verified-token cache (a hit skips the
// signature check) → otherwise verification (verifier.ts, jws.ts): every check that needs no key
// first, then node:crypto, synchronously. Only a remote key set that must be fetched for the token
// makes the answer a promise. Refusals follow RFC 6750 §3: 401 + WWW-Authenticate naming the class
// (missing / invalid / expired); the real reason goes to the debug log only, and its kind to
// portico_jwt_refusals_total{reason}.
import { CONSUMER_HEADER, identify } from '../consumers.js'
import { Counter } from 'prom-client'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply } from '../../core/verdict.js'
import type { RequestContext } from '../../core/context.js'
import { degradedCounter, registry } from '../../observability/metrics.js'
import { JwtSchema, JWT_DEFAULTS } from './schema.js'
import { Verifier, type Outcome, type Verified } from './verifier.js'
import { REFUSALS, type Refusal } from './jws.js'
import { extractToken, stripToken, type Found, type TokenPlaces } from './token.js'
import { claimAt, compileClaimPath, headerValue, type ClaimPath } from './claims.js'

const rejections = new Counter({
  name: 'portico_jwt_rejections_total',
  help: 'Requests refused by the jwt plugin, by route and class (missing, invalid, expired, conflict, unavailable).',
  labelNames: ['route', 'class'] as const,
  registers: [registry],
})

// Counted in plain numbers on the hot path (prom-client hashes its label object on every inc());
// copied into the metric when it is scraped.
const lookups = { hit: 0, miss: 0 }
new Counter({
  name: 'portico_jwt_cache_lookups_total',
  help: 'Verified-token cache lookups of the jwt plugin, by result (hit, miss).',
  labelNames: ['result'] as const,
  registers: [registry],
  collect() {
    this.reset()
    this.inc({ result: 'hit' }, lookups.hit)
    this.inc({ result: 'miss' }, lookups.miss)
  },
})

// Why tokens were refused, by kind (jws.ts Refusal): plain numbers on the hot path, because an
// attacker's garbage is the traffic this must stay cheap for; copied into the metric when scraped.
const refusals: Record<Refusal, number> = Object.fromEntries(REFUSALS.map((r) => [r, 0])) as Record<Refusal, number>
new Counter({
  name: 'portico_jwt_refusals_total',
  help: 'Tokens refused by the jwt plugin, by reason: size, structure, encoding, header, crit, alg, signature_length (all before any key is used), kid, signature, payload, claims, expired, unavailable.',
  labelNames: ['reason'] as const,
  registers: [registry],
  collect() {
    this.reset()
    for (const r of REFUSALS) if (refusals[r] > 0) this.inc({ reason: r }, refusals[r])
  },
})

// portico_plugin_degraded_total{plugin="jwt", route} (style.md §4.6), a series resolved once per route.
const degraded = degradedCounter('jwt')

function challenge(realm: string, error?: string, description?: string): string {
  let v = `Bearer realm="${realm}"`
  if (error !== undefined) v += `, error="${error}"`
  if (description !== undefined) v += `, error_description="${description}"`
  return v
}

export default definePlugin({
  name: 'jwt',
  phases: ['access'],
  // After cors (4000, preflights carry no token) and ip-restriction (3000); just before key-auth
  // (2500) and before rbac (2400), which reads the claims set here.
  priority: 2510,
  schema: JwtSchema,
  status: 'beta',
  // x-consumer-name: identify() sets it for a declared consumer named by consumer_claim.
  identityHeaders: (config) => [CONSUMER_HEADER, ...Object.values(config.claims_to_headers ?? {}).map((h) => h.toLowerCase())],
  create(config, env) {
    const verifier = new Verifier(config, env.logger)
    const realm = config.realm ?? JWT_DEFAULTS.realm
    const header = (config.header ?? JWT_DEFAULTS.header).toLowerCase()
    const places: TokenPlaces = Object.freeze({ header, bearerOnly: header === 'authorization', cookie: config.cookie ?? '', query: config.query ?? '' })
    const hide = config.hide_credentials ?? false
    const maxSize = config.max_token_size ?? JWT_DEFAULTS.max_token_size
    const open = config.failure_mode === 'open'
    const route = env.route ?? '(global)'
    const forwards: ReadonlyArray<{ claim: ClaimPath; header: string }> = Object.entries(config.claims_to_headers ?? {}).map(([claim, h]) => ({
      claim: compileClaimPath(claim),
      header: h.toLowerCase(),
    }))
    const consumerClaim = config.consumer_claim ? compileClaimPath(config.consumer_claim) : null
    const logger = env.logger

    // Replies are built once; sendLocalReply copies their headers.
    const reply = (status: number, error: string, message: string, auth: string): LocalReply =>
      Object.freeze({ status, error, message, headers: Object.freeze({ 'www-authenticate': auth }) as Record<string, string> })
    const MISSING = reply(401, 'unauthorized', 'authentication required', challenge(realm))
    const INVALID = reply(401, 'unauthorized', 'invalid token', challenge(realm, 'invalid_token', 'invalid token'))
    const EXPIRED = reply(401, 'unauthorized', 'token expired', challenge(realm, 'invalid_token', 'token expired'))
    const CONFLICT = reply(400, 'bad_request', 'more than one token in the request', challenge(realm, 'invalid_request', 'more than one token'))
    const UNAVAILABLE: LocalReply = Object.freeze({
      status: 503,
      error: 'auth_unavailable',
      message: 'authentication is temporarily unavailable',
      headers: Object.freeze({ 'retry-after': '5' }) as Record<string, string>,
    })

    /** Removes client-sent copies of the forwarded headers: only verified values go upstream. */
    function clearForwarded(ctx: RequestContext): void {
      for (let i = 0; i < forwards.length; i++) {
        const h = forwards[i]!.header
        if (ctx.upstreamHeaders[h] !== undefined) delete ctx.upstreamHeaders[h]
      }
    }

    function accept(ctx: RequestContext, v: Verified, found: Found): undefined {
      const claims = v.claims as Record<string, unknown>
      ctx.claims = claims
      clearForwarded(ctx)
      for (let i = 0; i < forwards.length; i++) {
        const f = forwards[i]!
        const value = headerValue(claimAt(claims, f.claim))
        if (value !== undefined) ctx.upstreamHeaders[f.header] = value
      }
      if (consumerClaim !== null) {
        const c = claimAt(claims, consumerClaim)
        if (typeof c === 'string' && c !== '') {
          // A declared consumer of that name brings its roles (for rbac `from: consumer`), its
          // upstream header and its own plugins; an undeclared one is still the identity in logs.
          const declared = env.consumers?.get(c)
          if (declared !== undefined) identify(ctx, declared)
          else ctx.consumer = c
        }
      }
      if (hide) stripToken(ctx, places, found.where)
      return undefined
    }

    function refuse(ctx: RequestContext, cls: string, r: LocalReply, reason: string): LocalReply {
      rejections.inc({ route, class: cls })
      logger.debug({ request_id: ctx.id, class: cls, reason }, 'jwt: request refused')
      return r
    }

    function settle(ctx: RequestContext, found: Found, out: Outcome): LocalReply | undefined {
      if (out.ok) return accept(ctx, out.value, found)
      refusals[out.refusal]++
      switch (out.failure) {
        case 'expired':
          return refuse(ctx, 'expired', EXPIRED, out.reason)
        case 'unavailable':
          if (open) {
            degraded(ctx.routeName).value++
            logger.warn({ request_id: ctx.id, reason: out.reason }, 'jwt: no key set; failure_mode open lets the request through unauthenticated')
            clearForwarded(ctx)
            return undefined
          }
          return refuse(ctx, 'unavailable', UNAVAILABLE, out.reason)
        default:
          return refuse(ctx, 'invalid', INVALID, out.reason)
      }
    }

    const instance: PluginInstance = {
      access(ctx) {
        const found = extractToken(ctx, places)
        if (found === undefined) return refuse(ctx, 'missing', MISSING, 'no token')
        if (found === 'conflict') return refuse(ctx, 'conflict', CONFLICT, 'token in more than one place')
        if (found.token.length > maxSize) {
          refusals.size++
          return refuse(ctx, 'invalid', INVALID, `token longer than ${maxSize} bytes`)
        }
        let digest = ''
        if (verifier.caching) {
          digest = Verifier.digest(found.token)
          const hit = verifier.cached(digest)
          if (hit !== undefined) {
            lookups.hit++
            return accept(ctx, hit, found)
          }
          lookups.miss++
        }
        const out = verifier.verify(found.token, digest)
        return out instanceof Promise ? out.then((o) => settle(ctx, found, o)) : settle(ctx, found, out)
      },
      close() {
        verifier.close()
      },
    }
    return Object.freeze(instance)
  },
})
