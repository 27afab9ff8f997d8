// `jwt-revocation`: refuses a token whose `jti` was revoked, or whose `sub` was revoked for tokens
// issued before a time (src/state/revocations.ts). Runs right after `jwt` (2510) on the claims it
// verified (ctx.claims; oauth2-introspection sets them too), before key-auth and rbac. A request
// without claims passes untouched: deciding that a token is required is the jwt plugin's job.
import { parseDuration } from '../../config/units.js'
import type { RequestContext } from '../../core/context.js'
import { degradedCounter } from '../../observability/metrics.js'
import { Revocations } from '../../state/revocations.js'
import type { Store } from '../../state/store.js'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply, type Verdict } from '../../core/verdict.js'
import { AUTH_UNAVAILABLE, withDeadline } from '../remote.js'
import { JwtRevocationSchema } from './schema.js'

const NAME = 'jwt-revocation'

const REVOKED: LocalReply = Object.freeze({
  status: 401,
  error: 'unauthorized',
  message: 'the token is not valid',
  headers: Object.freeze({ 'www-authenticate': 'Bearer realm="portico", error="invalid_token"' }) as Record<string, string>,
})

/** One service (cache + subscription) per Store per process, shared by every use and reload. */
const shared = new WeakMap<Store, { svc: Revocations; refs: number }>()

function acquire(store: Store, cacheTtlMs: number, maxEntries: number, onError: (err: unknown) => void): { svc: Revocations; release(): Promise<void> } {
  let e = shared.get(store)
  if (e === undefined) {
    e = { svc: new Revocations(store, { cacheTtlMs, maxEntries }), refs: 0 }
    shared.set(store, e)
    e.svc.start().catch(onError)
  }
  e.refs++
  const entry = e
  let released = false
  return {
    svc: entry.svc,
    async release() {
      if (released) return
      released = true
      if (--entry.refs === 0) {
        shared.delete(store)
        await entry.svc.close()
      }
    },
  }
}

export default definePlugin({
  name: NAME,
  phases: ['access'],
  priority: 2505,
  schema: JwtRevocationSchema,
  status: 'beta',
  create(config, env) {
    const { logger } = env
    const open = config.failure_mode === 'open'
    const timeoutMs = parseDuration(config.timeout)
    const degraded = degradedCounter(NAME)
    const handle = acquire(env.store, parseDuration(config.cache_ttl), config.max_entries, (err) => logger.warn({ err }, 'jwt-revocation: cannot subscribe to revocations'))
    const svc = handle.svc

    const failed = (err: unknown, ctx: RequestContext): Verdict => {
      degraded(ctx.routeName).value++
      logger.warn({ err, request_id: ctx.id, failure_mode: config.failure_mode }, 'jwt-revocation: cannot check the token')
      return open ? undefined : AUTH_UNAVAILABLE
    }
    const decide = (revoked: boolean, requestId: string): Verdict => {
      if (!revoked) return undefined
      logger.debug({ request_id: requestId }, 'jwt-revocation: token revoked')
      return REVOKED
    }

    const instance: PluginInstance = {
      access(ctx) {
        const claims = ctx.claims
        if (claims === undefined) return undefined
        let r: boolean | Promise<boolean>
        try {
          r = svc.isRevoked(claims)
        } catch (err) {
          return failed(err, ctx)
        }
        if (typeof r === 'boolean') return decide(r, ctx.id)
        return withDeadline(r, timeoutMs, 'revocation lookup').then(
          (revoked) => decide(revoked, ctx.id),
          (err: unknown) => failed(err, ctx),
        )
      },
      close: () => handle.release(),
    }
    return Object.freeze(instance)
  },
})
