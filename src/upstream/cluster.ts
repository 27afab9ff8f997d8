// A cluster is one named upstream: its targets, pools, balancer, resolved timeouts, and the
// resilience parts that are configured (each one null when not: a plain cluster pays nothing).
// Clusters whose definition did not change are carried over from one Snapshot to the next (same
// pools, same balancer, health and breaker state), so a reload causes no connection churn.
// Health-check timers belong to the cluster: start() once it is in a live Snapshot, close() when
// the Snapshot that last used it retires.
import type { ConnectionOptions } from 'node:tls'
import { upstreamTlsOptions } from './tls.js'
import type { Logger } from 'pino'
import type { UpstreamConfig } from '../config/schema/index.js'
import { parseDuration } from '../config/units.js'
import { createBalancer } from './balancers/index.js'
import { type Balancer } from './balancers/balancer.js'
import { FAILURE_LATENCY_MS, observeLatency } from './balancers/p2c-ewma.js'
import { Target, type PoolSettings } from './target.js'
import type { RequestContext } from '../core/context.js'
import { ActiveChecker, resolveActive } from './health/active.js'
import { OutlierDetector, resolvePassive } from './health/passive.js'
import type { HealthHost } from './health/host.js'
import { Bulkhead, CircuitBreaker, resolveBreaker } from './breaker.js'
import { resolveRetries, type RetryPolicy } from './retry.js'
import { upstreamRejected, upstreamRetries, upstreamTargetHealthy } from '../observability/metrics.js'
import { createDiscovery } from './discovery/index.js'
import { type DiscoveredTarget, type DiscoverySink, type DiscoverySource } from './discovery/source.js'

export interface ResolvedTimeouts {
  connect: number
  read: number
  total: number
}

export const DEFAULT_TIMEOUTS: ResolvedTimeouts = { connect: 2000, read: 30_000, total: 60_000 }

export interface ClusterEnv {
  logger?: Logger | undefined
  /**
   * Discovered targets to start with (a discovery upstream rebuilt by a reload takes over its
   * predecessor's list, so it does not start empty while its source resolves again).
   */
  seed?: readonly DiscoveredTarget[] | undefined
}

/** How long a new Snapshot waits for a discovery source's first answer before it goes live anyway. */
const FIRST_DISCOVERY_WAIT_MS = 3000

/** Live state for /status. */
export interface ClusterStatus {
  balancer: string
  /** 'static', or the discovery source's kind (dns, etcd, consul, nacos, zookeeper, kubernetes). */
  discovery?: string
  breaker: string | null
  in_flight: number | null
  queued: number | null
  targets: Array<{ url: string; weight: number; healthy: boolean; ejected: boolean; in_flight: number; meta?: Readonly<Record<string, string>> }>
}

// Which cluster last set a target's healthy gauge: a retiring cluster must not remove the series
// of the cluster that replaced it under the same names.
const gaugeOwner = new Map<string, Cluster>()

export class Cluster implements HealthHost, DiscoverySink {
  readonly name: string
  /** The targets speak HTTP/2 (`protocol: h2 | h2c`): responses arrive as HTTP/2 (the Via entry says so). */
  readonly http2: boolean
  /** Canonical JSON of the definition: equal keys mean the cluster can be carried over. */
  readonly key: string
  /** Canonical JSON of the discovery block ('' for static targets): equal = same source. */
  readonly discoveryKey: string
  /** Static targets, or the ones discovery last reported (replaced as a whole, never mutated). */
  #targets: readonly Target[]
  readonly #poolSettings: PoolSettings
  /**
   * Connect options towards https:// targets (upstream.tls: CA, SNI, pinned names, client
   * certificate), or null for Node's defaults. The pools use them; so does every connection the
   * cluster's callers open themselves (WebSocket handshakes), so all verify alike.
   */
  readonly tls: ConnectionOptions | null
  /** Where targets come from when not static; null = static targets. */
  readonly discovery: DiscoverySource | null
  readonly balancer: Balancer
  readonly timeouts: ResolvedTimeouts
  readonly logger: Logger | undefined
  readonly breaker: CircuitBreaker | null
  readonly bulkhead: Bulkhead | null
  /** breaker !== null || bulkhead !== null: one check on the hot path. */
  readonly guarded: boolean
  /** Default retry policy of routes to this cluster (a route's own `retries` replaces it). */
  readonly retry: RetryPolicy | null
  readonly outlier: OutlierDetector | null
  readonly active: ActiveChecker | null
  /** The handler must report each try's outcome (passive health or a latency-aware balancer). */
  readonly observed: boolean
  readonly #needsLatency: boolean
  readonly #retries: ReturnType<typeof upstreamRetries.labels>
  /** What discovery said about each target (tags, metadata), by URL; for /status. */
  #meta: ReadonlyMap<string, Readonly<Record<string, string>>> = new Map()
  #started = false
  #closed = false

