// The Store the workers of one instance share when no store.redis is configured: key operations go
// to the primary, which holds one MemoryStore for all of its workers. Without it each worker had a
// memory of its own, so a replayed hmac-auth request was refused by the worker that saw it first and
// accepted by the next one (four sends of one signed request: 200, 200, 401, 401). One IPC round trip
// per call, on routes whose plugins use the shared Store (replay nonces); rate-limit `local` and the
// cache's memory tier stay per worker, by design and as documented.
//
// Pub/sub crosses too: a worker's publish goes to the primary, which delivers it to its own
// subscribers and to every worker (the sender included, so each process sees one order), so a
// revocation made through the admin API reaches every worker of the instance without Redis.
// Scripts and prefix deletes stay in the worker's own memory: no built-in plugin runs them against
// a memory Store shared between processes (rate-limit `redis` and cache tier 2 require
// store.redis), and they cannot cross IPC (a script's twin is a function).
import { MemoryStore } from './memory.js'
import type { Store, StoreInfo, StoreScript } from './store.js'

export type InstanceOp = 'get' | 'set' | 'setIfAbsent' | 'del' | 'incr'

/**
 * How a worker reaches the primary (control/worker.ts over the cluster IPC channel). A call the
 * primary does not answer within `CALL_TIMEOUT_MS` must reject with StoreTimeoutError (the
 * plugin's failure_mode decides then), and forget the call.
 */
export interface InstanceTransport {
  call(op: InstanceOp, args: unknown[]): Promise<unknown>
  /** Hands a message to the primary for every process of the instance; rejects when it is gone. */
  publish(channel: string, message: string): Promise<void>
}

export const CALL_TIMEOUT_MS = 1000

export class InstanceStore implements Store {
  readonly kind = 'memory'
  readonly #transport: InstanceTransport
  readonly #local = new MemoryStore()

  constructor(transport: InstanceTransport) {
    this.#transport = transport
  }

  #call<T>(op: InstanceOp, args: unknown[]): Promise<T> {
    return this.#transport.call(op, args) as Promise<T>
  }

  get(key: string): Promise<string | null> {
    return this.#call('get', [key])
  }
  set(key: string, value: string, ttlMs?: number): Promise<void> {
    return this.#call('set', [key, value, ttlMs])
  }
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.#call('setIfAbsent', [key, value, ttlMs])
  }
  del(key: string): Promise<void> {
    return this.#call('del', [key])
  }
  incr(key: string, by: number, ttlMs: number): Promise<number> {
    return this.#call('incr', [key, by, ttlMs])
  }
  eval(script: StoreScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.#local.eval(script, keys, args)
  }
  publish(channel: string, message: string): Promise<void> {
    return this.#transport.publish(channel, message)
  }
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    return this.#local.subscribe(channel, onMessage)
  }
  /** A message the primary fanned out (state/instance.ts InstanceMemory): to this process's subscribers. */
  deliver(channel: string, message: string): void {
    void this.#local.publish(channel, message)
  }
  deletePrefix(prefix: string): Promise<number> {
    return this.#local.deletePrefix(prefix)
  }
  waitReplicas(): Promise<{ replicas: number; acked: number }> {
    return this.#local.waitReplicas()
  }
  healthy(): boolean {
    return true
  }
  info(): StoreInfo {
    return { kind: 'memory', topology: 'instance', state: 'ready', nodes: [] }
  }
  close(): Promise<void> {
    return this.#local.close()
  }
}

/** The primary's side: runs one worker's call against the instance's MemoryStore. */
export function serveInstanceCall(store: MemoryStore, op: InstanceOp, args: unknown[]): Promise<unknown> {
  switch (op) {
    case 'get':
      return store.get(String(args[0]))
    case 'set':
      return store.set(String(args[0]), String(args[1]), args[2] === undefined || args[2] === null ? undefined : Number(args[2]))
    case 'setIfAbsent':
      return store.setIfAbsent(String(args[0]), String(args[1]), Number(args[2]))
    case 'del':
      return store.del(String(args[0]))
    case 'incr':
      return store.incr(String(args[0]), Number(args[1]), Number(args[2]))
    default:
      return Promise.reject(new Error(`unknown store operation ${String(op)}`))
  }
}

/**
 * The primary's side: the memory its workers' InstanceStores reach. A publish (the primary's own,
 * or one a worker handed over) goes to the primary's subscribers and through `fanOut` to every
 * worker.
 */
export class InstanceMemory extends MemoryStore {
  readonly #fanOut: (channel: string, message: string) => void

  constructor(fanOut: (channel: string, message: string) => void) {
    super()
    this.#fanOut = fanOut
  }

  override async publish(channel: string, message: string): Promise<void> {
    await super.publish(channel, message)
    this.#fanOut(channel, message)
  }
}
