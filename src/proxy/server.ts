// The data plane of one process: owns the current Snapshot, the HTTP listener and its limits.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Config } from '../config/schema/index.js'
import { parseDuration, parseSize } from '../config/units.js'
import { compileSnapshot, retireSnapshot, type Snapshot } from '../snapshot/compile.js'
import { loadPlugins, pluginNamesIn } from '../plugins/builtin.js'
import { loadSchemaDefaults } from '../plugins/defaults.js'
import { AccessLog } from '../observability/access-log.js'
import { configReloads, reportConfigLoaded, reportLiveCounts, reportStoreHealth } from '../observability/metrics.js'
import { createHandler, type HandlerHost } from './handler.js'
import { Deadlines } from './deadlines.js'
import type { Tracing } from '../observability/tracing.js'
import { PORTICO_VERSION } from '../version.js'
import { errorBody, type ErrorCode } from './errors.js'
import type { PluginDefinition } from '../plugins/contract.js'
import type { Store } from '../state/store.js'
import { MemoryStore } from '../state/memory.js'
import type { DataPlane, DataPlaneOptions, DataPlaneStatus, SnapshotMeta } from './data-plane.js'
import { listenHandle } from './listen-handle.js'

/** host:port | [v6]:port | port → listen arguments. */
export function parseListen(listen: string | number): { host: string; port: number } {
  if (typeof listen === 'number') return { host: '0.0.0.0', port: listen }
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen)
  if (m !== null) return { host: m[1] ?? m[2]!, port: Number(m[3]) }
  if (/^\d+$/.test(listen)) return { host: '0.0.0.0', port: Number(listen) }
  throw new Error(`invalid listen address "${listen}" (use host:port)`)
}

/**
 * Answers a request Node could not parse. Runs outside the request handler, so it writes a raw
 * HTTP/1.1 response with the catalogue's JSON body and closes the connection.
 */
function clientErrorReply(err: NodeJS.ErrnoException & { bytesParsed?: number }, socket: Socket): void {
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
    socket.destroy()
    return
  }
  let code: ErrorCode = 'bad_request'
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      code = 'header_fields_too_large'
      break
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADER_TIMEOUT':
      code = 'request_timeout'
      break
  }
  const status = code === 'header_fields_too_large' ? 431 : code === 'request_timeout' ? 408 : 400
  const reason = code === 'header_fields_too_large' ? 'Request Header Fields Too Large' : code === 'request_timeout' ? 'Request Timeout' : 'Bad Request'
  // No request id exists yet: the request never got that far.
  const body = errorBody(code, '', code === 'bad_request' ? 'malformed request' : undefined)
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
  socket.destroySoon?.()
}

class PorticoDataPlane implements DataPlane, HandlerHost {
  snapshot: Snapshot | undefined = undefined
  draining = false
  inFlight = 0
  readonly logger: Logger
  readonly accessLog: AccessLog
  readonly proto = 'http' as const
  readonly deadlines = new Deadlines()
  tracing: Tracing | null = null
  /** The tracing config the current Tracing was made from. */
  #tracingKey = 'null'
  #config: Config | undefined
  #server: http.Server | undefined
  #loading: Promise<void> = Promise.resolve()
  /** A fixed plugin registry (tests, embedding), or null: built-ins loaded as the config names them. */
  readonly #plugins: ReadonlyMap<string, PluginDefinition> | null
  readonly #memory = new MemoryStore()
  /** The shared Store and the config it was made from; replaced only when that config changes. */
  #store: { key: string; store: Store } | undefined

  constructor(opts: DataPlaneOptions) {
    this.logger = opts.logger
    this.#plugins = opts.plugins ?? null
    this.accessLog = new AccessLog()
  }

  load(config: Config, meta: SnapshotMeta): Promise<void> {
    // Loads are serialized so two quick reloads cannot interleave their carry-over.
    const run = this.#loading.then(() => this.#load(config, meta))
    this.#loading = run.catch(() => undefined)
    return run
  }

  async #load(config: Config, meta: SnapshotMeta): Promise<void> {
    let next: Snapshot
    // Redis and OpenTelemetry are loaded only when the config uses them (start-up time and ~RSS
    // of a gateway that does not).
    const store = await this.#storeFor(config)
    try {
      let registry = this.#plugins
      if (registry === null) registry = await loadPlugins(pluginNamesIn(config))
      else await loadSchemaDefaults()
      next = compileSnapshot(config, {
        version: meta.version,
        hash: meta.hash,
        logger: this.logger,
        registry,
        previous: this.snapshot,
        store,
        memory: this.#memory,
      })
    } catch (err) {
      configReloads.labels('failed').inc()
      throw err
    }
    // Upstreams with service discovery and no targets yet: wait (bounded) for their first answer,
    // so a fresh Snapshot does not go live answering 503 no_healthy_target.
    await Promise.all([...next.clusters.values()].map((c) => c.ready()))
    await this.#applyTracing(config)
    const prev = this.snapshot
    const prevListen = this.#config?.server?.listen
    this.snapshot = next // the swap: requests read this reference once, at arrival
    this.#config = config
    configReloads.labels('applied').inc()
    reportConfigLoaded(meta.version, meta.hash)
    if (prev !== undefined) {
      if (this.#server !== undefined && prevListen !== config.server?.listen) this.logger.warn('server.listen changed: restart to apply it')
      void retireSnapshot(prev, next, this.logger)
    }
    this.logger.info({ version: meta.version, hash: meta.hash.slice(0, 12), routes: next.routes.length }, 'config loaded')
  }

