// Single-process mode (--no-cluster): the data plane runs inside the control-plane process.
// Used for development, tests and embedding; reload and drain go through the same DataPlaneHost
// as a cluster worker.
import type { Logger } from 'pino'
import { enableProcessMetrics, registry } from '../observability/metrics.js'
import { DataPlaneHost } from './host.js'
import { exposition } from '../observability/exposition.js'
import type { ConfigDoc, PluginCommandResult } from './ipc.js'
import { MemoryStore } from '../state/memory.js'
import { runPluginCommand } from '../plugins/commands.js'
import type { LoadReply, Readiness, WorkerInfo, WorkerPlaneStatus, WorkerPool, WorkerState } from './pool.js'

export class InProcessPool implements WorkerPool {
  readonly mode = 'single' as const
  #host: DataPlaneHost
  #state: WorkerState = 'starting'
  #version: number | null = null
  #lastError: string | null = null
  #startedAt = Date.now()

  /** The data plane's shared Store without store.redis: in this process, so a plain memory Store. */
  readonly instanceStore = new MemoryStore()

  constructor(logger: Logger) {
    enableProcessMetrics()
    this.#host = new DataPlaneHost(logger, this.instanceStore)
  }

  async start(doc: ConfigDoc): Promise<void> {
    await this.#host.load(doc)
    this.#version = doc.version
    this.#state = 'ready'
  }

  async load(doc: ConfigDoc): Promise<LoadReply[]> {
    try {
      await this.#host.load(doc)
      this.#version = doc.version
      this.#lastError = null
      return [{ slot: 0, ok: true }]
    } catch (err) {
      this.#lastError = err instanceof Error ? err.message : String(err)
      return [{ slot: 0, ok: false, error: this.#lastError }]
    }
  }

  setCurrent(): void {
    // The one data plane already holds whatever loaded last; there is no worker to restart.
  }

  async drain(timeoutMs: number): Promise<void> {
    this.#state = 'draining'
    await this.#host.drain(timeoutMs)
    this.#state = 'exited'
  }

  kill(): void {
    this.#state = 'exited'
  }

  readiness(): Readiness {
    if (this.#state === 'ready') return { ready: true }
    return { ready: false, reason: this.#state === 'draining' || this.#state === 'exited' ? 'draining' : 'data plane not loaded yet' }
  }

  workers(): WorkerInfo[] {
    return [
      {
        slot: 0,
        id: 0,
        pid: process.pid,
        state: this.#state,
        restarts: 0,
        config_version: this.#version,
        last_error: this.#lastError,
        started_at: new Date(this.#startedAt).toISOString(),
      },
    ]
  }

  async metrics(openMetrics = false): Promise<string> {
    if (!openMetrics) return registry.metrics()
    return exposition([await registry.getMetricsAsJSON()], true)
  }

  planeStatus(): Promise<WorkerPlaneStatus[]> {
    return Promise.resolve([{ slot: 0, status: this.#host.listening ? this.#host.plane.status() : null }])
  }

  async pluginCommand(plugin: string, command: string, args: Record<string, unknown>): Promise<PluginCommandResult> {
    return { counts: await runPluginCommand(plugin, command, args, true), workers: 1 }
  }
}
