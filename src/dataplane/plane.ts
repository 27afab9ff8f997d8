// The data plane of one process: the current Snapshot (load = compile off the hot path, then one
// reference swap; the previous one retires when its requests are done), the process-wide Stores
// and tracing, and the listeners (proxy/listeners/), bound once from the first loaded config.
// Drain is a promise: it settles when the last in-flight request ends, or at the deadline.
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Config } from '../config/schema/index.js'
import { parseDuration, parseSize } from '../config/units.js'
import { resolveListeners, listenersKey } from '../config/listeners.js'
import { DEFAULT_MAX_CONNECTIONS } from '../config/defaults.js'
import { parseListen } from '../core/address.js'
import { compileSnapshot, retireSnapshot, type Snapshot } from '../snapshot/compile.js'
import { loadPlugins, pluginNamesIn } from '../plugins/builtin.js'
import { loadSchemaDefaults } from '../plugins/defaults.js'
import type { PluginDefinition } from '../plugins/contract.js'
import { AccessLog } from '../observability/access-log.js'
import { configReloads, reportConfigLoaded, reportLiveCounts, reportWebSocketCounts } from '../observability/metrics.js'
import type { Tracing } from '../observability/tracing.js'
import { Deadlines } from '../proxy/deadlines.js'
import type { ProxyEnv } from '../proxy/env.js'
import { listenHttp, redirectFront, type Listener } from '../proxy/listeners/http.js'
import { listenHttps } from '../proxy/listeners/https.js'
import { resolveH2 } from '../proxy/listeners/h2.js'
import { WebSocketSessions } from '../proxy/ws-sessions.js'
import type { Front } from '../proxy/listeners/hooks.js'
import { createTlsListener, type TlsDeps } from '../tls/listener.js'
import type { CertificateSummary } from '../tls/certificate.js'
import { AcmeDirectory, type ChallengeReader } from '../tls/acme/storage.js'
import { http01Front } from '../tls/acme/http01.js'
import { listenHandles } from './listen-handles.js'
import { Stores } from './stores.js'
import { TracingLifecycle } from './tracing.js'
import type { DataPlane, DataPlaneOptions, DataPlaneStatus, SnapshotMeta } from './data-plane.js'

/**
 * How long a drain leaves idle keep-alive connections open, so that a client in the middle of a
 * sequence of requests gets its next answer (with `connection: close`) instead of a closed socket.
 */
const KEEPALIVE_GRACE_MS = 1_000

class PorticoDataPlane implements DataPlane, ProxyEnv {
  snapshot: Snapshot | undefined = undefined
  draining = false
  inFlight = 0
  readonly logger: Logger
  readonly accessLog: AccessLog
  readonly deadlines = new Deadlines()
  readonly websockets = new WebSocketSessions()
  /** The current Tracing (TracingLifecycle.current), copied into a field: read once per request. */
  tracing: Tracing | null = null
  readonly #tracing: TracingLifecycle
  #config: Config | undefined
  #listeners: Listener[] = []
  #loading: Promise<void> = Promise.resolve()
  /** A fixed plugin registry (tests, embedding), or null: built-ins loaded as the config names them. */
  readonly #plugins: ReadonlyMap<string, PluginDefinition> | null
  readonly #stores: Stores
  /** Looks whether drain()'s current wait is over (set only while draining). */
  #idle: (() => void) | null = null
  /** Draining, past the keep-alive grace: idle keep-alive connections close as they go idle. */
  #closeIdle = false

  constructor(opts: DataPlaneOptions) {
    this.logger = opts.logger
    this.#plugins = opts.plugins ?? null
    this.#stores = new Stores(opts.instanceStore)
    this.accessLog = new AccessLog()
    this.#tracing = new TracingLifecycle(opts.logger)
  }

  load(config: Config, meta: SnapshotMeta): Promise<void> {
    // Loads are serialized so two quick reloads cannot interleave their carry-over.
    const run = this.#loading.then(() => this.#load(config, meta))
    this.#loading = run.catch(() => undefined)
    return run
  }

