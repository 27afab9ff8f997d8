// The control plane of one Portico instance: reads the config from its source (the file, or a
// config center: etcd, Consul, ZooKeeper or Apollo), starts the data plane (cluster workers, or in-process with
// --no-cluster), serves the admin listener and API, runs the one reload pipeline (source read →
// validate → version → load workers → record) for file changes, config-center events, SIGHUP and admin
// writes, and drains on SIGTERM/SIGINT.
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import type { Logger, LevelWithSilent } from 'pino'
import { listenersKey, listenersLabel, resolveListeners } from '../config/listeners.js'
import { formatErrors } from '../config/errors.js'
import type { Config } from '../config/schema/index.js'
import { parseDuration } from '../config/units.js'
import { createLogger } from '../observability/logger.js'
import { configReloads } from '../observability/metrics.js'
import { resolveAdminListen, startAdminServer, type AdminServer } from './admin/server.js'
import type { CachePurge, CachePurgeResult, ConfigDoc } from './ipc.js'
import type { WorkerPool } from './pool.js'
import { InProcessPool } from './single.js'
import { ClusterSupervisor } from './supervisor.js'
import { FileSource, loadFirst } from './sources/file.js'
import type { ConfigSource, SourceRead, Trigger } from './sources/source.js'
import { PORTICO_VERSION } from '../core/version.js'
import { revocationWriterFor } from './revocation-writer.js'
import { certificateStatus, routeStatus, storeStatus, upstreamStatus, websocketStatus, workerStatus, type StatusDocument } from './status.js'
import { sharedStateWarnings } from '../config/shared-state.js'
import { Handoff, inheritedHandoff } from './handoff.js'
import { AdminApi } from './admin/api.js'
import { apiEndpoint } from './admin/operations.js'
import { PipelineAuthority } from './admin/pipeline-authority.js'
import type { ApplyOptions, ApplyResult } from './admin/authority.js'
import { configCenterSource } from './sources/center.js'
import { sdNotified, sdNotify } from './sd-notify.js'
import { ApiError } from './admin/api.js'
import type { Fleet } from './fleet.js'
import type { EtcdSource } from './sources/etcd.js'
import { formatHostPort } from '../core/address.js'

export interface PrimaryOptions {
  file: string
  /** --workers; overrides `workers:` in the config. */
  workers: number | 'auto' | undefined
  /** false with --no-cluster: the data plane runs in this process. */
  cluster: boolean
  /** --handoff: the primary owns the listening sockets so SIGUSR2 can upgrade in place (handoff.ts). */
  handoff?: boolean
}

const DEFAULT_DRAIN = '30s'
/** Reloads listed in /status (`reloads`, newest first); the log keeps every one. */
const RELOADS_KEPT = 10

export interface ReloadErrorInfo {
  file?: string
  path?: string
  line?: number
  column?: number
  message: string
  hint?: string
  /** Set when a worker, not the validator, rejected the document. */
  worker?: number
}

export interface ReloadRecord {
  at: string
  trigger: Trigger
  /** ok: every worker swapped; rejected: invalid file; failed: no worker could compile it; partial: some could. */
  result: 'ok' | 'rejected' | 'failed' | 'partial'
  version: number | null
  errors: ReloadErrorInfo[]
}

function workerCount(flag: PrimaryOptions['workers'], config: Config): number {
  const w = flag ?? config.workers ?? 'auto'
  return w === 'auto' ? availableParallelism() : w
}

/** Exit with a message on stderr, for failures before the logger exists or that an operator must read. */
function fail(message: string): never {
  process.stderr.write(`portico: ${message}\n`)
  process.exit(1)
}

