// The in-process Store: one worker's memory. "Shared" only within the process; with several
// workers each has its own (documented per plugin as what `local` means).
import { EventEmitter } from 'node:events'
import type { LocalState, Store, StoreInfo, StoreScript } from './store.js'

interface Entry {
  value: string
  /** epoch ms, 0 = no expiry */
  expires: number
}

export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly #map = new Map<string, Entry>()
  readonly #bus = new EventEmitter()
  readonly #sweeper: NodeJS.Timeout

  constructor() {
    this.#bus.setMaxListeners(0)
    // Expired keys are dropped lazily on read and by this sweep, so memory stays bounded.
    this.#sweeper = setInterval(() => this.#sweep(), 10_000)
    this.#sweeper.unref()
  }

  #live(key: string, now = Date.now()): Entry | undefined {
    const e = this.#map.get(key)
    if (e === undefined) return undefined
    if (e.expires !== 0 && e.expires <= now) {
      this.#map.delete(key)
      return undefined
    }
    return e
  }

  #sweep(): void {
    const now = Date.now()
    for (const [k, e] of this.#map) if (e.expires !== 0 && e.expires <= now) this.#map.delete(k)
  }

  /** The synchronous view script twins run against (atomic: nothing interleaves a sync call). */
  readonly #local: LocalState = {
    get: (key) => this.#live(key)?.value ?? null,
    pttl: (key) => {
      const e = this.#live(key)
      if (e === undefined) return -2
      return e.expires === 0 ? -1 : e.expires - Date.now()
    },
    set: (key, value, ttlMs = 0) => {
      this.#map.set(key, { value, expires: ttlMs > 0 ? Date.now() + ttlMs : 0 })
    },
    del: (key) => {
      this.#map.delete(key)
    },
  }

  async get(key: string): Promise<string | null> {
    return this.#local.get(key)
  }

  async set(key: string, value: string, ttlMs = 0): Promise<void> {
    this.#local.set(key, value, ttlMs)
  }

  async del(key: string): Promise<void> {
    this.#local.del(key)
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.#live(key) !== undefined) return false
    this.#local.set(key, value, ttlMs)
    return true
  }

  async incr(key: string, by: number, ttlMs: number): Promise<number> {
    const e = this.#live(key)
    if (e === undefined) {
      this.#local.set(key, String(by), ttlMs)
      return by
    }
    const next = Number(e.value) + by
    e.value = String(next)
    return next
  }

  async eval(script: StoreScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    return script.local(this.#local, keys, args, Date.now())
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#bus.emit(channel, message)
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    this.#bus.on(channel, onMessage)
    return async () => {
      this.#bus.off(channel, onMessage)
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    let n = 0
    for (const k of this.#map.keys()) if (k.startsWith(prefix) && this.#map.delete(k)) n++
    return n
  }

  async waitReplicas(): Promise<{ replicas: number; acked: number }> {
    return { replicas: 0, acked: 0 }
  }

  healthy(): boolean {
    return true
  }

  info(): StoreInfo {
    return { kind: 'memory', topology: 'memory', state: 'ready', nodes: [] }
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper)
    this.#map.clear()
    this.#bus.removeAllListeners()
  }
}
