// The Redis Store (ioredis): shared by every worker and instance pointed at the same Redis, on one
// of three topologies: a single node (url), a Redis Cluster (seed nodes; the client follows
// MOVED/ASK and failovers) or Sentinel (the client asks the sentinels for the current master).
// Tight per-call deadlines and no offline queue: when Redis is down a call fails fast and the
// caller applies its failure mode, instead of requests piling up behind a reconnecting client.
//
// Cluster rules the callers keep (docs/state.md): the keys of one script call share a hash tag
// (`{…}`), so they live in one slot; the prefix has no braces, so the tag is the caller's. eval()
// refuses keys in several slots before sending them (a CROSSSLOT error would otherwise surface as
// a failed request only on a cluster).
import { createHash } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import calculateSlot, { generateMulti } from 'cluster-key-slot'
import { StoreTimeoutError, StoreUnavailableError, type Store, type StoreInfo, type StoreNodeInfo, type StoreScript } from './store.js'
import { redisTlsOptions, type RedisTlsConfig } from './redis-tls.js'

export type { RedisTlsConfig } from './redis-tls.js'

/** The shape of `store.redis` in the config, plus the parsed deadline. */
export interface RedisStoreOptions {
  /** One node: redis://[user:password@]host:port[/db] (rediss:// for TLS). */
  url?: string
  /** Redis Cluster seed nodes, host:port. */
  cluster?: { nodes: string[] }
  /**
   * Sentinel addresses (host:port) and the monitored master's name. `tls`: the sentinels' own TLS
   * block (their CA, a client certificate for them); absent, they use the data nodes' `tls`.
   */
  sentinel?: { sentinels: string[]; name: string; username?: string; password?: string; tls?: RedisTlsConfig }
  username?: string
  password?: string
  tls?: RedisTlsConfig
  /** Deadline per call, ms. */
  timeoutMs?: number
  /** Prefix for every key, so several gateways can share one Redis. No braces. */
  prefix?: string
  /**
   * ioredis auto-pipelining: commands issued in one event-loop tick go out in one write (default
   * true). Under load that is what keeps the redis rate-limit policy's cost near the plain proxy's.
   */
  autoPipelining?: boolean
}

export type RedisTopology = 'single' | 'cluster' | 'sentinel'

/** host and port of a redis:// or rediss:// url. */
function urlNode(url: string): { host: string; port: number } | undefined {
  try {
    const u = new URL(url)
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 6379 : Number(u.port) }
  } catch {
    return undefined
  }
}

function parseNode(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s)
  if (m === null) throw new Error(`store.redis: "${s}" is not host:port`)
  return { host: m[1] ?? m[2]!, port: Number(m[3]) }
}

const GLOB = /[*?[\]\\]/g

/**
 * What a bare connection to `at` meets within `ms`, or null when it stays up: a refused connection,
 * a failed verification, or the server's alert after the handshake (TLS 1.3 servers refuse a
 * missing client certificate that way). Nothing is written: a write racing the server's close
 * would come back as ECONNRESET and lose the alert.
 */
function connectionError(at: { host: string; port: number }, tls: ConnectionOptions | undefined, ms: number): Promise<Error | null> {
  return new Promise((resolve) => {
    const socket = tls !== undefined ? tlsConnect({ ...tls, ...at }) : netConnect(at)
    socket.unref()
    const finish = (err: Error | null) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(err)
    }
    const timer = setTimeout(() => finish(null), ms)
    timer.unref()
    socket.once('error', finish)
    socket.once('close', () => finish(new Error('the server closed the connection without a reason')))
  })
}

/**
 * An error as one line. OpenSSL's messages carry its source file and line; its reason and Node's
 * code say it better: "tls: tlsv13 alert certificate required (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)".
 */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const e = err as Error & { code?: unknown; reason?: unknown }
  if (typeof e.code === 'string' && e.code.startsWith('ERR_SSL_') && typeof e.reason === 'string') return `tls: ${e.reason} (${e.code})`
  return e.message.replace(/\s+/g, ' ').trim()
}