  /** Tracing lives with the process, not the Snapshot: rebuilt only when its config changes. */
  async #applyTracing(config: Config): Promise<void> {
    const t = config.tracing
    const on = t !== undefined && t.enabled !== false
    const key = on ? JSON.stringify(t) : 'null'
    if (key === this.#tracingKey) return
    this.#tracingKey = key
    const old = this.tracing
    const { Tracing } = on ? await import('../observability/tracing.js') : { Tracing: null }
    this.tracing =
      Tracing !== null && on
      ? new Tracing(
          {
            serviceName: t.service_name ?? 'portico',
            sampleRatio: t.sample_ratio ?? 0.1,
            endpoint: t.otlp.endpoint,
            headers: t.otlp.headers ?? {},
            timeoutMs: parseDuration(t.otlp.timeout ?? '5s'),
            b3: (t.propagators ?? []).includes('b3'),
            pluginEvents: t.plugin_events ?? false,
          },
          PORTICO_VERSION,
          this.logger,
        )
      : null
    if (old !== null) void old.shutdown().catch(() => undefined)
  }

  async #storeFor(config: Config): Promise<Store> {
    const redis = config.store?.redis
    const key = JSON.stringify(redis ?? null)
    if (this.#store?.key === key) return this.#store.store
    const old = this.#store?.store
    const store =
      redis === undefined
        ? this.#memory
        : new (await import('../state/redis.js')).RedisStore({ url: redis.url, timeoutMs: parseDuration(redis.timeout ?? '100ms'), prefix: redis.prefix ?? 'portico:' })
    this.#store = { key, store }
    reportStoreHealth(() => ({ kind: store.kind, up: store.healthy() }))
    // Plugins of the previous Snapshot may still use the old store for a moment: close it later.
    if (old !== undefined && old !== this.#memory) setTimeout(() => void old.close(), 60_000).unref()
    return store
  }

  async listen(): Promise<AddressInfo> {
    const config = this.#config
    if (config === undefined) throw new Error('listen() before the first load()')
    if (this.#server !== undefined) return this.#server.address() as AddressInfo
    const s = config.server ?? {}
    const server = http.createServer(
      {
        maxHeaderSize: parseSize(s.max_header_size ?? '16kb'),
        headersTimeout: parseDuration(s.header_timeout ?? '10s'),
        // The whole-request deadline is the upstream's business (timeouts.total); a long upload is legal.
        requestTimeout: 0,
        keepAliveTimeout: parseDuration(s.keep_alive_timeout ?? '5s'),
        requireHostHeader: true,
        joinDuplicateHeaders: false,
        insecureHTTPParser: false,
      },
      createHandler(this),
    )
    server.on('clientError', clientErrorReply)
    let connections = 0
    server.on('connection', (socket: Socket) => {
      connections++
      socket.once('close', () => connections--)
    })
    reportLiveCounts(() => ({ inFlight: this.inFlight, connections }))
    this.#server = server
    const { host, port } = parseListen(s.listen ?? '0.0.0.0:8080')
    // A socket the control plane owns (--handoff) is listened on instead of binding a new one.
    const inherited = await listenHandle()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(inherited ?? { host, port }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const addr = server.address() as AddressInfo
    this.logger.info({ address: addr.address, port: addr.port }, 'data plane listening')
    return addr
  }

  async drain(timeoutMs: number): Promise<void> {
    if (this.draining) return
    this.draining = true
    const server = this.#server
    if (server !== undefined) {
      // Stop accepting; idle keep-alive connections close now, busy ones after their response
      // (the handler marks responses `connection: close` while draining).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const deadline = Date.now() + timeoutMs
      while (this.inFlight > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25))
        server.closeIdleConnections()
      }
      if (this.inFlight > 0) this.logger.warn({ in_flight: this.inFlight }, 'drain timeout: closing remaining connections')
      server.closeAllConnections()
      await closed
    }
    const snap = this.snapshot
    if (snap !== undefined) await retireSnapshot(snap, undefined, this.logger)
    if (this.#store !== undefined && this.#store.store !== this.#memory) await this.#store.store.close()
    if (this.tracing !== null) await this.tracing.shutdown().catch(() => undefined)
    await this.#memory.close()
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
      ready: snap !== undefined && this.#server?.listening === true && !this.draining,
      version: snap?.version ?? 0,
      hash: snap?.hash ?? '',
      inFlight: this.inFlight,
      routes: snap?.routes.length ?? 0,
      upstreams,
    }
  }
}

export function createDataPlane(opts: DataPlaneOptions): DataPlane {
  return new PorticoDataPlane(opts)
}
