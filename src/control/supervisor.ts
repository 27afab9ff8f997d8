// The cluster side of the control plane: forks N data-plane workers, hands each the current
// document, restarts the ones that die (exponential backoff), broadcasts reloads, drains, and
// gathers metrics. Workers share the listening port through node:cluster.
import cluster, { type Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { registry } from '../observability/metrics.js'
import { exposition } from '../observability/exposition.js'
import { isFromWorker, sumCounts, type PluginCommandResult, type ConfigDoc, type FromWorker, type ToWorker, type WorkerMetrics } from './ipc.js'
import type { LoadReply, Readiness, WorkerInfo, WorkerPlaneStatus, WorkerPool, WorkerState } from './pool.js'
import { WorkerRpc, type RpcTarget } from './rpc.js'
import { InstanceMemory, serveInstanceCall } from '../state/instance.js'
import type { Store } from '../state/store.js'

/** The worker messages that answer an RPC. */
type WorkerReply = Extract<FromWorker, { type: 'metrics' | 'status' | 'plugin_answer' }>

const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 10_000
/** A worker that stayed up this long is considered healthy again: its backoff resets. */
const STABLE_AFTER_MS = 30_000
/** A running worker that does not answer a load in this time counts as failed for that load. */
const LOAD_TIMEOUT_MS = 30_000
/**
 * A new worker's first load also covers its boot (module loading, JIT warm-up), which on a
 * loaded host took up to a minute; a worker that crashes while booting fails at once through
 * 'exit', so the long bound only matters for one that hangs.
 */
const FIRST_LOAD_TIMEOUT_MS = 120_000
/** Workers that do not answer a scrape in this time are left out of it. */
const METRICS_TIMEOUT_MS = 2_000
/** After the drain deadline, stragglers get this long before SIGKILL. */
const DRAIN_GRACE_MS = 5_000

interface Slot {
  index: number
  worker: Worker | null
  state: WorkerState
  restarts: number
  backoffMs: number
  startedAt: number
  version: number | null
  lastError: string | null
  restartTimer: NodeJS.Timeout | null
}

interface PendingLoad {
  version: number
  resolve(reply: LoadReply): void
}

/**
 * Node flags for data-plane workers: V8's young generation capped at 12 MB per semi-space (its
 * default on 64-bit is 16). Under load the young generation sits at its cap, so the cap is a
 * large part of a worker's RSS; a smaller one costs CPU, because scavenges come more often and
 * V8 adds the new space's size to the old generation's limit, so full GCs come more often too.
 * `npm run bench` (plain scenario, interleaved, 3 rounds each): 8 MB gave 99-108 MB RSS at 1.23x
 * the floor's CPU; 12 MB 115-120 MB at 1.20x; 16 MB 112-121 MB at 1.15-1.22x. 12 keeps a worker
 * under 120 MB with most of the CPU. An operator who sets --max-semi-space-size (NODE_OPTIONS
 * or the node command line) keeps their own value.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const own = [...execArgv, nodeOptions].some((a) => a.includes('--max-semi-space-size'))
  return own ? [...execArgv] : [...execArgv, '--max-semi-space-size=12']
}

/**
 * node:cluster's scheduling policy for `workers_accept`. Round robin has the primary accept every
 * connection and pass its handle over IPC; a new TLS connection per request cost 1,181-1,254 µs
 * of CPU that way against 791-1,006 with the workers accepting (one worker, wrk with Connection:
 * close, issue 13). With one worker there is nothing to spread, so auto takes the kernel's way.
 */
export function acceptPolicy(setting: 'auto' | 'round_robin' | 'kernel', workers: number): number {
  const kernel = setting === 'kernel' || (setting === 'auto' && workers === 1)
  return kernel ? cluster.SCHED_NONE : cluster.SCHED_RR
}

export class ClusterSupervisor implements WorkerPool {
  readonly mode = 'cluster' as const
  #logger: Logger
  #slots: Slot[]
  #current: ConfigDoc | null = null
  #draining = false
  #started = false
  #pending = new Map<number, PendingLoad[]>() // by slot
  /**
   * The memory Store every worker shares when no store.redis is configured (state/instance.ts);
   * its publishes reach every worker.
   */
  readonly #instanceMemory = new InstanceMemory((channel, message) => {
    for (const s of this.#slots) if (s.worker !== null && s.worker.isConnected()) this.#send(s.worker, { type: 'store_message', channel, message })
  })
  /** Request/reply to the workers: metrics scrapes, status, cache purges (rpc.ts). */
  readonly #rpc = new WorkerRpc<ToWorker, WorkerReply>()

  /** The shared Store without store.redis, as the primary's own code (revocations) uses it. */
  get instanceStore(): Store {
    return this.#instanceMemory
  }

  constructor(count: number, logger: Logger) {
    this.#logger = logger
    this.#slots = Array.from({ length: count }, (_, index) => ({
      index,
      worker: null,
      state: 'starting' as WorkerState,
      restarts: 0,
      backoffMs: BACKOFF_MIN_MS,
      startedAt: 0,
      version: null,
      lastError: null,
      restartTimer: null,
    }))
  }

  start(doc: ConfigDoc): Promise<void> {
    // One TLS session-ticket seed for all workers (forks inherit the environment): a ticket from one
    // worker resumes on any other. tls.session_tickets.secret replaces it for a whole fleet.
    process.env.PORTICO_TLS_TICKET_SEED ??= randomBytes(32).toString('hex')
    this.#current = doc
    // Frozen by setupPrimary: from here on every fork accepts connections this way.
    cluster.schedulingPolicy = acceptPolicy(doc.config.workers_accept ?? 'auto', this.#slots.length)
    cluster.setupPrimary({ execArgv: workerExecArgv() })
    const firstLoads = this.#slots.map((slot) => this.#expectLoad(slot, doc.version, FIRST_LOAD_TIMEOUT_MS))
    for (const slot of this.#slots) this.#fork(slot)
    return Promise.all(firstLoads).then((replies) => {
      const failed = replies.filter((r): r is Extract<LoadReply, { ok: false }> => !r.ok)
      if (failed.length > 0) throw new Error(`worker ${failed[0]!.slot} could not start: ${failed[0]!.error}`)
      this.#started = true
    })
  }

  setCurrent(doc: ConfigDoc): void {
    this.#current = doc
  }

  load(doc: ConfigDoc): Promise<LoadReply[]> {
    this.#current = doc
    const replies: Array<Promise<LoadReply>> = []
    for (const slot of this.#slots) {
      if (slot.worker === null || slot.state !== 'ready') continue // a starting worker gets #current on hello
      replies.push(this.#expectLoad(slot, doc.version))
      this.#send(slot.worker, { type: 'load', ...doc })
    }
    return Promise.all(replies)
  }

  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true
    const exits: Array<Promise<void>> = []
    for (const slot of this.#slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer)
      slot.restartTimer = null
      const w = slot.worker
      if (w === null) {
        slot.state = 'exited'
        continue
      }
      slot.state = 'draining'
      exits.push(new Promise<void>((resolve) => w.once('exit', () => resolve())))
      this.#send(w, { type: 'drain', timeout_ms: timeoutMs })
    }
    let killTimer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((resolve) => {
      killTimer = setTimeout(() => {
        this.#logger.warn('workers did not finish draining in time; killing them')
        this.kill()
        resolve()
      }, timeoutMs + DRAIN_GRACE_MS)
    })
    await Promise.race([Promise.all(exits), deadline])
    clearTimeout(killTimer)
  }

  kill(): void {
    this.#draining = true
    for (const slot of this.#slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer)
      slot.worker?.process.kill('SIGKILL')
    }
  }

  readiness(): Readiness {
    if (this.#draining) return { ready: false, reason: 'draining' }
    const notReady = this.#slots.filter((s) => s.state !== 'ready')
    if (notReady.length === 0) return { ready: true }
    return { ready: false, reason: `${notReady.length} of ${this.#slots.length} workers not ready (${notReady.map((s) => `${s.index}: ${s.state}`).join(', ')})` }
  }

  workers(): WorkerInfo[] {
    return this.#slots.map((s) => ({
      slot: s.index,
      id: s.worker?.id ?? 0,
      pid: s.worker?.process.pid ?? null,
      state: s.state,
      restarts: s.restarts,
      config_version: s.version,
      last_error: s.lastError,
      started_at: s.startedAt === 0 ? null : new Date(s.startedAt).toISOString(),
    }))
  }

  /**
   * Sums every worker's registry with prom-client's aggregation, plus this process's own registry
   * (config reload counters live here). prom-client's clusterMetrics() could not include the
   * primary's registry without duplicate metric families, so the workers' JSON is collected over
   * our own IPC message and merged with AggregatorRegistry.aggregate().
   */
  async metrics(openMetrics = false): Promise<string> {
    const live = this.#targets((s) => s.state !== 'starting')
    const answer = await this.#rpc.ask(live, (id) => ({ type: 'metrics_req', id }), METRICS_TIMEOUT_MS)
    if (answer.missing.length > 0) this.#logger.warn({ missing: answer.missing.length }, 'some workers did not answer the metrics scrape in time')
    const results: WorkerMetrics[] = []
    for (const r of answer.replies.values()) if (r.type === 'metrics') results.push(r.metrics)
    results.push(await registry.getMetricsAsJSON())
    return exposition(results, openMetrics)
  }

  /**
   * Asks every live worker for its DataPlane.status() over IPC. Workers that do not answer within
   * METRICS_TIMEOUT_MS (or die meanwhile) get status null, so a stuck worker cannot hang /status.
   */
  async planeStatus(): Promise<WorkerPlaneStatus[]> {
    const live = this.#targets((s) => s.state !== 'starting')
    const answer = await this.#rpc.ask(live, (id) => ({ type: 'status_req', id }), METRICS_TIMEOUT_MS)
    if (answer.missing.length > 0) this.#logger.warn({ missing: answer.missing.length }, 'some workers did not answer the status request in time')
    return this.#slots.map((s) => {
      const r = answer.replies.get(s.index)
      return { slot: s.index, status: r?.type === 'status' ? r.status : null }
    })
  }

  /**
   * Broadcasts a plugin command (e.g. the cache's purge) to every live worker over IPC; the first
   * one does the once-per-instance part (a shared tier, a broadcast to other instances). Rejects
   * when a worker reported a failure; workers that do not answer within METRICS_TIMEOUT_MS are
   * left out.
   */
  async pluginCommand(plugin: string, command: string, args: Record<string, unknown>): Promise<PluginCommandResult> {
    const live = this.#targets((s) => s.state === 'ready')
    const answer = await this.#rpc.ask(live, (id, i) => ({ type: 'plugin_command', id, plugin, command, args, first: i === 0 }), METRICS_TIMEOUT_MS)
    if (answer.missing.length > 0) this.#logger.warn({ missing: answer.missing.length, plugin, command }, 'some workers did not answer the plugin command in time')
    const counts: Array<Record<string, number>> = []
    const errors: string[] = []
    for (const r of answer.replies.values()) {
      if (r.type !== 'plugin_answer') continue
      counts.push(r.counts)
      if (r.error !== undefined) errors.push(r.error)
    }
    if (errors.length > 0) throw new Error(errors[0])
    return { counts: sumCounts(counts), workers: counts.length }
  }

  /** The connected workers whose slot passes `when`, as RPC targets. */
  #targets(when: (s: Slot) => boolean): RpcTarget<ToWorker>[] {
    return this.#slots.flatMap((s) => {
      const w = s.worker
      return w !== null && w.isConnected() && when(s) ? [{ slot: s.index, send: (m: ToWorker) => this.#send(w, m) }] : []
    })
  }

  #fork(slot: Slot): void {
    slot.restartTimer = null
    if (this.#draining) return
    const worker = cluster.fork({ PORTICO_WORKER_SLOT: String(slot.index) })
    slot.worker = worker
    slot.state = 'starting'
    slot.version = null
    slot.startedAt = Date.now()
    worker.on('message', (msg: unknown) => {
      if (isFromWorker(msg)) this.#onMessage(slot, worker, msg)
    })
    worker.on('exit', (code, signal) => this.#onExit(slot, worker, code, signal))
    // 'error' fires when sending to a worker that is going away; the 'exit' handler deals with it.
    worker.on('error', (err) => this.#logger.debug({ err, worker: worker.id }, 'worker channel error'))
  }

  #onMessage(slot: Slot, worker: Worker, msg: FromWorker): void {
    switch (msg.type) {
      case 'hello':
        if (this.#current !== null) this.#send(worker, { type: 'load', ...this.#current })
        break
      case 'loaded':
        slot.state = slot.state === 'draining' ? 'draining' : 'ready'
        slot.version = msg.version
        slot.lastError = null
        this.#settle(slot, msg.version, { slot: slot.index, ok: true })
        // A worker that started while a reload was being broadcast loaded the older document.
        if (this.#current !== null && msg.version !== this.#current.version && slot.state === 'ready') {
          this.#send(worker, { type: 'load', ...this.#current })
        }
        break
      case 'load_failed':
        slot.lastError = msg.error
        this.#settle(slot, msg.version, { slot: slot.index, ok: false, error: msg.error })
        break
      case 'store_call': {
        const id = msg.id
        serveInstanceCall(this.#instanceMemory, msg.op, msg.args).then(
          (value) => this.#send(worker, { type: 'store_result', id, ok: true, value }),
          (err: unknown) => this.#send(worker, { type: 'store_result', id, ok: false, error: err instanceof Error ? err.message : String(err) }),
        )
        break
      }
      case 'store_publish':
        void this.#instanceMemory.publish(msg.channel, msg.message)
        break
      case 'plugin_answer':
      case 'status':
      case 'metrics':
        this.#rpc.answer(slot.index, msg.id, msg)
        break
    }
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return
    slot.worker = null
    // Loads this worker never answered fail now rather than at the timeout.
    for (const p of this.#pending.get(slot.index) ?? []) p.resolve({ slot: slot.index, ok: false, error: `worker exited (code ${code}, signal ${signal})` })
    this.#pending.delete(slot.index)
    this.#rpc.gone(slot.index)
    if (this.#draining) {
      slot.state = 'exited'
      this.#logger.info({ worker: worker.id, worker_pid: worker.process.pid, code, signal }, 'worker exited')
      return
    }
    if (!this.#started) {
      // Startup failures are reported by start(); restarting would only loop on the same error.
      slot.state = 'exited'
      return
    }
    const upMs = Date.now() - slot.startedAt
    if (upMs >= STABLE_AFTER_MS) slot.backoffMs = BACKOFF_MIN_MS
    const delay = slot.backoffMs
    slot.backoffMs = Math.min(slot.backoffMs * 2, BACKOFF_MAX_MS)
    slot.restarts++
    slot.state = 'restarting'
    this.#logger.error(
      { worker: worker.id, worker_pid: worker.process.pid, slot: slot.index, code, signal, up_ms: upMs, restart_in_ms: delay, restarts: slot.restarts },
      'worker died unexpectedly; restarting',
    )
    slot.restartTimer = setTimeout(() => this.#fork(slot), delay)
  }

  /** A worker that died cannot answer a scrape: stop waiting for it. */
  #expectLoad(slot: Slot, version: number, timeoutMs = LOAD_TIMEOUT_MS): Promise<LoadReply> {
    return new Promise<LoadReply>((resolve) => {
      const list = this.#pending.get(slot.index) ?? []
      const timer = setTimeout(() => {
        this.#remove(slot.index, entry)
        resolve({ slot: slot.index, ok: false, error: `no answer within ${timeoutMs}ms` })
      }, timeoutMs)
      const entry: PendingLoad = {
        version,
        resolve: (reply) => {
          clearTimeout(timer)
          resolve(reply)
        },
      }
      list.push(entry)
      this.#pending.set(slot.index, list)
    })
  }

  #settle(slot: Slot, version: number, reply: LoadReply): void {
    const list = this.#pending.get(slot.index)
    const entry = list?.find((p) => p.version === version)
    if (entry === undefined) return
    this.#remove(slot.index, entry)
    entry.resolve(reply)
  }

  #remove(slotIndex: number, entry: PendingLoad): void {
    const list = this.#pending.get(slotIndex)
    if (list === undefined) return
    const i = list.indexOf(entry)
    if (i >= 0) list.splice(i, 1)
  }

  #send(worker: Worker, msg: ToWorker): void {
    if (!worker.isConnected()) return
    worker.send(msg)
  }
}
