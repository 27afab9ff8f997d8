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
  /**
   * Deletes every key starting with `prefix` (cache purges); returns how many. On a cluster it
   * scans every master, since a prefix spans slots.
   */
  deletePrefix(prefix: string): Promise<number>
  /**
   * Waits until the writes made so far to `key`'s node reached its replicas (Redis WAIT), so they
   * survive that node's failover. Returns the replicas the node has and how many acknowledged.
   */
  waitReplicas(key: string, timeoutMs: number): Promise<{ replicas: number; acked: number }>
  /** true while the backend is reachable (for /status and metrics). */
  healthy(): boolean
  /** Topology and per-node state, for /status and metrics. */
  info(): StoreInfo
  close(): Promise<void>
}

export interface StoreNodeInfo {
  /** host:port */
  address: string
  role: 'master' | 'replica' | 'sentinel'
  /** The client's connection state: ready, connecting, reconnecting, end … */
  state: string
}

export interface StoreInfo {
  kind: string
  /** memory | single | cluster | sentinel */
  topology: string
  /** ready when calls are served; else the client's state. */
  state: string
  /**
   * While not ready: why the last connection attempt failed (node:tls's or the server's reason:
   * a refused client certificate, an unverified server certificate, a wrong password).
   */
  last_error?: string
  nodes: StoreNodeInfo[]
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
