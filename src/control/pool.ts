// What the control plane needs from "the workers", whether they are cluster processes
// (supervisor.ts) or the data plane inside this very process (single.ts). Reload, drain, status
// and metrics go through this one interface so both modes share primary.ts.
import type { Store } from '../state/store.js'
import type { ConfigDoc, PluginCommandResult } from './ipc.js'
import type { DataPlaneStatus } from '../dataplane/data-plane.js'

export type WorkerState = 'starting' | 'ready' | 'restarting' | 'draining' | 'exited'

export interface WorkerInfo {
  /** Stable slot number (0..N-1); a restarted worker keeps its slot. */
  slot: number
  /** cluster worker id (changes on restart); 0 in single-process mode. */
  id: number
  pid: number | null
  state: WorkerState
  restarts: number
  /** Config version whose Snapshot this worker serves, null before its first load. */
  config_version: number | null
  /** Last load error reported by this worker (its old Snapshot kept serving). */
  last_error: string | null
  started_at: string | null
}

export type LoadReply = { slot: number; ok: true } | { slot: number; ok: false; error: string }

/** One worker's answer to a live status request; status null = it did not answer in time. */
export interface WorkerPlaneStatus {
  slot: number
  status: DataPlaneStatus | null
}

export type Readiness = { ready: true } | { ready: false; reason: string }

export interface WorkerPool {
  readonly mode: 'cluster' | 'single'
  /** Start the data plane on `doc`; resolves once every worker loaded it and listens, rejects otherwise. */
  start(doc: ConfigDoc): Promise<void>
  /** Send `doc` to every live worker; one reply per worker (a worker that dies counts as failed). */
  load(doc: ConfigDoc): Promise<LoadReply[]>
  /** The document a worker (re)started from now on receives. */
  setCurrent(doc: ConfigDoc): void
  /** Stop accepting, let in-flight requests finish up to timeoutMs, then stop every worker. */
  drain(timeoutMs: number): Promise<void>
  /** Immediate stop (second signal): no waiting for anything. */
  kill(): void
  readiness(): Readiness
  workers(): WorkerInfo[]
  /** Prometheus exposition of the data plane plus this process's own registry. */
  metrics(openMetrics?: boolean): Promise<string>
  /** Live data-plane state of every worker (upstream health, breakers, in-flight) for /status. */
  planeStatus(): Promise<WorkerPlaneStatus[]>
  /**
   * Runs a plugin's admin command (PluginDefinition.commands) in every worker, `first` in one of
   * them; rejects when a worker reported a failure.
   */
  pluginCommand(plugin: string, command: string, args: Record<string, unknown>): Promise<PluginCommandResult>
  /** The Store the data plane shares without store.redis (revocations are written there then). */
  readonly instanceStore: Store
}
