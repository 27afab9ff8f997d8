// The primary's side of token revocation: POST /admin/revocations (and `portico revoke`, which
// calls it) writes to the shared Redis Store named by the current config and publishes, so every
// worker of every instance using that Redis applies it. Without store.redis there is no store the
// workers share with the primary, so the endpoint answers 409 instead of pretending.
import type { Config } from '../config/schema/index.js'
import { parseDuration } from '../config/units.js'
import type { RedisStore } from '../state/redis.js'
import { Revocations } from '../state/revocations.js'
import type { RevocationRequest, RevocationWriter } from './admin/revocations.js'

/** How long one revocation is retried (a Cluster or Sentinel failover takes a few seconds). */
const REVOKE_DEADLINE_MS = 15_000

export type RevocationWriterSource = (() => RevocationWriter | undefined) & { close(): Promise<void> }

export function revocationWriterFor(config: () => Config): RevocationWriterSource {
  // The Redis client (and ioredis itself) is loaded on first use: most gateways never revoke.
  let current: { key: string; store: Promise<RedisStore>; writer: RevocationWriter } | undefined
  const get = () => {
    const redis = config().store?.redis
    if (redis === undefined) return undefined
    const key = JSON.stringify(redis)
    if (current?.key !== key) {
      void current?.store.then((s) => s.close())
      const store = import('../state/redis.js').then(
        ({ RedisStore }) => new RedisStore({ ...redis, timeoutMs: Math.max(parseDuration(redis.timeout ?? '100ms'), 1000), prefix: redis.prefix ?? 'portico:' }),
      )
      const revocations = store.then((s) => new Revocations(s))
      const writer: RevocationWriter = {
        async revoke(r: RevocationRequest) {
          // Retried within a deadline: during a failover the key's node may be gone, or the write
          // not yet on a replica (Revocations refuses to acknowledge it then). Both writes are
          // idempotent, so a retry never revokes more than asked.
          const deadline = Date.now() + REVOKE_DEADLINE_MS
          for (let attempt = 0; ; attempt++) {
            try {
              await (await store).ready(2000)
              const rev = await revocations
              if (r.kind === 'jti') await rev.revokeJti(r.jti, r.exp)
              else await rev.revokeSub(r.sub, r.before, r.ttlMs)
              return
            } catch (err) {
              if (Date.now() + 200 > deadline) throw err
              await new Promise((res) => setTimeout(res, Math.min(200, 25 * 2 ** attempt)))
            }
          }
        },
      }
      current = { key, store, writer }
    }
    return current.writer
  }
  return Object.assign(get, {
    async close() {
      await (await current?.store)?.close()
      current = undefined
    },
  })
}
