// Messages between the primary (control plane) and data-plane workers over the node:cluster IPC
// channel. Workers start by sending `hello` once their handlers are installed, because messages
// sent to a child before it listens for them are lost.
import type { MetricObjectWithValues, MetricValue } from 'prom-client'
import type { Config } from '../config/schema/index.js'
import type { DataPlaneStatus } from '../dataplane/data-plane.js'
import type { InstanceOp } from '../state/instance.js'

/** One validated config document, as the primary hands it out. */
export interface ConfigDoc {
  version: number
  hash: string
  config: Config
}

/** Admin API cache purge (DELETE /admin/cache): one of key / prefix. */
export interface CachePurge {
  key?: string
  prefix?: string
}

export interface CachePurgeResult {
  /** Keys removed from the workers' memory tiers. */
  memory: number
  /** Keys removed from the shared second tier (Redis). */
  tier2: number
  /** Workers that answered. */
  workers: number
}

/** What the workers answered to a plugin command: their counts summed, and how many answered. */
export interface PluginCommandResult {
  counts: Record<string, number>
  workers: number
}

/** The answers of several workers, summed by key. */
export function sumCounts(answers: Iterable<Record<string, number>>): Record<string, number> {
  const total: Record<string, number> = {}
  for (const a of answers) for (const [k, v] of Object.entries(a)) total[k] = (total[k] ?? 0) + v
  return total
}

export type ToWorker =
  | ({ type: 'load' } & ConfigDoc)
  | { type: 'drain'; timeout_ms: number }
  | { type: 'metrics_req'; id: number }
  /** Live state for /status: answered with `status` (DataPlane.status()). */
  | { type: 'status_req'; id: number }
  /** An admin operation of a plugin (PluginDefinition.commands); `first` in one worker per instance. */
  | { type: 'plugin_command'; id: number; plugin: string; command: string; args: Record<string, unknown>; first: boolean }
  /** The answer to a worker's `store_call` (state/instance.ts). */
  | { type: 'store_result'; id: number; ok: boolean; value?: unknown; error?: string }
  /** A message published on the instance's shared memory Store (by the primary or any worker). */
  | { type: 'store_message'; channel: string; message: string }

export type WorkerMetrics = Array<MetricObjectWithValues<MetricValue<string>>>

export type FromWorker =
  | { type: 'hello' }
  | { type: 'loaded'; version: number }
  | { type: 'load_failed'; version: number; error: string }
  | { type: 'metrics'; id: number; metrics: WorkerMetrics }
  | { type: 'status'; id: number; status: DataPlaneStatus }
  | { type: 'plugin_answer'; id: number; counts: Record<string, number>; error?: string }
  /** A key operation on the instance's shared memory Store, which the primary holds (state/instance.ts). */
  | { type: 'store_call'; id: number; op: InstanceOp; args: unknown[] }
  | { type: 'store_publish'; channel: string; message: string }

const TYPES = new Set(['hello', 'loaded', 'load_failed', 'metrics', 'status', 'plugin_answer', 'store_call', 'store_publish'])

/** Narrow an IPC message to ours (cluster and prom-client also use the channel). */
export function isFromWorker(msg: unknown): msg is FromWorker {
  return typeof msg === 'object' && msg !== null && TYPES.has((msg as { type?: unknown }).type as string)
}

export function isToWorker(msg: unknown): msg is ToWorker {
  const t = typeof msg === 'object' && msg !== null ? (msg as { type?: unknown }).type : undefined
  return t === 'load' || t === 'drain' || t === 'metrics_req' || t === 'status_req' || t === 'plugin_command' || t === 'store_result' || t === 'store_message'
}