export async function runPrimary(opts: PrimaryOptions): Promise<void> {
  const file = resolve(opts.file)
  const { result: first, rawHash: firstRaw } = await loadFirst(file, opts.file)
  if (!first.ok) {
    process.stderr.write(formatErrors(first.errors) + '\n')
    fail(`${opts.file}: ${first.errors.length} error${first.errors.length === 1 ? '' : 's'}; not starting`)
  }
  const config = first.config
  const logger = createLogger((config.log?.level ?? 'info') as LevelWithSilent, { pid: process.pid, role: 'primary' })
  try {
    resolveAdminListen(config.admin?.listen, config.admin?.token, (config.admin?.tokens?.length ?? 0) > 0)
  } catch (err) {
    fail((err as Error).message)
  }

  // config_center.<etcd|consul|zookeeper|apollo>: the file holds the settings, the center the
  // resources (or the local cache of them).
  const source: ConfigSource =
    (await configCenterSource(config, file, logger)) ?? new FileSource({ file, displayFile: opts.file, logger, first: { config, hash: first.hash }, rawHash: firstRaw })
  let initial: { config: Config; hash: string }
  try {
    initial = await source.initial()
  } catch (err) {
    fail((err as Error).message)
  }

  const pool: WorkerPool = opts.cluster ? new ClusterSupervisor(workerCount(opts.workers, config), logger) : new InProcessPool(logger)
  const control = new Controller({ displayFile: opts.file, pool, logger, doc: { version: 1, hash: initial.hash, config: initial.config }, source })
  control.installSignals()
  const handoff = opts.handoff === true || inheritedHandoff() ? new Handoff(logger) : null
  let ready = false
  // Node's default for SIGUSR2 is to terminate, so it is handled from the start: a primary without
  // --handoff, or not ready yet, only explains.
  process.on('SIGUSR2', () => {
    if (handoff === null) return logger.error('SIGUSR2: in-place upgrade needs `portico start --handoff`; restart this instance instead')
    if (!ready) return logger.warn('SIGUSR2: this primary is not ready yet; send it again once it serves')
    handoff.upgrade(control.admin?.fd ?? null, () => {
      // The new primary accepts on the admin socket too: stop answering probes here at once.
      void control.admin?.close()
      void control.shutdown('upgrade')
    })
  })

  try {
    control.admin = await startAdminServer({
      fd: handoff?.adminFd,
      listen: config.admin?.listen,
      token: config.admin?.token,
      hosts: config.admin?.hosts,
      logger,
      source: control,
      revocations: revocationWriterFor(() => control.current.config, pool.instanceStore),
      api: new AdminApi({ authority: new PipelineAuthority(control), logger, extra: { '/admin/fleet': { ...apiEndpoint('/admin/fleet'), handle: async () => control.fleetReply() } } }),
      hasTokens: (config.admin?.tokens?.length ?? 0) > 0,
      tls: config.admin?.tls,
    })
  } catch (err) {
    fail((err as Error).message)
  }

  try {
    handoff?.prepare(resolveListeners(config), opts.cluster)
    await pool.start(control.current)
  } catch (err) {
    logger.error({ err }, 'data plane failed to start')
    pool.kill()
    fail(`data plane failed to start: ${(err as Error).message}`)
  }
  control.watch()
  await control.startFleet(source, initial.config)
  for (const w of sharedStateWarnings(initial.config)) logger.warn(w)
  // ACME issuance runs here, after the workers' listeners are up (they answer HTTP-01).
  await control.applyAcme(initial.config)
  logger.info(
    { version: PORTICO_VERSION, mode: pool.mode, workers: pool.workers().length, listen: listenersLabel(config), config_version: 1, hash: initial.hash, source: source.name },
    'portico ready',
  )
  sdNotify({ READY: '1', STATUS: `serving config version 1 (${initial.hash.slice(0, 12)})` }, logger)
  ready = true
  // In an in-place upgrade, systemd must learn the new MAINPID before the old primary exits.
  if (handoff !== null) await sdNotified()
  handoff?.notifyParent()
}

interface ControllerInit {
  displayFile: string
  pool: WorkerPool
  logger: Logger
  doc: ConfigDoc
  source: ConfigSource
}

class Controller {
  admin: AdminServer | null = null
  /** The fleet view (etcd source with config_center.etcd.fleet on); null otherwise. */
  fleet: Fleet | null = null
  #fleetOff = 'the fleet view needs the etcd config source (config_center.etcd): instances register there'
  current: ConfigDoc
  readonly #source: ConfigSource
  #displayFile: string
  #pool: WorkerPool
  #logger: Logger
  #startedAt = Date.now()
  #loadedAt = new Date().toISOString()
  #nextVersion: number
  #lastReload: ReloadRecord | null = null
  /** The last few reloads, newest first: the console's overview lists them with their errors. */
  #reloads: ReloadRecord[] = []
  #draining = false
  #reloading = false
  #lock: Promise<void> = Promise.resolve()
  #queued: { trigger: Trigger; force: boolean } | null = null
  /** server.listen is bound once by the first config; changing it needs a restart. */
  #boundListen: string
  #boundLabel: string
  #boundAdmin: string
  #boundWorkers: Config['workers']
  #boundAccept: Config['workers_accept']

