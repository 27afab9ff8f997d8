// One upstream server and its connection pools.
import type { HistogramSeries } from '../observability/series.js'
import { Pool, type Dispatcher } from 'undici'
import type { ConnectionOptions } from 'node:tls'
import { H2Pool } from './h2-pool.js'

/** Wire protocol towards the targets (upstream `protocol`). */
export type UpstreamProtocol = 'http1' | 'h2' | 'h2c'

export interface PoolSettings {
  connections: number
  keepAliveTimeout: number
  /** Connect options of https targets (upstream.tls), or null for the defaults (verify with Node's roots). */
  tls?: ConnectionOptions | null
  /** Absent = http1 (an undici Pool); h2/h2c get an H2Pool (upstream/h2-pool.ts). */
  protocol?: UpstreamProtocol
}

export class Target {
  /** As configured, for logs and /status. */
  readonly url: string
  /** scheme://host:port, what undici dispatches to. */
  readonly origin: string
  /** Path prefix from the target URL ('' when none). Prepended to the forwarded path. */
  readonly basePath: string
  /** Host header sent upstream unless preserve_host. */
  readonly hostHeader: string
  /** Relative share. Discovery may change it in place (the cluster then rebuilds its balancer). */
  weight: number
  /**
   * Requests dispatched to this target and not finished yet (this worker). Maintained by the
   * handler for every cluster; least-connections and p2c-ewma read it.
   */
  inFlight = 0
  /** This target's upstream-latency histogram series, resolved on its first response. */
  latency: HistogramSeries | null = null
  /** Peak-EWMA of response-head latency in ms (p2c-ewma only; 0 until the first response). */
  ewma = 0
  /** performance.now() of the last EWMA update. */
  ewmaAt = 0
  /** Active health state: false after `unhealthy.failures` failed probes, until `healthy.successes` passed ones. */
  healthy = true
  /** Passive health: ejected (outlier detection) until this performance.now(); 0 = not ejected. */
  ejectedUntil = 0
  readonly #settings: PoolSettings
  /**
   * Pools keyed by connect timeout: undici fixes the connect timeout per pool, and routes may
   * override it, so a route with its own connect timeout gets its own (lazily made) pool.
   * Nearly always there is exactly one.
   */
  readonly #pools = new Map<number, Pool | H2Pool>()
  #closed = false

  constructor(url: string, weight: number, settings: PoolSettings) {
    const u = new URL(url)
    this.url = url
    this.origin = u.origin
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '')
    this.hostHeader = u.host
    this.weight = weight
    this.#settings = settings
  }

  /** In the balancer's rotation: healthy and not ejected. */
  get available(): boolean {
    return this.healthy && this.ejectedUntil === 0
  }

  pool(connectTimeout: number): Dispatcher {
    let p = this.#pools.get(connectTimeout)
    if (p === undefined) {
      // The protocol is looked at once, when the pool is made: an http1 target's requests take
      // exactly the path they took before HTTP/2 existed here.
      p = this.#settings.protocol === 'h2' || this.#settings.protocol === 'h2c' ? this.#h2(connectTimeout) : new Pool(this.origin, {
        connections: this.#settings.connections,
        keepAliveTimeout: this.#settings.keepAliveTimeout,
        keepAliveMaxTimeout: Math.max(this.#settings.keepAliveTimeout, 1000),
        connect: this.#settings.tls == null || !this.origin.startsWith('https:') ? { timeout: connectTimeout } : { ...this.#settings.tls, timeout: connectTimeout },
        pipelining: 1,
        // Per-request timeouts are passed on each dispatch (route overrides), not fixed here.
        headersTimeout: 0,
        bodyTimeout: 0,
      })
      this.#pools.set(connectTimeout, p)
    }
    return p
  }

  #h2(connectTimeout: number): H2Pool {
    const s = this.#settings
    return new H2Pool(this.origin, {
      tls: s.protocol === 'h2' ? (s.tls ?? {}) : null,
      connectTimeout,
      maxSessions: s.connections,
      idleTimeout: s.keepAliveTimeout,
    })
  }

  /** Waits for in-flight requests on every pool, then closes the sockets. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#pools.values()].map((p) => p.close()))
  }
}
