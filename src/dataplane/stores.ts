// The Stores of one process: its memory Store, always there, and the shared one (Redis when
// `store.redis` is configured, else the memory Store). The shared Store lives with the process,
// not with a Snapshot: it is replaced only when its config changes, and the old one is closed a
// minute later (plugins of the previous Snapshot may still use it for a moment).
import type { Config } from '../config/schema/index.js'
import { parseDuration } from '../config/units.js'
import type { Store } from '../state/store.js'
import { MemoryStore } from '../state/memory.js'
import { reportStoreHealth } from '../observability/metrics.js'

export class Stores {
  readonly memory = new MemoryStore()
  /** The shared Store and the config it was made from. */
  #shared: { key: string; store: Store } | undefined

  /** The shared Store for `config`: the current one when its config is unchanged. */
  async sharedFor(config: Config): Promise<Store> {
    const redis = config.store?.redis
    const key = JSON.stringify(redis ?? null)
    if (this.#shared?.key === key) return this.#shared.store
    const old = this.#shared?.store
    // Redis is loaded only when the config uses it (start-up time and RSS of a gateway that does not).
    const store =
      redis === undefined
        ? this.memory
        : new (await import('../state/redis.js')).RedisStore({ url: redis.url, timeoutMs: parseDuration(redis.timeout ?? '100ms'), prefix: redis.prefix ?? 'portico:' })
    this.#shared = { key, store }
    reportStoreHealth(() => ({ kind: store.kind, up: store.healthy() }))
    if (old !== undefined && old !== this.memory) setTimeout(() => void old.close(), 60_000).unref()
    return store
  }

  async close(): Promise<void> {
    const shared = this.#shared?.store
    if (shared !== undefined && shared !== this.memory) await shared.close()
    await this.memory.close()
  }
}