  constructor(init: ControllerInit) {
    this.#source = init.source
    this.#displayFile = init.displayFile
    this.#pool = init.pool
    this.#logger = init.logger
    this.current = init.doc
    this.#nextVersion = init.doc.version + 1
    const c = init.doc.config
    this.#boundListen = listenersKey(c)
    this.#boundLabel = listenersLabel(c)
    this.#boundAdmin = JSON.stringify([c.admin?.listen, c.admin?.token, c.admin?.tls])
    this.#boundWorkers = c.workers
    this.#boundAccept = c.workers_accept
  }

  installSignals(): void {
    process.on('SIGHUP', () => this.requestReload('SIGHUP', true))
    process.on('SIGTERM', () => void this.shutdown('SIGTERM'))
    process.on('SIGINT', () => void this.shutdown('SIGINT'))
  }

  /** File changes and etcd events ask for a reload like SIGHUP does, only without forcing it. */
  watch(): void {
    this.#source.watch((trigger) => this.requestReload(trigger, false))
  }

  // --- fleet view (fleet.ts) ---

  /** With the etcd source: register this instance and follow the fleet (never waits for etcd). */
  async startFleet(source: ConfigSource, config: Config): Promise<void> {
    const etcd = config.config_center?.etcd
    if (source.name !== 'etcd' || etcd === undefined) return
    const f = etcd.fleet ?? {}
    if (f.enabled === false) {
      this.#fleetOff = 'the fleet view is off (config_center.etcd.fleet.enabled: false)'
      return
    }
    const src = source as EtcdSource
    const { Fleet } = await import('./fleet.js')
    const listen = resolveListeners(config).map((l) => ({ address: String(l.listen), proto: l.proto }))
    this.fleet = new Fleet({
      client: () => src.client(),
      prefix: f.prefix ?? `${src.prefix}_fleet/`,
      ttlSeconds: Math.max(1, Math.round(parseDuration(f.ttl ?? '10s') / 1000)),
      nodeId: f.node_id,
      timeoutMs: Math.max(1, parseDuration(etcd.timeout ?? '2s')),
      logger: this.#logger,
      version: PORTICO_VERSION,
      held: () => src.heldPosition(),
      local: () => {
        const r = this.readiness()
        const pos = src.servedPosition()
        const a = this.admin?.address
        return {
          admin: a === undefined ? null : formatHostPort({ host: a.address, port: a.port }),
          listen,
          config: { version: this.current.version, hash: this.current.hash, revision: pos?.revision ?? null, resources: pos?.resources ?? null },
          ready: r.ready,
          health_detail: (r as { detail?: string }).detail ?? (r.ready ? null : r.reason),
        }
      },
    })
    this.fleet.start()
  }

