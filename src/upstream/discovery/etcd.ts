// etcd discovery: every key under `prefix` is one instance; its value is
// {"url": "http://10.0.0.5:8080", "weight": 2} or a bare URL. Instances register with a lease and
// keep it alive, so one that dies leaves when its lease expires (etcd deletes the key, the watch
// tells us at once). We list the prefix, then watch it from the listed revision on, so no change
// between the two is missed. While etcd is unreachable the last known targets keep serving; the
// client's watch reconnects by itself and resumes from the last revision it saw (missed changes
// are replayed); if that revision was compacted meanwhile, we list again and re-watch.
// The etcd3 client (gRPC) is imported only when an upstream uses etcd discovery.
import type { Etcd3, Watcher } from 'etcd3'
import type { EtcdDiscoveryConfig } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { once, type DiscoveredTarget, type DiscoverySink, type DiscoverySource } from './source.js'

export interface EtcdPolicy {
  endpoints: readonly string[]
  prefix: string
  username: string | undefined
  password: string | undefined
  timeoutMs: number
}

export function resolveEtcdPolicy(c: EtcdDiscoveryConfig): EtcdPolicy {
  return {
    endpoints: c.endpoints ?? ['http://127.0.0.1:2379'],
    prefix: c.prefix,
    username: c.username,
    password: c.password,
    timeoutMs: Math.max(1, parseDuration(c.timeout ?? '2s')),
  }
}

/** Parses an instance record; undefined (logged by the caller) when it is not one. */
export function parseInstance(value: string): DiscoveredTarget | undefined {
  const v = value.trim()
  let url: unknown
  let weight: unknown = 1
  if (v.startsWith('{')) {
    try {
      const o = JSON.parse(v) as Record<string, unknown>
      url = o.url
      if (o.weight !== undefined) weight = o.weight
    } catch {
      return undefined
    }
  } else url = v
  if (typeof url !== 'string' || !/^https?:\/\/[^/?#]+/.test(url)) return undefined
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 10000) return undefined
  try {
    const u = new URL(url)
    if (u.hostname === '' || u.search !== '' || u.hash !== '') return undefined
  } catch {
    return undefined
  }
  return { url, weight }
}

/** Watch-reconnect backoff in the shape etcd3 expects (cockatiel's IBackoff): 100 ms doubling to 2 s. */
class WatchBackoff {
  constructor(readonly duration: number) {}
  next(): WatchBackoff {
    return new WatchBackoff(Math.min(2000, this.duration * 2))
  }
}

export class EtcdDiscovery implements DiscoverySource {
  readonly kind = 'etcd'
  readonly policy: EtcdPolicy
  readonly #sink: DiscoverySink
  readonly #first = once()
  /** key → instance (only valid records). */
  readonly #instances = new Map<string, DiscoveredTarget>()
  #client: Etcd3 | null = null
  #watcher: Watcher | null = null
  #timer: NodeJS.Timeout | null = null
  #retryMs = 250
  #started = false
  #closed = false
  #publishQueued = false
  #disconnected = false

  constructor(policy: EtcdPolicy, sink: DiscoverySink) {
    this.policy = policy
    this.#sink = sink
  }

  get firstAttempt(): Promise<void> {
    return this.#first.promise
  }

  healthy(): boolean {
    return this.#watcher !== null && !this.#disconnected
  }

  start(): void {
    if (this.#started || this.#closed) return
    this.#started = true
    void this.#sync()
  }

  async #connect(): Promise<Etcd3> {
    if (this.#client !== null) return this.#client
    const { Etcd3 } = await import('etcd3')
    const p = this.policy
    this.#client = new Etcd3({
      hosts: [...p.endpoints],
      dialTimeout: p.timeoutMs,
      ...(p.username !== undefined ? { auth: { username: p.username, password: p.password ?? '' } } : {}),
      faultHandling: { watchBackoff: new WatchBackoff(100) as never },
    })
    return this.#client
  }

  /** List the prefix, publish it, then watch from the next revision. Retried with backoff on failure. */
  async #sync(): Promise<void> {
    this.#timer = null
    if (this.#closed) return
    const log = this.#sink.logger
    try {
      const client = await this.#connect()
      const res = await client.getAll().prefix(this.policy.prefix).exec()
      if (this.#closed) return
      this.#instances.clear()
      for (const kv of res.kvs) this.#put(kv.key.toString(), kv.value.toString())
      this.#publish()
      this.#first.resolve()
      this.#retryMs = 250
      const watcher = await client
        .watch()
        .prefix(this.policy.prefix)
        .startRevision(String(BigInt(res.header.revision) + 1n))
        .create()
      if (this.#closed) {
        await watcher.cancel().catch(() => undefined)
        return
      }
      this.#watcher = watcher
      watcher.on('put', (kv) => {
        this.#put(kv.key.toString(), kv.value.toString())
        this.#queuePublish()
      })
      watcher.on('delete', (kv) => {
        if (this.#instances.delete(kv.key.toString())) this.#queuePublish()
      })
      watcher.on('disconnected', () => {
        if (this.#disconnected) return
        this.#disconnected = true
        log?.warn({ upstream: this.#sink.name, prefix: this.policy.prefix }, 'etcd discovery disconnected; keeping the last known targets')
      })
      watcher.on('connected', () => {
        if (!this.#disconnected) return
        this.#disconnected = false
        log?.info({ upstream: this.#sink.name, prefix: this.policy.prefix }, 'etcd discovery watch resumed')
      })
      // Cancelled by etcd (e.g. the revision was compacted while we were away): list and watch again.
      watcher.on('error', (err) => {
        if (this.#watcher !== watcher || this.#closed) return
        log?.warn({ upstream: this.#sink.name, prefix: this.policy.prefix, err: String(err.message) }, 'etcd discovery watch lost; listing again')
        this.#watcher = null
        void watcher.cancel().catch(() => undefined)
        this.#retry()
      })
    } catch (err) {
      if (this.#closed) return
      log?.warn({ upstream: this.#sink.name, prefix: this.policy.prefix, err: String((err as Error).message ?? err) }, 'etcd discovery failed; keeping the last known targets')
      this.#first.resolve()
      this.#retry()
    }
  }

  #retry(): void {
    if (this.#closed || this.#timer !== null) return
    this.#timer = setTimeout(() => void this.#sync(), this.#retryMs)
    this.#timer.unref()
    this.#retryMs = Math.min(5000, this.#retryMs * 2)
  }

  #put(key: string, value: string): void {
    const inst = parseInstance(value)
    if (inst === undefined) {
      this.#instances.delete(key)
      this.#sink.logger?.warn({ upstream: this.#sink.name, key }, 'etcd discovery: ignoring a record that is not {"url": …, "weight": …} or a URL')
      return
    }
    this.#instances.set(key, inst)
  }

  /** Several events of one watch response become one update. */
  #queuePublish(): void {
    if (this.#publishQueued) return
    this.#publishQueued = true
    queueMicrotask(() => {
      this.#publishQueued = false
      this.#publish()
    })
  }

  #publish(): void {
    if (this.#closed) return
    this.#sink.setTargets([...this.#instances.values()])
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#first.resolve()
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    const w = this.#watcher
    this.#watcher = null
    // Bounded: cancelling a watch while etcd is unreachable must not hold up a drain.
    if (w !== null) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([w.cancel().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 1000)))])
      clearTimeout(timer)
    }
    this.#client?.close()
    this.#client = null
  }
}
