// `rbac`: allows a request only when the caller holds the route's roles or scopes (any-of and/or
// all-of). Roles come from the verified claims set by `jwt` (ctx.claims) and/or from the consumer
// an auth plugin identified (ctx.consumerRoles). No identity at all → 401; an identity without
// the roles → 403 forbidden. Never says which role was missing.
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply } from '../../core/verdict.js'
import type { RequestContext } from '../../core/context.js'
import { claimAt, compileClaimPath } from '../jwt/claims.js'
import { RbacSchema } from './schema.js'

/** The roles in a claim value: a list of strings, or one space-separated string (OAuth "scope"). */
export function rolesOf(v: unknown): readonly string[] {
  if (typeof v === 'string') return v === '' ? [] : v.split(' ').filter((s) => s !== '')
  if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string')
  return []
}

export default definePlugin({
  name: 'rbac',
  phases: ['access'],
  // After every authentication plugin (jwt 2510, key-auth 2500), before rate-limit (1000).
  priority: 2400,
  schema: RbacSchema,
  status: 'beta',
  create(config, env) {
    const anyOf = [...new Set(config.any_of ?? [])]
    const allOf = [...new Set(config.all_of ?? [])]
    if (anyOf.length === 0 && allOf.length === 0) throw new TypeError('rbac: set any_of or all_of (a rule that requires nothing would allow everyone)')
    const from = config.from ?? 'claims'
    const useClaims = from !== 'consumer'
    const useConsumer = from !== 'claims'
    const claim = compileClaimPath(config.claim ?? 'scope')
    const logger = env.logger

    const UNAUTHENTICATED: LocalReply = Object.freeze({ status: 401, error: 'unauthorized', message: 'authentication required' })
    // RFC 6750 §3.1: insufficient_scope for a bearer token that lacks the scope.
    const FORBIDDEN_BEARER: LocalReply = Object.freeze({
      status: 403,
      error: 'forbidden',
      message: 'access denied',
      headers: Object.freeze({ 'www-authenticate': 'Bearer error="insufficient_scope"' }) as Record<string, string>,
    })
    const FORBIDDEN: LocalReply = Object.freeze({ status: 403, error: 'forbidden', message: 'access denied' })

    function held(ctx: RequestContext): Set<string> | null {
      let out: Set<string> | null = null
      if (useClaims && ctx.claims !== undefined) out = new Set(rolesOf(claimAt(ctx.claims, claim)))
      if (useConsumer && (ctx.consumerRoles !== undefined || ctx.consumer !== undefined)) {
        out ??= new Set()
        for (const r of ctx.consumerRoles ?? []) out.add(r)
      }
      return out
    }

    const instance: PluginInstance = {
      access(ctx) {
        const roles = held(ctx)
        if (roles === null) {
          logger.debug({ request_id: ctx.id }, 'rbac: no authenticated identity (is an auth plugin configured before rbac?)')
          return UNAUTHENTICATED
        }
        let ok = true
        for (let i = 0; i < allOf.length && ok; i++) if (!roles.has(allOf[i]!)) ok = false
        if (ok && anyOf.length > 0) {
          ok = false
          for (let i = 0; i < anyOf.length; i++) {
            if (roles.has(anyOf[i]!)) {
              ok = true
              break
            }
          }
        }
        if (ok) return undefined
        logger.debug({ request_id: ctx.id, consumer: ctx.consumer }, 'rbac: required roles missing')
        return ctx.claims !== undefined && useClaims ? FORBIDDEN_BEARER : FORBIDDEN
      },
    }
    return Object.freeze(instance)
  },
})