  /** GET /admin/fleet. */
  fleetReply(): { status: number; body: unknown } {
    const fleet = this.fleet
    if (fleet === null) throw new ApiError(409, 'fleet_unavailable', this.#fleetOff)
    const { entries, newest } = fleet.view()
    return { status: 200, body: { data: entries, total: entries.length, behind: entries.filter((e) => e.behind).length, newest_revision: newest?.revision ?? null, ...fleet.state() } }
  }

  // --- AdminSource ---

  readiness() {
    if (this.#draining) return { ready: false as const, reason: 'draining' }
    const detail = this.#source.readinessDetail?.()
    return detail === undefined ? this.#pool.readiness() : { ...this.#pool.readiness(), detail }
  }

  metrics(openMetrics = false): Promise<string> {
    return this.#pool.metrics(openMetrics)
  }

  /** DELETE /admin/cache: the cache plugin's purge command in every worker. */
  async purgeCache(p: CachePurge): Promise<CachePurgeResult> {
    const { counts, workers } = await this.#pool.pluginCommand('cache', 'purge', { ...p })
    return { memory: counts.memory ?? 0, tier2: counts.tier2 ?? 0, workers }
  }

  /** /status: routes from the serving config, upstreams live from every worker (per worker and merged). */
  async status(): Promise<StatusDocument> {
    const planes = await this.#pool.planeStatus()
    // Read the serving config after the await: a reload may land meanwhile, and the document must
    // not pair one version's number with another's routes.
    const cur = this.current
    const c = cur.config
    return {
      version: PORTICO_VERSION,
      mode: this.#pool.mode,
      pid: process.pid,
      uptime_s: Math.round((Date.now() - this.#startedAt) / 1000),
      ready: this.readiness().ready,
      draining: this.#draining,
      config: { file: this.#displayFile, version: cur.version, hash: cur.hash, loaded_at: this.#loadedAt },
      last_reload: this.#lastReload,
      reloads: this.#reloads,
      workers: workerStatus(this.#pool.workers(), planes),
      routes: routeStatus(c),
      upstreams: upstreamStatus(c, planes),
      store: storeStatus(planes),
      websockets: websocketStatus(planes),
      certificates: certificateStatus(planes),
      ...(this.#acme === null ? {} : { acme: this.#acme.renewals() }),
      ...(this.#source.status === undefined ? {} : { config_center: this.#source.status() }),
      ...(this.fleet === null ? {} : { fleet: this.fleet.summary() }),
    }
  }

  #record(r: ReloadRecord): ReloadRecord {
    this.#lastReload = r
    this.#reloads = [r, ...this.#reloads].slice(0, RELOADS_KEPT)
    return r
  }

  // --- reload ---

  /** Reloads run one at a time; requests arriving meanwhile collapse into one more run. */
  requestReload(trigger: Trigger, force: boolean): void {
    if (this.#draining) return
    if (this.#reloading) {
      this.#queued = { trigger, force: force || (this.#queued?.force ?? false) }
      return
    }
    this.#reloading = true
    this.#exclusive(() => this.#reload(trigger, force))
      .catch((err: unknown) => this.#logger.error({ err }, 'config reload crashed'))
      .finally(() => {
        this.#reloading = false
        const next = this.#queued
        this.#queued = null
        if (next !== null) this.requestReload(next.trigger, next.force)
      })
  }

  /** Source reloads and admin writes take turns, so each swap starts from the document that serves. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn)
    this.#lock = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  // --- ServingPipeline (admin/pipeline-authority.ts) ---

  serving(): ConfigDoc {
    return this.current
  }

  written(): Promise<Record<string, unknown> | null> {
    return this.#source.written(this.current)
  }

  /** An admin write: the source stores it (memory for a file, a transaction for etcd), then the pipeline reloads. */
  write(doc: Record<string, unknown>, opts: ApplyOptions): Promise<ApplyResult> {
    return this.#exclusive(async (): Promise<ApplyResult> => {
      const before = this.current
      if (before.hash !== opts.basedOn) return { ok: false, reason: 'conflict', errors: [] }
      if (this.#draining) return { ok: false, reason: 'rejected', errors: [{ path: '', message: 'the gateway is draining' }] }
      const stored = await this.#source.write(doc)
      if (!stored.ok) return stored
      const r = await this.#pipeline(opts.trigger, false)
      if (r === null) return { ok: true, version: this.current.version, hash: this.current.hash, changed: false, warnings: [] }
      const errors = r.errors.map((e) => ({ path: e.path ?? '', message: e.worker === undefined ? e.message : `worker ${e.worker}: ${e.message}`, ...(e.hint === undefined ? {} : { hint: e.hint }) }))
      if (r.result === 'rejected') return { ok: false, reason: 'invalid', errors }
      if (r.result === 'failed') return { ok: false, reason: 'rejected', errors }
      return { ok: true, version: r.version ?? this.current.version, hash: this.current.hash, changed: true, warnings: errors }
    })
  }

  async #reload(trigger: Trigger, force: boolean): Promise<void> {
    await this.#pipeline(trigger, force)
  }

  /**
   * The one reload pipeline: the source's document (read and validated) → a version → every
   * worker loads it → the record (/status last_reload). Null when there was nothing to load.
   */
  async #pipeline(trigger: Trigger, force: boolean): Promise<ReloadRecord | null> {
    const log = this.#logger
    const read: SourceRead = await this.#source.read(force)
    if (this.#draining || read.kind === 'unchanged') return null
    if (read.kind === 'invalid') {
      configReloads.inc({ result: 'rejected' })
      const errors = read.errors.map((e) => ({ ...e, file: e.file ?? (trigger === 'admin' ? 'admin' : this.#displayFile) }))
      const record = this.#record({ at: new Date().toISOString(), trigger, result: 'rejected', version: null, errors })
      log.error(
        { trigger, source: this.#source.name, errors, serving_version: this.current.version },
        `config reload rejected; version ${this.current.version} keeps serving:\n${formatErrors(errors.map((e) => ({ ...e, file: e.file, line: e.line ?? 0, column: e.column ?? 0 })))}`,
      )
      return record
    }
    // SIGHUP reloads the same document too (an operator's "load it again"); a watch event or an
    // admin write that changes nothing resolved (an ${ENV} written out) loads nothing.
    if (read.hash === this.current.hash && !(force && trigger === 'SIGHUP')) {
      if (trigger !== 'admin') log.info({ trigger, hash: read.hash }, 'config source changed but the document is the same; nothing to reload')
      this.#source.served(read.hash)
      this.fleet?.poke()
      return null
    }
    const record = await this.#swap(trigger, read.config, read.hash)
    if (record.result !== 'failed') this.#source.served(read.hash)
    this.fleet?.poke()
    return record
  }

  /** Hands a validated document to the data plane; the previous one keeps serving if no worker loads it. */
  async #swap(trigger: Trigger, config: Config, hash: string): Promise<ReloadRecord> {
    const log = this.#logger
    this.#warnRestartOnly(config)
    const previous = this.current
    const doc: ConfigDoc = { version: this.#nextVersion++, hash, config }
    log.info({ trigger, version: doc.version, hash: doc.hash }, 'config reload: sending new version to the data plane')
    // systemd shows the unit "reloading" until READY=1 again, whichever version ends up serving.
    sdNotify({ RELOADING: '1', STATUS: `loading config version ${doc.version}` }, log)
    try {
      return await this.#load(trigger, doc, previous)
    } finally {
      sdNotify({ READY: '1', STATUS: `serving config version ${this.current.version} (${this.current.hash.slice(0, 12)})` }, log)
    }
  }

  async #load(trigger: Trigger, doc: ConfigDoc, previous: ConfigDoc): Promise<ReloadRecord> {
    const log = this.#logger
    const replies = await this.#pool.load(doc)
    // Each data plane counts its own applied/failed loads in configReloads; the primary adds only
    // what never reaches a worker (rejected).
    const failures = replies.filter((r): r is Extract<typeof r, { ok: false }> => !r.ok)
    const errors = failures.map((f) => ({ worker: f.slot, message: f.error }))

    if (replies.length > 0 && failures.length === replies.length) {
      // No worker could compile it: keep handing the previous document to restarted workers.
      this.#pool.setCurrent(previous)
      const record = this.#record({ at: new Date().toISOString(), trigger, result: 'failed', version: doc.version, errors })
      log.error({ trigger, version: doc.version, errors, serving_version: previous.version }, 'config reload failed in every worker; previous version keeps serving')
      return record
    }
    this.current = doc
    void this.applyAcme(doc.config)
    this.#loadedAt = new Date().toISOString()
    log.level = (doc.config.log?.level ?? 'info') as LevelWithSilent
    const record = this.#record({ at: this.#loadedAt, trigger, result: failures.length > 0 ? 'partial' : 'ok', version: doc.version, errors })
    if (failures.length > 0) log.error({ version: doc.version, errors }, 'config reload applied by some workers only')
    else log.info({ trigger, version: doc.version, workers: replies.length }, 'config reloaded')
    return record
  }

  #warnRestartOnly(next: Config): void {
    if (listenersKey(next) !== this.#boundListen) {
      this.#logger.warn({ listening: this.#boundLabel, configured: listenersLabel(next) }, 'server.listen changed: a restart is needed to bind the new address; other changes apply now')
    }
    if (JSON.stringify([next.admin?.listen, next.admin?.token, next.admin?.tls]) !== this.#boundAdmin) {
      this.#logger.warn('admin.listen, admin.token or admin.tls changed: they apply at the next restart')
    }
    if (next.workers !== this.#boundWorkers) {
      this.#logger.warn({ configured: next.workers }, 'workers changed: the number of workers changes at the next restart')
    }
    if (next.workers_accept !== this.#boundAccept) {
      this.#logger.warn({ configured: next.workers_accept }, 'workers_accept changed: it applies at the next restart')
    }
  }

  // --- ACME (tls/acme): issuance and renewal in the primary only ---

  #acme: import('../tls/acme/manager.js').AcmeManager | null = null
  /** What the manager's storage was made from: a change (fleet mode on/off, store, keys) makes a new manager. */
  #acmeStorageKey = ''
  #acmeStore: import('../state/store.js').Store | null = null

  async applyAcme(config: Config): Promise<void> {
    const acme = config.acme
    const fleet = acme?.storage?.backend === 'redis'
    const storageKey = JSON.stringify([acme?.storage_dir, fleet ? [acme?.storage, config.store?.redis, acme?.directory] : null])
    if (acme === undefined || (this.#acme !== null && storageKey !== this.#acmeStorageKey)) {
      await this.#acme?.stop()
      this.#acme = null
      await this.#acmeStore?.close()
      this.#acmeStore = null
      if (acme === undefined) return
    }
    if (this.#acme !== null) return this.#acme.update(acme)
    this.#acmeStorageKey = storageKey
    const { AcmeManager } = await import('../tls/acme/manager.js')
    let storage: import('../tls/acme/storage.js').AcmeStorage | undefined
    const redis = config.store?.redis
    if (fleet && redis !== undefined) {
      // Its own connection: ACME calls are few and not on the request path, so a longer deadline
      // than the plugins' (a loaded Redis must not fail an order that took a minute at the CA).
      const { RedisStore } = await import('../state/redis.js')
      const store = new RedisStore({ ...redis, timeoutMs: Math.max(parseDuration(redis.timeout ?? '100ms'), 2000), prefix: redis.prefix ?? 'portico:' })
      this.#acmeStore = store
      const { storeStorageFor } = await import('../tls/acme/store-storage.js')
      storage = storeStorageFor(acme, store, (err) => this.#logger.debug({ err: err.message }, 'acme: store call failed'))
      await store.ready(2000).catch(() => this.#logger.warn('acme: store.redis not reachable yet; issuance waits for it, stored certificates keep serving'))
    }
    this.#acme = new AcmeManager(acme, this.#logger, undefined, storage === undefined ? {} : { storage })
    await this.#acme.start().catch((err: Error) => this.#logger.error({ err: err.message }, 'acme storage unusable; no certificates will be issued'))
  }

  // --- shutdown ---

  async shutdown(signal: NodeJS.Signals | 'upgrade'): Promise<void> {
    if (this.#draining) {
      this.#logger.warn({ signal }, 'second signal while draining: exiting now')
      this.#pool.kill()
      process.exit(1)
    }
    this.#draining = true
    // Not on an upgrade: the new primary is the service now (it sent its own MAINPID and READY=1).
    if (signal !== 'upgrade') sdNotify({ STOPPING: '1', STATUS: `draining (${signal})` }, this.#logger)
    // The fleet record goes first: the instance is leaving (the source's client is closed next).
    await this.fleet?.stop()
    await this.#source.close()
    const timeoutMs = parseDuration(this.current.config.server?.drain_timeout ?? DEFAULT_DRAIN)
    this.#logger.info({ signal, timeout_ms: timeoutMs }, 'draining: no new connections; waiting for in-flight requests')
    try {
      await this.#pool.drain(timeoutMs)
    } catch (err) {
      this.#logger.error({ err }, 'drain failed')
    }
    await this.admin?.close()
    await this.#acme?.stop()
    await this.#acmeStore?.close()
    this.#logger.info('stopped')
    await sdNotified()
    process.exit(0)
  }
}