  static keyOf(def: UpstreamConfig): string {
    return JSON.stringify(def)
  }

  constructor(name: string, def: UpstreamConfig, env: ClusterEnv = {}) {
    this.name = name
    this.http2 = def.protocol === 'h2' || def.protocol === 'h2c'
    this.key = Cluster.keyOf(def)
    this.logger = env.logger
    this.tls = upstreamTlsOptions(def.tls)
    const settings = {
      connections: def.max_connections ?? 256,
      keepAliveTimeout: parseDuration(def.keep_alive_timeout ?? '4s'),
      tls: this.tls,
      protocol: def.protocol,
    }
    this.#poolSettings = settings
    this.discoveryKey = def.discovery === undefined ? '' : JSON.stringify(def.discovery)
    const initial = def.discovery === undefined ? (def.targets ?? []) : (env.seed ?? [])
    this.#targets = initial.map((t) => new Target(t.url, t.weight ?? 1, settings))
    this.balancer = createBalancer(def.balancer ?? 'round-robin', this.targets, { hashOn: def.hash_on })
    this.timeouts = {
      connect: parseDuration(def.timeouts?.connect ?? DEFAULT_TIMEOUTS.connect),
      read: parseDuration(def.timeouts?.read ?? DEFAULT_TIMEOUTS.read),
      total: parseDuration(def.timeouts?.total ?? DEFAULT_TIMEOUTS.total),
    }
    const hc = def.health_checks
    this.active = hc?.active === undefined ? null : new ActiveChecker(resolveActive(hc.active), this, this.timeouts.connect)
    this.outlier = hc?.passive === undefined ? null : new OutlierDetector(resolvePassive(hc.passive), this)
    this.breaker = def.circuit_breaker === undefined ? null : new CircuitBreaker(resolveBreaker(def.circuit_breaker), name, env.logger)
    const max = def.max_concurrent_requests ?? 0
    this.bulkhead = max > 0 ? new Bulkhead(max, def.queue_size ?? 0) : null
    this.guarded = this.breaker !== null || this.bulkhead !== null
    this.retry = resolveRetries(def.retries)
    this.#needsLatency = this.balancer.needsLatency
    this.observed = this.outlier !== null || this.#needsLatency
    this.#retries = upstreamRetries.labels(name)
    // Last: the source may call setTargets() once started, which needs everything above.
    this.discovery = def.discovery === undefined ? null : createDiscovery(def.discovery, this)
  }

  get targets(): readonly Target[] {
    return this.#targets
  }

