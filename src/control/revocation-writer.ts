// The primary's side of token revocation: POST /admin/revocations (and `portico revoke`, which
// calls it) writes to the shared Redis Store named by the current config and publishes, so every
// worker of every instance using that Redis applies it. Without store.redis it writes to the
// instance's own shared memory (the workers reach it over IPC, and its publishes are fanned out
// to them: state/instance.ts), so one instance's workers all apply it; other instances do not.
import type { Config } from '../config/schema/index.js'
import { parseDuration } from '../config/units.js'
import type { RedisStore } from '../state/redis.js'
import { Revocations } from '../state/revocations.js'
import type { Store } from '../state/store.js'
import type { RevocationRequest, RevocationWriter } from './admin/revocations.js'

/** How long one revocation is retried (a Cluster or Sentinel failover takes a few seconds). */
const REVOKE_DEADLINE_MS = 15_000

export type RevocationWriterSource = (() => RevocationWriter | undefined) & { close(): Promise<void> }

/** `instance`: the Store this instance's data plane shares without store.redis (WorkerPool.instanceStore). */
export function revocationWriterFor(config: () => Config, instance?: Store): RevocationWriterSource {
  const local = instance === undefined ? undefined : localWriter(new Revocations(instance))
  // The Redis client (and ioredis itself) is loaded on first use: most gateways never revoke.
  let current: { key: string; store: Promise<RedisStore>; writer: RevocationWriter } | undefined
  const get = () => {
    const redis = config().store?.redis
    if (redis === undefined) return local
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

/** Revocations written to the instance's memory: no replicas, no failover, nothing to retry. */
function localWriter(rev: Revocations): RevocationWriter {
  return {
    async revoke(r: RevocationRequest) {
      if (r.kind === 'jti') await rev.revokeJti(r.jti, r.exp)
      else await rev.revokeSub(r.sub, r.before, r.ttlMs)
    },
  }
}