  async #load(config: Config, meta: SnapshotMeta): Promise<void> {
    let next: Snapshot
    const store = await this.#stores.sharedFor(config)
    try {
      let registry = this.#plugins
      if (registry === null) registry = await loadPlugins(pluginNamesIn(config))
      else await loadSchemaDefaults()
      next = await compileSnapshot(config, {
        version: meta.version,
        hash: meta.hash,
        logger: this.logger,
        registry,
        previous: this.snapshot,
        store,
        memory: this.#stores.memory,
      })
    } catch (err) {
      configReloads.labels('failed').inc()
      throw err
    }
    // Upstreams with service discovery and no targets yet: wait (bounded) for their first answer,
    // so a fresh Snapshot does not go live answering 503 no_healthy_target.
    await Promise.all([...next.clusters.values()].map((c) => c.ready()))
    await this.#tracing.apply(config)
    this.tracing = this.#tracing.current
    const prev = this.snapshot
    const prevConfig = this.#config
    this.snapshot = next // the swap: requests read this reference once, at arrival
    this.#config = config
    configReloads.labels('applied').inc()
    reportConfigLoaded(meta.version, meta.hash)
    if (prev !== undefined) {
      if (this.#listeners.length > 0 && prevConfig !== undefined && listenersKey(prevConfig) !== listenersKey(config)) {
        this.logger.warn('server.listen changed: restart to apply it')
      } else {
        await this.#updateTls(config)
      }
      void retireSnapshot(prev, next, this.logger)
    }
    this.logger.info({ version: meta.version, hash: meta.hash.slice(0, 12), routes: next.routes.length }, 'config loaded')
  }

  /** ProxyEnv: a request ended. While draining, the last one settles the drain's wait. */
  requestEnded(): void {
    this.inFlight--
    if (this.#idle !== null) {
      if (this.#closeIdle) for (const l of this.#listeners) l.closeIdleConnections()
      this.#idle()
    }
  }

  async listen(): Promise<AddressInfo> {
    const config = this.#config
    if (config === undefined) throw new Error('listen() before the first load()')
    if (this.#listeners.length === 0) {
      const s = config.server ?? {}
      const limits = {
        maxHeaderSize: parseSize(s.max_header_size ?? '16kb'),
        headersTimeoutMs: parseDuration(s.header_timeout ?? '10s'),
        keepAliveTimeoutMs: parseDuration(s.keep_alive_timeout ?? '5s'),
        maxConnections: s.max_connections ?? DEFAULT_MAX_CONNECTIONS,
      }
      // ACME: HTTP-01 tokens answered on every cleartext listener (before the https redirect),
      // issued certificates served by https listeners with acme: true. The primary writes both.
      const acme = config.acme === undefined ? undefined : new AcmeDirectory(config.acme.storage_dir ?? './portico-acme')
      // The primary may not have made the storage yet: make it, so a listener can watch it.
      await acme?.init()
      // Fleet mode: challenges are in the shared Store (any instance may be asked by the CA);
      // certificates still come from storage_dir, where this instance's primary mirrors them.
      const challenges = config.acme?.storage?.backend === 'redis' ? await this.#fleetChallenges(config) : acme
      try {
        const wanted = resolveListeners(config)
        // Sockets the control plane owns (--handoff) are listened on instead of binding new ones.
        const handles = await listenHandles(wanted.length)
        for (const [i, l] of wanted.entries()) {
          const at = parseListen(l.listen, l.where, 'dataplane')
          const handle = handles?.[i]
          if (l.tls !== undefined) {
            const h2 = l.protocols.includes('h2') ? resolveH2(l.http2, limits.maxHeaderSize) : null
            const http1 = l.protocols.includes('http1')
            // ALPN in the server's preference: h2 first when both are served.
            const alpn = [...(h2 === null ? [] : ['h2']), ...(http1 ? ['http/1.1'] : [])]
            const tls = await createTlsListener(l.tls, { logger: this.logger, alpn, ...(acme === undefined ? {} : acmeDeps(acme, challenges ?? acme, config)) })
            this.#listeners.push(await listenHttps(this, at, limits, tls, handle, { http1, h2 }).catch((err: unknown) => (tls.close(), Promise.reject(err))))
            continue
          }
          const fronts: Front[] = []
          if (challenges !== undefined) fronts.push(http01Front(challenges))
          if (l.redirectHttps !== undefined) fronts.push(redirectFront(l.redirectHttps))
          const h2c = l.protocols.includes('h2c') ? resolveH2(l.http2, limits.maxHeaderSize) : null
          this.#listeners.push(await listenHttp(this, at, limits, fronts, handle, { http1: l.protocols.includes('http1'), h2c }))
        }
      } catch (err) {
        await Promise.all(this.#listeners.map((l) => (l.closeAllConnections(), l.close())))
        this.#listeners = []
        throw err
      }
      reportLiveCounts(() => ({ inFlight: this.inFlight, connections: this.#listeners.reduce((n, l) => n + l.connections, 0) }))
      reportWebSocketCounts(() => this.websockets.byRoute)
      for (const l of this.#listeners) {
        const addr = l.address()
        this.logger.info({ address: addr.address, port: addr.port, tls: l.tls !== null }, 'data plane listening')
      }
    }
    return this.#listeners[0]!.address()
  }

  /** The shared Store's view of pending challenges; the Store is looked up per call (a reload may replace it). */
  async #fleetChallenges(config: Config): Promise<ChallengeReader> {
    const { storeStorageFor } = await import('../tls/acme/store-storage.js')
    await this.#stores.sharedFor(config)
    return storeStorageFor(config.acme!, () => this.#stores.current())
  }

  addresses(): AddressInfo[] {
    return this.#listeners.map((l) => l.address())
  }

  /** A reload changes what each https listener serves (certificates, policies) without a rebind. */
  async #updateTls(config: Config): Promise<void> {
    const specs = resolveListeners(config)
    await Promise.all(
      this.#listeners.map(async (l, i) => {
        const next = specs[i]?.tls
        if (l.tls === null || next === undefined) return
        // A failed update keeps the previous certificates serving; update() logged why.
        await l.tls.update(next).catch(() => undefined)
      }),
    )
  }

  /** What every https listener serves, for /status (never a key). */
  certificates(): CertificateSummary[] {
    return this.#listeners.flatMap((l) => l.tls?.status() ?? [])
  }

  async drain(timeoutMs: number): Promise<void> {
    if (this.draining) return
    this.draining = true
    const listeners = this.#listeners
    if (listeners.length > 0) {
      const deadline = Date.now() + timeoutMs
      // Stop accepting. Connections already open get `connection: close` on their next response.
      const closed = Promise.all(listeners.map((l) => l.close()))
      // An idle keep-alive connection closed by the server races its client's next request (the
      // request meets a closed socket: a reset the client sees as a failure). So first a grace
      // during which a busy client sends its next request and gets the closing answer; only then
      // do idle keep-alive connections close.
      await this.#waitUntil(() => listeners.every((l) => l.connections === 0), Math.min(KEEPALIVE_GRACE_MS, timeoutMs))
      this.#closeIdle = true
      for (const l of listeners) l.closeIdleConnections()
      // Done when no request is in flight and no connection accepted before the close still waits
      // for its answer (its request may not have been read yet; resetting it would fail a client).
      const settled = () => this.inFlight === 0 && listeners.every((l) => l.unanswered === 0)
      await this.#waitUntil(settled, deadline - Date.now())
      if (!settled()) this.logger.warn({ in_flight: this.inFlight, websockets: this.websockets.open }, 'drain timeout: closing remaining connections')
      // WebSocket sessions (counted in inFlight, so the wait above covered them) get a 1001
      // "going away" close frame, and a moment for it to arrive, before their sockets are cut.
      await this.websockets.closeAll(1001, 'shutting_down', 2000)
      for (const l of listeners) l.closeAllConnections()
      await closed
    }
    const snap = this.snapshot
    if (snap !== undefined) await retireSnapshot(snap, undefined, this.logger)
    await this.#stores.close()
    await this.#tracing.close()
  }

  /** Resolves once `done()` holds (looked at on every request end and every 25 ms) or after `ms`. */
  async #waitUntil(done: () => boolean, ms: number): Promise<void> {
    if (done() || ms <= 0) return
    let timer: NodeJS.Timeout | undefined
    let tick: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      this.#idle = () => {
        if (done()) resolve()
      }
      // A connection that closes raises no request event: look again now and then.
      tick = setInterval(this.#idle, 25)
      timer = setTimeout(resolve, ms)
    })
    clearTimeout(timer)
    clearInterval(tick)
    this.#idle = null
  }

  status(): DataPlaneStatus {
    const snap = this.snapshot
    const upstreams: DataPlaneStatus['upstreams'] = {}
    if (snap !== undefined) {
      for (const [name, c] of snap.clusters) {
        upstreams[name] = c.status()
      }
    }
    return {
      ready: snap !== undefined && this.#listeners.length > 0 && this.#listeners.every((l) => l.listening) && !this.draining,
      version: snap?.version ?? 0,
      hash: snap?.hash ?? '',
      inFlight: this.inFlight,
      routes: snap?.routes.length ?? 0,
      websockets: { open: this.websockets.open, routes: Object.fromEntries(this.websockets.byRoute) },
      upstreams,
      certificates: this.certificates(),
      ...(this.#stores.info() !== undefined ? { store: this.#stores.info() } : {}),
    }
  }
}

/** What an https listener needs of the acme block: the storage, the challenge, on-demand TLS. */
function acmeDeps(acme: AcmeDirectory, challenges: ChallengeReader, config: Config): Pick<TlsDeps, 'acme' | 'alpnChallenges' | 'challenges' | 'onDemand'> {
  const od = config.acme?.on_demand
  return {
    acme,
    challenges,
    alpnChallenges: config.acme?.challenge === 'tls-alpn-01',
    ...(od === undefined ? {} : { onDemand: { waitMs: parseDuration(od.wait ?? '30s'), perNameMs: parseDuration(od.per_name_interval ?? '10m') } }),
  }
}

export function createDataPlane(opts: DataPlaneOptions): DataPlane {
  return new PorticoDataPlane(opts)
}
