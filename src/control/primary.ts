// The control plane of one Portico instance: loads and validates the config file, starts the
// data plane (cluster workers, or in-process with --no-cluster), serves the admin listener,
// reloads on file change or SIGHUP, and drains on SIGTERM/SIGINT.
import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Logger, LevelWithSilent } from 'pino'
import { loadConfigFile } from '../config/load.js'
import { listenersKey, listenersLabel } from '../config/listeners.js'
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
import { watchConfigFile, type FileWatch } from './sources/file.js'
import { PORTICO_VERSION } from '../core/version.js'
import { revocationWriterFor } from './revocation-writer.js'
import { certificateStatus, routeStatus, storeStatus, upstreamStatus, websocketStatus, workerStatus, type StatusDocument } from './status.js'
import { BUILTIN_CHECKS } from '../snapshot/document-checks.js'

export interface PrimaryOptions {
  file: string
  /** --workers; overrides `workers:` in the config. */
  workers: number | 'auto' | undefined
  /** false with --no-cluster: the data plane runs in this process. */
  cluster: boolean
}

const DEFAULT_DRAIN = '30s'

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
  trigger: 'file' | 'SIGHUP'
  /** ok: every worker swapped; rejected: invalid file; failed: no worker could compile it; partial: some could. */
  result: 'ok' | 'rejected' | 'failed' | 'partial'
  version: number | null
  errors: ReloadErrorInfo[]
}

type Trigger = ReloadRecord['trigger']

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}

async function rawHash(file: string): Promise<string | null> {
  try {
    return sha256(await readFile(file))
  } catch {
    return null // missing or unreadable: the loader reports why
  }
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
  const firstRaw = await rawHash(file)
  const first = await loadConfigFile(opts.file, { checks: BUILTIN_CHECKS })
  if (!first.ok) {
    process.stderr.write(formatErrors(first.errors) + '\n')
    fail(`${opts.file}: ${first.errors.length} error${first.errors.length === 1 ? '' : 's'}; not starting`)
  }
  const config = first.config
  const logger = createLogger((config.log?.level ?? 'info') as LevelWithSilent, { pid: process.pid, role: 'primary' })
  try {
    resolveAdminListen(config.admin?.listen, config.admin?.token)
  } catch (err) {
    fail((err as Error).message)
  }

  const pool: WorkerPool = opts.cluster ? new ClusterSupervisor(workerCount(opts.workers, config), logger) : new InProcessPool(logger)
  const control = new Controller({ file, displayFile: opts.file, pool, logger, doc: { version: 1, hash: first.hash, config }, rawHash: firstRaw })
  control.installSignals()

  try {
    control.admin = await startAdminServer({
      listen: config.admin?.listen,
      token: config.admin?.token,
      hosts: config.admin?.hosts,
      logger,
      source: control,
      revocations: revocationWriterFor(() => control.current.config),
    })
  } catch (err) {
    fail((err as Error).message)
  }

  try {
    await pool.start(control.current)
  } catch (err) {
    logger.error({ err }, 'data plane failed to start')
    pool.kill()
    fail(`data plane failed to start: ${(err as Error).message}`)
  }
  control.watch()
  // ACME issuance runs here, after the workers' listeners are up (they answer HTTP-01).
  await control.applyAcme(config)
  logger.info(
    { version: PORTICO_VERSION, mode: pool.mode, workers: pool.workers().length, listen: listenersLabel(config), config_version: 1, hash: first.hash },
    'portico ready',
  )
}

interface ControllerInit {
  file: string
  displayFile: string
  pool: WorkerPool
  logger: Logger
  doc: ConfigDoc
  rawHash: string | null
}

class Controller {
  admin: AdminServer | null = null
  current: ConfigDoc
  #file: string
  #displayFile: string
  #pool: WorkerPool
  #logger: Logger
  #startedAt = Date.now()
  #loadedAt = new Date().toISOString()
  #nextVersion: number
  #rawHash: string | null
  #lastReload: ReloadRecord | null = null
  #watch: FileWatch | null = null
  #draining = false
  #reloading = false
  #queued: { trigger: Trigger; force: boolean } | null = null
  /** server.listen is bound once by the first config; changing it needs a restart. */
  #boundListen: string
  #boundLabel: string
  #boundAdmin: string
  #boundWorkers: Config['workers']

  constructor(init: ControllerInit) {
    this.#file = init.file
    this.#displayFile = init.displayFile
    this.#pool = init.pool
    this.#logger = init.logger
    this.current = init.doc
    this.#nextVersion = init.doc.version + 1
    this.#rawHash = init.rawHash
    const c = init.doc.config
    this.#boundListen = listenersKey(c)
    this.#boundLabel = listenersLabel(c)
    this.#boundAdmin = JSON.stringify([c.admin?.listen, c.admin?.token])
    this.#boundWorkers = c.workers
  }

  installSignals(): void {
    process.on('SIGHUP', () => this.requestReload('SIGHUP', true))
    process.on('SIGTERM', () => void this.shutdown('SIGTERM'))
    process.on('SIGINT', () => void this.shutdown('SIGINT'))
  }

  watch(): void {
    this.#watch = watchConfigFile(this.#file, () => this.requestReload('file', false), this.#logger)
  }

  // --- AdminSource ---

