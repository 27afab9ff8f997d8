// The Redis Store (ioredis): shared by every worker and instance pointed at the same Redis.
// Tight per-call deadlines and no offline queue: when Redis is down a call fails fast and the
// caller applies its failure mode, instead of requests piling up behind a reconnecting client.
import { createHash } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import { StoreTimeoutError, StoreUnavailableError, type Store, type StoreScript } from './store.js'

export interface RedisStoreOptions {
  /** redis://[:password@]host:port[/db] */
  url: string
  /** Deadline per call, ms. */
  timeoutMs?: number
  /** Prefix for every key, so several gateways can share one Redis. */
  prefix?: string
}

export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly #client: Redis
  #subscriber: Redis | null = null
  readonly #timeoutMs: number
  readonly #prefix: string
  readonly #shas = new Map<string, string>()
  readonly #handlers = new Map<string, Set<(m: string) => void>>()

  constructor(opts: RedisStoreOptions) {
    this.#timeoutMs = opts.timeoutMs ?? 100
    this.#prefix = opts.prefix ?? 'portico:'
    this.#client = new Redis(opts.url, this.#clientOptions())
    // Errors surface per call; the client's own error events would otherwise be unhandled.
    this.#client.on('error', () => undefined)
  }

  #clientOptions(): RedisOptions {
    return {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: Math.max(this.#timeoutMs, 1000),
      commandTimeout: this.#timeoutMs,
      lazyConnect: false,
      retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
    }
  }

  #key(k: string): string {
    return this.#prefix + k
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#client.status !== 'ready') throw new StoreUnavailableError(`redis is ${this.#client.status}`)
    try {
      return await fn()
    } catch (err) {
      if (err instanceof Error && /timed? ?out/i.test(err.message)) throw new StoreTimeoutError(err.message)
      throw err
    }
  }

  get(key: string): Promise<string | null> {
    return this.#call(() => this.#client.get(this.#key(key)))
  }

  async set(key: string, value: string, ttlMs = 0): Promise<void> {
    await this.#call(() => (ttlMs > 0 ? this.#client.set(this.#key(key), value, 'PX', ttlMs) : this.#client.set(this.#key(key), value)))
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const r = await this.#call(() => this.#client.set(this.#key(key), value, 'PX', ttlMs, 'NX'))
    return r === 'OK'
  }

  async del(key: string): Promise<void> {
    await this.#call(() => this.#client.del(this.#key(key)))
  }

  async incr(key: string, by: number, ttlMs: number): Promise<number> {
    const k = this.#key(key)
    const r = await this.#call(() => this.#client.multi().incrby(k, by).pexpire(k, ttlMs, 'NX').exec())
    return Number(r?.[0]?.[1])
  }

  async eval(script: StoreScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    let sha = this.#shas.get(script.name)
    if (sha === undefined) {
      sha = createHash('sha1').update(script.lua).digest('hex')
      this.#shas.set(script.name, sha)
    }
    const fullKeys = keys.map((k) => this.#key(k))
    return this.#call(async () => {
      try {
        return await this.#client.evalsha(sha, fullKeys.length, ...fullKeys, ...args)
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return this.#client.eval(script.lua, fullKeys.length, ...fullKeys, ...args)
        throw err
      }
    })
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#call(() => this.#client.publish(this.#key(channel), message))
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    const full = this.#key(channel)
    if (this.#subscriber === null) {
      // A subscribed connection can do nothing else; it keeps its offline queue so subscriptions
      // are restored after a reconnect.
      this.#subscriber = this.#client.duplicate({ enableOfflineQueue: true, commandTimeout: undefined })
      this.#subscriber.on('error', () => undefined)
      this.#subscriber.on('message', (ch: string, msg: string) => {
        for (const h of this.#handlers.get(ch) ?? []) h(msg)
      })
    }
    let set = this.#handlers.get(full)
    if (set === undefined) {
      set = new Set()
      this.#handlers.set(full, set)
      await this.#subscriber.subscribe(full)
    }
    set.add(onMessage)
    return async () => {
      set.delete(onMessage)
      if (set.size === 0) {
        this.#handlers.delete(full)
        await this.#subscriber?.unsubscribe(full).catch(() => undefined)
      }
    }
  }

  healthy(): boolean {
    return this.#client.status === 'ready'
  }

  /** Resolves once connected (or rejects after timeoutMs); for start-up and tests. */
  async ready(timeoutMs = 5000): Promise<void> {
    if (this.#client.status === 'ready') return
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new StoreUnavailableError('redis not ready')), timeoutMs)
      this.#client.once('ready', () => {
        clearTimeout(t)
        resolve()
      })
    })
  }

  async close(): Promise<void> {
    this.#client.disconnect()
    this.#subscriber?.disconnect()
  }
}
