// Shared state for plugins that must agree across workers or instances: rate-limit counters,
// token revocations, replay nonces, cache L2. One interface; `memory` for one process, `redis` for
// many (architecture page: "State that must be shared ... goes through a Store").
//
// Every call may fail (Redis down, timeout): callers decide fail-open or fail-closed per their
// config. Implementations never hang: each call has a deadline (StoreTimeoutError).

export class StoreTimeoutError extends Error {
  readonly code = 'PORTICO_STORE_TIMEOUT'
}
export class StoreUnavailableError extends Error {
  readonly code = 'PORTICO_STORE_UNAVAILABLE'
}

export interface Store {
  /** 'memory' | 'redis', for logs and metrics. */
  readonly kind: string
  get(key: string): Promise<string | null>
  /** ttlMs > 0 sets an expiry. */
  set(key: string, value: string, ttlMs?: number): Promise<void>
  /** SET NX with expiry: true when this call created the key (nonces, locks). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>
  del(key: string): Promise<void>
  /** Atomic add; the expiry is set when the key is created. Returns the new value. */
  incr(key: string, by: number, ttlMs: number): Promise<number>
  /**
   * Runs a Lua script atomically (Redis EVALSHA with EVAL fallback). The memory store implements
   * the scripts Portico ships by name through `registerScript`'s local twin; see memory.ts.
   */
  eval(script: StoreScript, keys: string[], args: Array<string | number>): Promise<unknown>
  /** Pub/sub fan-out to every instance (revocations, cache purges). Returns an unsubscribe. */
  publish(channel: string, message: string): Promise<void>
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>
  /** true while the backend is reachable (for /status and metrics). */
  healthy(): boolean
  close(): Promise<void>
}

/**
 * A script with a Lua body for Redis and a JavaScript twin for the memory store, so plugins are
 * written once and behave the same on both (the conformance suite runs both).
 */
export interface StoreScript {
  name: string
  lua: string
  /** The same logic over the memory store's map; must be synchronous (atomic by construction). */
  local(state: LocalState, keys: string[], args: Array<string | number>, nowMs: number): unknown
}

/** What a script's local twin may touch: the memory store's keys with expiries. */
export interface LocalState {
  get(key: string): string | null
  set(key: string, value: string, ttlMs?: number): void
  del(key: string): void
  /** Remaining ttl in ms, -1 without expiry, -2 when missing (Redis PTTL semantics). */
  pttl(key: string): number
}