  readiness() {
    if (this.#draining) return { ready: false as const, reason: 'draining' }
    return this.#pool.readiness()
  }

  metrics(openMetrics = false): Promise<string> {
    return this.#pool.metrics(openMetrics)
  }

  purgeCache(p: CachePurge): Promise<CachePurgeResult> {
    return this.#pool.purgeCache(p)
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
      workers: workerStatus(this.#pool.workers(), planes),
      routes: routeStatus(c),
      upstreams: upstreamStatus(c, planes),
      store: storeStatus(planes),
      websockets: websocketStatus(planes),
      certificates: certificateStatus(planes),
    }
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
    this.#reload(trigger, force)
      .catch((err: unknown) => this.#logger.error({ err }, 'config reload crashed'))
      .finally(() => {
        this.#reloading = false
        const next = this.#queued
        this.#queued = null
        if (next !== null) this.requestReload(next.trigger, next.force)
      })
  }

  async #reload(trigger: Trigger, force: boolean): Promise<void> {
    const raw = await rawHash(this.#file)
    // Watch events also fire for writes that leave the bytes as they were (touch, chmod, editors' backups).
    if (!force && raw !== null && raw === this.#rawHash) return
    this.#rawHash = raw
    const log = this.#logger
    const result = await loadConfigFile(this.#displayFile, { checks: BUILTIN_CHECKS })
    if (this.#draining) return
    if (!result.ok) {
      configReloads.inc({ result: 'rejected' })
      this.#lastReload = { at: new Date().toISOString(), trigger, result: 'rejected', version: null, errors: result.errors }
      log.error(
        { trigger, file: this.#displayFile, errors: result.errors, serving_version: this.current.version },
        `config reload rejected; version ${this.current.version} keeps serving:\n${formatErrors(result.errors)}`,
      )
      return
    }
    if (!force && result.hash === this.current.hash) {
      log.info({ trigger, hash: result.hash }, 'config file changed but the document is the same; nothing to reload')
      return
    }
    this.#warnRestartOnly(result.config)

    const previous = this.current
    const doc: ConfigDoc = { version: this.#nextVersion++, hash: result.hash, config: result.config }
    log.info({ trigger, version: doc.version, hash: doc.hash }, 'config reload: sending new version to the data plane')
    const replies = await this.#pool.load(doc)
    // Each data plane counts its own applied/failed loads in configReloads; the primary adds only
    // what never reaches a worker (rejected).
    const failures = replies.filter((r): r is Extract<typeof r, { ok: false }> => !r.ok)
    const errors = failures.map((f) => ({ worker: f.slot, message: f.error }))

    if (replies.length > 0 && failures.length === replies.length) {
      // No worker could compile it: keep handing the previous document to restarted workers.
      this.#pool.setCurrent(previous)
      this.#lastReload = { at: new Date().toISOString(), trigger, result: 'failed', version: doc.version, errors }
      log.error({ trigger, version: doc.version, errors, serving_version: previous.version }, 'config reload failed in every worker; previous version keeps serving')
      return
    }
    this.current = doc
    void this.applyAcme(doc.config)
    this.#loadedAt = new Date().toISOString()
    log.level = (doc.config.log?.level ?? 'info') as LevelWithSilent
    this.#lastReload = { at: this.#loadedAt, trigger, result: failures.length > 0 ? 'partial' : 'ok', version: doc.version, errors }
    if (failures.length > 0) log.error({ version: doc.version, errors }, 'config reload applied by some workers only')
    else log.info({ trigger, version: doc.version, workers: replies.length }, 'config reloaded')
  }

  #warnRestartOnly(next: Config): void {
    if (listenersKey(next) !== this.#boundListen) {
      this.#logger.warn({ listening: this.#boundLabel, configured: listenersLabel(next) }, 'server.listen changed: a restart is needed to bind the new address; other changes apply now')
    }
    if (JSON.stringify([next.admin?.listen, next.admin?.token]) !== this.#boundAdmin) {
      this.#logger.warn('admin.listen or admin.token changed: they apply at the next restart')
    }
    if (next.workers !== this.#boundWorkers) {
      this.#logger.warn({ configured: next.workers }, 'workers changed: the number of workers changes at the next restart')
    }
  }

  // --- ACME (tls/acme): issuance and renewal in the primary only ---

  #acme: import('../tls/acme/manager.js').AcmeManager | null = null

  async applyAcme(config: Config): Promise<void> {
    if (config.acme === undefined) {
      await this.#acme?.stop()
      this.#acme = null
      return
    }
    if (this.#acme !== null) return this.#acme.update(config.acme)
    const { AcmeManager } = await import('../tls/acme/manager.js')
    this.#acme = new AcmeManager(config.acme, this.#logger)
    await this.#acme.start().catch((err: Error) => this.#logger.error({ err: err.message }, 'acme storage unusable; no certificates will be issued'))
  }

  // --- shutdown ---

  async shutdown(signal: NodeJS.Signals): Promise<void> {
    if (this.#draining) {
      this.#logger.warn({ signal }, 'second signal while draining: exiting now')
      this.#pool.kill()
      process.exit(1)
    }
    this.#draining = true
    this.#watch?.close()
    const timeoutMs = parseDuration(this.current.config.server?.drain_timeout ?? DEFAULT_DRAIN)
    this.#logger.info({ signal, timeout_ms: timeoutMs }, 'draining: no new connections; waiting for in-flight requests')
    try {
      await this.#pool.drain(timeoutMs)
    } catch (err) {
      this.#logger.error({ err }, 'drain failed')
    }
    await this.admin?.close()
    await this.#acme?.stop()
    this.#logger.info('stopped')
    process.exit(0)
  }
}
