// The primary's side of token revocation: POST /admin/revocations (and `portico revoke`, which
// calls it) writes to the shared Redis Store named by the current config and publishes, so every
// worker of every instance using that Redis applies it. Without store.redis there is no store the
// workers share with the primary, so the endpoint answers 409 instead of pretending.
import type { Config } from '../config/schema/index.js'
import { parseDuration } from '../config/units.js'
import { RedisStore } from '../state/redis.js'
import { Revocations } from '../state/revocations.js'
import type { RevocationRequest, RevocationWriter } from './admin/revocations.js'

export type RevocationWriterSource = (() => RevocationWriter | undefined) & { close(): Promise<void> }

export function revocationWriterFor(config: () => Config): RevocationWriterSource {
  let current: { key: string; store: RedisStore; writer: RevocationWriter } | undefined
  const get = () => {
    const redis = config().store?.redis
    if (redis === undefined) return undefined
    const key = JSON.stringify(redis)
    if (current?.key !== key) {
      void current?.store.close()
      const store = new RedisStore({ url: redis.url, timeoutMs: Math.max(parseDuration(redis.timeout ?? '100ms'), 1000), prefix: redis.prefix ?? 'portico:' })
      const revocations = new Revocations(store)
      const writer: RevocationWriter = {
        async revoke(r: RevocationRequest) {
          await store.ready(2000)
          if (r.kind === 'jti') await revocations.revokeJti(r.jti, r.exp)
          else await revocations.revokeSub(r.sub, r.before, r.ttlMs)
        },
      }
      current = { key, store, writer }
    }
    return current.writer
  }
  return Object.assign(get, {
    async close() {
      await current?.store.close()
      current = undefined
    },
  })
}