/** ioredis messages that follow a failure without saying what failed. */
const CONSEQUENCE = /^(Stream isn't writeable|Connection is closed|Failed to refresh slots cache|None of startup nodes is available|Cluster is disconnect|(read|write) ECONNRESET)/

type Client = Redis | Cluster

export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly topology: RedisTopology
  readonly #client: Client
  #subscriber: Client | null = null
  readonly #timeoutMs: number
  readonly #prefix: string
  readonly #shas = new Map<string, string>()
  readonly #handlers = new Map<string, Set<(m: string) => void>>()
  readonly #opts: RedisStoreOptions
  /** Connect options of the data nodes, and of the sentinels (their own block, else the data nodes'). */
  readonly #tls: ConnectionOptions | undefined
  readonly #sentinelTls: ConnectionOptions | undefined
  /** Why the client last failed (a refused handshake, a wrong password), until it is ready again. */
  #lastError: string | null = null
  /** Whether #lastError says why (not only "Connection is closed."); else the next error probes. */
  #explained = false
  #reached: { host: string; port: number } | undefined
  #sentinelsFailed = false
  #probing = false
  #probedAt = 0
  #closed = false

  constructor(opts: RedisStoreOptions) {
    this.#opts = opts
    this.#timeoutMs = opts.timeoutMs ?? 100
    this.#prefix = opts.prefix ?? 'portico:'
    if (/[{}]/.test(this.#prefix)) throw new Error('store.redis.prefix must not contain { or }: hash tags come from the keys')
    const given = [opts.url, opts.cluster, opts.sentinel].filter((x) => x !== undefined).length
    if (given !== 1) throw new Error('store.redis needs exactly one of url, cluster, sentinel')
    this.topology = opts.cluster !== undefined ? 'cluster' : opts.sentinel !== undefined ? 'sentinel' : 'single'
    this.#tls = redisTlsOptions('store.redis.tls', opts.tls) ?? (opts.url?.startsWith('rediss://') === true ? {} : undefined)
    this.#sentinelTls = opts.sentinel?.tls !== undefined ? redisTlsOptions('store.redis.sentinel.tls', opts.sentinel.tls) : this.#tls
    this.#client = this.#connect(false)
    // Errors surface per call (with the last one as the reason); the client's own error events
    // would otherwise be unhandled. A cluster reports each node's errors as `node error`.
    this.#client.on('error', (err: unknown) => {
      this.#failed(err)
      if (!this.#explained && this.#client.status !== 'ready') this.#probe()
    })
    if (this.#client instanceof Cluster) this.#client.on('node error', (err: unknown, node: unknown) => this.#failed(err, typeof node === 'string' ? node : undefined))
    else {
      // The data node the client reached last (with Sentinel, the master it was told about), to probe.
      this.#client.on('connect', () => {
        const s = (this.#client as Redis).stream as { remoteAddress?: string; remotePort?: number } | undefined
        if (s?.remoteAddress !== undefined && s.remotePort !== undefined) this.#reached = { host: s.remoteAddress, port: s.remotePort }
      })
    }
    this.#client.on('ready', () => {
      this.#lastError = null
      this.#explained = false
    })
    this.#revive(this.#client, () => undefined)
  }

  /**
   * Keeps the reason for /status and for the errors calls fail with. The messages come from
   * node:tls, the socket or the server (no key material, and Redis never echoes a password);
   * a configured password is masked all the same, in case a server quotes what it was sent.
   * A message that only follows a failure ("Connection is closed.") does not replace one that
   * explains it (a TLS alert, a refused verification).
   */
  #failed(err: unknown, node?: string): void {
    const cause = err instanceof Error && 'lastNodeError' in err && err.lastNodeError instanceof Error ? err.lastNodeError : err
    let msg = describe(cause)
    // The Sentinel connector's own message ends with the last sentinel's error, which may be one
    // of those too; then the sentinels are what to probe.
    const sentinels = /^All sentinels are unreachable\b/.test(msg)
    const consequence = CONSEQUENCE.test(sentinels ? (/Last error: (.*)$/.exec(msg)?.[1] ?? '') : msg)
    if (consequence && this.#lastError !== null) return
    this.#explained = !consequence
    this.#sentinelsFailed = sentinels
    for (const secret of [this.#opts.password, this.#opts.sentinel?.password]) if (secret !== undefined && secret.length > 0) msg = msg.split(secret).join('***')
    if (msg.length > 300) msg = `${msg.slice(0, 300)}…`
    this.#lastError = node !== undefined ? `${node}: ${msg}` : msg
  }

  /**
   * The client's errors do not always say why. A cluster that cannot map its slots reports only
   * "Connection is closed.": ioredis asks CLUSTER SLOTS on a throw-away connection whose errors it
   * drops. And a client that writes at once (its first command) after a TLS 1.3 handshake meets
   * the server's close as ECONNRESET, losing the alert that said "certificate required". One bare
   * connection, which writes nothing, at most every 5 s while the reason is missing, says what it
   * is: to a seed node of a cluster, to the node a single or Sentinel client reached last, or to
   * a sentinel when the sentinels were what failed (the Sentinel connector drops their errors too).
   */
  #probe(): void {
    const now = Date.now()
    if (this.#probing || this.#closed || now - this.#probedAt < 5000) return
    const o = this.#opts
    const sentinel = this.#sentinelsFailed && o.sentinel !== undefined
    const at = sentinel
      ? parseNode(o.sentinel!.sentinels[0]!)
      : o.cluster !== undefined
        ? parseNode(o.cluster.nodes[0]!)
        : (this.#reached ?? (o.url !== undefined ? urlNode(o.url) : undefined))
    if (at === undefined) return
    this.#probing = true
    this.#probedAt = now
    void connectionError(at, sentinel ? this.#sentinelTls : this.#tls, Math.max(this.#timeoutMs, 1000)).then((err) => {
      this.#probing = false
      if (err !== null && !this.#closed && this.#client.status !== 'ready') this.#failed(err, `${sentinel ? 'sentinel ' : ''}${at.host}:${at.port}`)
    })
  }

  /**
   * ioredis gives a client up for good (status `end`) when its connector's connect() rejects, and
   * the Sentinel connector rejects when its failover detector disconnects it in the middle of a
   * reconnect: the master dies, the client starts reconnecting, and the sentinels' +switch-master
   * arrives before it has an answer. Seen in CI under load: every call then failed with "redis is
   * end" until the process restarted. Only close() ends a client here; any other end is followed
   * by a new connect(), with the same backoff as a reconnect, and `reconnected` (subscriptions).
   */
  #revive(client: Client, reconnected: () => void): void {
    let attempts = 0
    client.on('end', () => {
      if (this.#closed) return
      const delay = Math.min(50 * 2 ** attempts++, 2000)
      setTimeout(() => {
        if (this.#closed) return
        client.connect().then(
          () => {
            attempts = 0
            reconnected()
          },
          // A failed connect ends the client again, which schedules the next try.
          () => undefined,
        )
      }, delay).unref()
    })
  }

  /** Options of one data-node connection. */
  #nodeOptions(): RedisOptions {
    const o = this.#opts
    const tls = this.#tls
    return {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: Math.max(this.#timeoutMs, 1000),
      commandTimeout: this.#timeoutMs,
      lazyConnect: false,
      enableAutoPipelining: o.autoPipelining !== false,
      retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
      // A master demoted by a failover answers READONLY: reconnect (Sentinel names the new one).
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 1 : false),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(tls !== undefined ? { tls } : {}),
    }
  }

  /** A command client, or (subscriber) a connection that keeps its subscriptions across reconnects. */
  #connect(subscriber: boolean): Client {
    const o = this.#opts
    const node = this.#nodeOptions()
    if (subscriber) {
      // A subscribed connection can do nothing else; it keeps its offline queue so subscriptions
      // are sent (and restored after a reconnect) whenever it is connected.
      node.enableOfflineQueue = true
      node.maxRetriesPerRequest = null
      delete node.commandTimeout
      node.enableAutoPipelining = false
    }
    if (o.cluster !== undefined) {
      const copts: ClusterOptions = {
        enableOfflineQueue: subscriber,
        enableAutoPipelining: node.enableAutoPipelining ?? false,
        scaleReads: 'master',
        // MOVED/ASK are followed at once; a failed node is retried while the cluster promotes its
        // replica. The caller's deadline (timeoutMs) bounds the whole call, retries included.
        maxRedirections: 16,
        retryDelayOnMoved: 0,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        retryDelayOnTryAgain: 50,
        slotsRefreshTimeout: Math.max(this.#timeoutMs, 1000),
        slotsRefreshInterval: 2000,
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
        // Sharded pub/sub (Redis 7): one subscriber per master, SSUBSCRIBE to the channel's shard.
        shardedSubscribers: subscriber,
        redisOptions: {
          connectTimeout: node.connectTimeout,
          ...(node.commandTimeout !== undefined ? { commandTimeout: node.commandTimeout } : {}),
          ...(node.username !== undefined ? { username: node.username } : {}),
          ...(node.password !== undefined ? { password: node.password } : {}),
          ...(node.tls !== undefined ? { tls: node.tls } : {}),
        },
      }
      return new Cluster(o.cluster.nodes.map(parseNode), copts)
    }
    if (o.sentinel !== undefined) {
      const s = o.sentinel
      return new Redis({
        ...node,
        sentinels: s.sentinels.map(parseNode),
        name: s.name,
        role: 'master',
        // Subscribes to the sentinels' +switch-master, so a failover is followed at once instead of
        // at the next failed call.
        failoverDetector: true,
        sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
        ...(s.username !== undefined ? { sentinelUsername: s.username } : {}),
        ...(s.password !== undefined ? { sentinelPassword: s.password } : {}),
        // `tls` (in node) is for the master the sentinels name, `sentinelTLS` for the sentinels.
        ...(node.tls !== undefined ? { enableTLSForSentinelMode: true } : {}),
        ...(this.#sentinelTls !== undefined ? { sentinelTLS: this.#sentinelTls } : {}),
      })
    }
    return new Redis(o.url!, node)
  }

  #key(k: string): string {
    return this.#prefix + k
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#client.status !== 'ready') throw new StoreUnavailableError(`redis is ${this.#client.status}${this.#lastError !== null ? ` (last error: ${this.#lastError})` : ''}`)
    try {
      if (this.topology !== 'cluster') return await fn()
      // A cluster call may be retried across a failover; the deadline covers all of it.
      let timer: NodeJS.Timeout | undefined
      try {
        return await Promise.race([
          fn(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new StoreTimeoutError(`redis cluster did not answer within ${this.#timeoutMs}ms`)), this.#timeoutMs)
          }),
        ])
      } finally {
        clearTimeout(timer)
      }
    } catch (err) {
      if (err instanceof StoreTimeoutError) throw err
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
    if (this.topology === 'cluster' && fullKeys.length > 1 && generateMulti(fullKeys) === -1) {
      throw new Error(`script ${script.name}: its keys are in different cluster slots (give them one hash tag)`)
    }
    return this.#call(async () => {
      try {
        return await this.#client.evalsha(sha, fullKeys.length, ...fullKeys, ...args)
      } catch (err) {
        // Scripts are cached per node: a node that never ran this one (a new master after a
        // failover, a restart, a reshard) answers NOSCRIPT, and EVAL goes to that same node.
        if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return this.#client.eval(script.lua, fullKeys.length, ...fullKeys, ...args)
        throw err
      }
    })
  }

  async deletePrefix(prefix: string): Promise<number> {
    const pattern = this.#key(prefix).replace(GLOB, '\\$&') + '*'
    const nodes: Redis[] = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client]
    let n = 0
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500)
        cursor = next
        if (keys.length === 0) continue
        // One UNLINK per key: keys of one scan page are in many slots.
        const p = node.pipeline()
        for (const k of keys) p.unlink(k)
        for (const [err, r] of (await p.exec()) ?? []) if (err === null) n += Number(r)
      } while (cursor !== '0')
    }
    return n
  }

  async waitReplicas(key: string, timeoutMs: number): Promise<{ replicas: number; acked: number }> {
    const waitMs = Math.max(1, Math.min(timeoutMs, this.#timeoutMs - 50))
    let node: Redis | Cluster = this.#client
    if (node instanceof Cluster) {
      const owner = node.slots[calculateSlot(this.#key(key))]?.[0]
      const master = node.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner)
      if (master === undefined) throw new StoreUnavailableError('no master owns that slot right now')
      node = master
    }
    // ROLE lists the replicas the master has now (the client's own slot map may lag behind).
    const n = node
    const role = (await this.#call(() => n.call('ROLE'))) as [string, number, unknown[]]
    if (role[0] !== 'master') throw new StoreUnavailableError('the node is no longer a master')
    const replicas = Array.isArray(role[2]) ? role[2].length : 0
    if (replicas === 0) return { replicas, acked: 0 }
    return { replicas, acked: Number(await this.#call(() => n.call('WAIT', replicas, waitMs))) }
  }

  async publish(channel: string, message: string): Promise<void> {
    const full = this.#key(channel)
    await this.#call(() => (this.#client instanceof Cluster ? this.#client.spublish(full, message) : this.#client.publish(full, message)))
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    const full = this.#key(channel)
    // A subscriber made after close() would never be closed: its reconnects would keep the process
    // alive (a plugin starting its subscription while the gateway shuts down).
    if (this.#closed) throw new StoreUnavailableError('the store is closed')
    if (this.#subscriber === null) {
      const sub = this.#connect(true)
      sub.on('error', () => undefined)
      const deliver = (ch: string, msg: string) => {
        for (const h of this.#handlers.get(ch) ?? []) h(msg)
      }
      sub.on(sub instanceof Cluster ? 'smessage' : 'message', deliver)
      // A revived subscriber starts without subscriptions (its state went with the ended client).
      this.#revive(sub, () => {
        const channels = [...this.#handlers.keys()]
        if (channels.length === 0) return
        void (sub instanceof Cluster ? Promise.all(channels.map((c) => sub.ssubscribe(c))) : sub.subscribe(...channels)).catch(() => undefined)
      })
      this.#subscriber = sub
    }
    const sub = this.#subscriber
    let set = this.#handlers.get(full)
    if (set === undefined) {
      set = new Set()
      this.#handlers.set(full, set)
      await (sub instanceof Cluster ? sub.ssubscribe(full) : sub.subscribe(full))
    }
    set.add(onMessage)
    return async () => {
      set.delete(onMessage)
      if (set.size === 0) {
        this.#handlers.delete(full)
        await (sub instanceof Cluster ? sub.sunsubscribe(full) : sub.unsubscribe(full)).catch(() => undefined)
      }
    }
  }

  healthy(): boolean {
    return this.#client.status === 'ready'
  }

  info(): StoreInfo {
    const c = this.#client
    const nodes: StoreNodeInfo[] = []
    if (c instanceof Cluster) {
      const masters = new Set(c.nodes('master'))
      for (const n of c.nodes('all')) nodes.push({ address: `${n.options.host}:${n.options.port}`, role: masters.has(n) ? 'master' : 'replica', state: n.status })
    } else if (this.topology === 'sentinel') {
      const s = c.stream as { remoteAddress?: string; remotePort?: number } | undefined
      if (c.status === 'ready' && s?.remoteAddress !== undefined) nodes.push({ address: `${s.remoteAddress}:${s.remotePort}`, role: 'master', state: c.status })
      for (const a of this.#opts.sentinel!.sentinels) nodes.push({ address: a, role: 'sentinel', state: 'configured' })
    } else {
      nodes.push({ address: `${c.options.host}:${c.options.port}`, role: 'master', state: c.status })
    }
    return { kind: this.kind, topology: this.topology, state: c.status, ...(c.status !== 'ready' && this.#lastError !== null ? { last_error: this.#lastError } : {}), nodes }
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

  /** The ioredis client under the Store contract; for tests that must act below it. */
  get rawClient(): Client {
    return this.#client
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#client.disconnect()
    this.#subscriber?.disconnect()
  }
}
