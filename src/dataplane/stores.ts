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
  /** The shared Store without store.redis: the instance's when the process is a cluster worker, else `memory`. */
  readonly #instance: Store

  constructor(instance?: Store) {
    this.#instance = instance ?? this.memory
  }

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
        ? this.#instance
        : new (await import('../state/redis.js')).RedisStore({ ...redis, timeoutMs: parseDuration(redis.timeout ?? '100ms'), prefix: redis.prefix ?? 'portico:' })
    this.#shared = { key, store }
    // A moment for the first connection (a cluster maps its slots first), so the first requests are
    // decided on the shared state rather than by each plugin's failure mode; bounded, since a Redis
    // that is down must not hold the data plane back.
    if (store !== this.#instance && 'ready' in store) await (store as { ready(ms: number): Promise<void> }).ready(1000).catch(() => undefined)
    reportStoreHealth(() => store.info())
    if (old !== undefined && old !== this.#instance) setTimeout(() => void old.close(), 60_000).unref()
    return store
  }

  /** The shared Store made last (by sharedFor), for readers that outlive one Snapshot. */
  current(): Store {
    return this.#shared?.store ?? this.#instance
  }

  /** The shared Store's topology and nodes for /status, once one was made. */
  info(): ReturnType<Store['info']> | undefined {
    return this.#shared?.store.info()
  }

  async close(): Promise<void> {
    const shared = this.#shared?.store
    if (shared !== undefined && shared !== this.#instance) await shared.close()
    if (this.#instance !== this.memory) await this.#instance.close()
    await this.memory.close()
  }
}