  /**
   * Settles when the cluster can serve: at once for static targets or a seeded list, else after
   * the discovery source's first answer (or failure), at most FIRST_DISCOVERY_WAIT_MS.
   */
  ready(): Promise<void> {
    if (this.discovery === null || this.#targets.length > 0) return Promise.resolve()
    let timer: NodeJS.Timeout | undefined
    return Promise.race([this.discovery.firstAttempt, new Promise<void>((r) => (timer = setTimeout(r, FIRST_DISCOVERY_WAIT_MS)))]).finally(() => clearTimeout(timer))
  }

  // --- DiscoverySink ---

  /**
   * The discovery source's complete current list. Diffed by URL: targets that stayed keep their
   * Target (pools, health, ejection, in-flight), new ones are created and probed, removed ones
   * leave the balancer now and close their pools once their in-flight requests are done.
   * Off the hot path; the Snapshot is untouched.
   */
  setTargets(list: readonly DiscoveredTarget[]): void {
    if (this.#closed) return
    const meta = new Map<string, Readonly<Record<string, string>>>()
    for (const d of list) if (d.meta !== undefined && !meta.has(d.url)) meta.set(d.url, d.meta)
    this.#meta = meta
    const old = new Map(this.#targets.map((t) => [t.url, t]))
    const next: Target[] = []
    const added: Target[] = []
    let reweighted = false
    for (const d of list) {
      let t = old.get(d.url)
      if (t !== undefined) {
        old.delete(d.url)
        if (t.weight !== d.weight) {
          t.weight = d.weight
          reweighted = true
        }
      } else {
        if (next.some((n) => n.url === d.url)) continue // the same URL twice: the first wins
        t = new Target(d.url, d.weight, this.#poolSettings)
        added.push(t)
      }
      next.push(t)
    }
    const removed = [...old.values()]
    if (added.length === 0 && removed.length === 0 && !reweighted) return
    this.#targets = next
    for (const t of added) {
      this.active?.add(t)
      this.outlier?.add(t)
      if (this.#started) {
        gaugeOwner.set(`${this.name}\u0000${t.url}`, this)
        upstreamTargetHealthy.set({ upstream: this.name, target: t.url }, t.available ? 1 : 0)
      }
    }
    for (const t of removed) {
      this.active?.remove(t)
      this.outlier?.remove(t)
      const key = `${this.name}\u0000${t.url}`
      if (gaugeOwner.get(key) === this) {
        gaugeOwner.delete(key)
        upstreamTargetHealthy.remove({ upstream: this.name, target: t.url })
      }
    }
    this.logger?.info(
      { upstream: this.name, source: this.discovery?.kind, added: added.map((t) => t.url), removed: removed.map((t) => t.url), targets: next.length },
      'upstream targets changed (discovery)',
    )
    this.availabilityChanged()
    // undici's close() lets requests already dispatched to the pool finish first.
    for (const t of removed) void t.close()
  }

  /** Called once the cluster serves a live Snapshot (idempotent; carried-over clusters are already started). */
  start(): void {
    if (this.#started) return
    this.#started = true
    for (const t of this.targets) {
      const key = `${this.name}\u0000${t.url}`
      gaugeOwner.set(key, this)
      upstreamTargetHealthy.set({ upstream: this.name, target: t.url }, t.available ? 1 : 0)
    }
    this.active?.start()
    this.discovery?.start()
  }

  pick(ctx: RequestContext): Target | undefined {
    return this.balancer.pick(ctx)
  }

  /**
   * A target for a retry: another one than `tried` when any other is available. The balancer is
   * asked first (it keeps its own order and weights); a hash balancer keeps answering the same
   * target, so then the first other available target in configuration order is taken.
   */
  pickOther(ctx: RequestContext, tried: Target | null): Target | undefined {
    let t: Target | undefined
    for (let k = 0; k < 3; k++) {
      t = this.balancer.pick(ctx)
      if (t !== tried || t === undefined) return t
    }
    for (const o of this.targets) if (o !== tried && o.available && o.weight > 0) return o
    return t
  }

  /** One try got a response head (status) after `ms`. Only called when `observed`. */
  observeStatus(t: Target, status: number, ms: number, now: number): void {
    if (this.#needsLatency) observeLatency(t, ms, now)
    this.outlier?.status(t, status, now)
  }

  /** One try failed without a response head. Only called when `observed`. */
  observeFailure(t: Target, ms: number, now: number, err?: Error): void {
    if (this.#needsLatency) observeLatency(t, Math.max(ms, FAILURE_LATENCY_MS), now)
    // A refused connection is a definite answer (nothing listens there), unlike a timeout or a
    // reset: the target is ejected at once instead of after consecutive_failures in each worker.
    this.outlier?.failure(t, now, (err as { code?: string } | undefined)?.code === 'ECONNREFUSED')
  }

  countRetry(): void {
    this.#retries.inc()
  }

  countRejected(reason: 'circuit_open' | 'upstream_overloaded' | 'retry_budget'): void {
    upstreamRejected.inc({ upstream: this.name, reason })
  }

  // --- HealthHost ---

  availabilityChanged(): void {
    this.balancer.update(this.targets.filter((t) => t.available))
    for (const t of this.targets) {
      if (gaugeOwner.get(`${this.name}\u0000${t.url}`) === this) upstreamTargetHealthy.set({ upstream: this.name, target: t.url }, t.available ? 1 : 0)
    }
  }

  status(): ClusterStatus {
    return {
      balancer: this.balancer.name,
      discovery: this.discovery?.kind ?? 'static',
      breaker: this.breaker?.stateName ?? null,
      in_flight: this.bulkhead?.active ?? null,
      queued: this.bulkhead?.queued ?? null,
      targets: this.targets.map((t) => {
        const meta = this.#meta.get(t.url)
        return { url: t.url, weight: t.weight, healthy: t.healthy, ejected: t.ejectedUntil !== 0, in_flight: t.inFlight, ...(meta !== undefined ? { meta } : {}) }
      }),
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.discovery?.close()
    this.active?.close()
    this.outlier?.close()
    for (const t of this.targets) {
      const key = `${this.name}\u0000${t.url}`
      if (gaugeOwner.get(key) === this) {
        gaugeOwner.delete(key)
        upstreamTargetHealthy.remove({ upstream: this.name, target: t.url })
      }
    }
    await Promise.all(this.targets.map((t) => t.close()))
  }
}
