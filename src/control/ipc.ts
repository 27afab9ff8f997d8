// Messages between the primary (control plane) and data-plane workers over the node:cluster IPC
// channel. Workers start by sending `hello` once their handlers are installed, because messages
// sent to a child before it listens for them are lost.
import type { MetricObjectWithValues, MetricValue } from 'prom-client'
import type { Config } from '../config/schema/index.js'

/** One validated config document, as the primary hands it out. */
export interface ConfigDoc {
  version: number
  hash: string
  config: Config
}

export type ToWorker =
  | ({ type: 'load' } & ConfigDoc)
  | { type: 'drain'; timeout_ms: number }
  | { type: 'metrics_req'; id: number }

export type WorkerMetrics = Array<MetricObjectWithValues<MetricValue<string>>>

export type FromWorker =
  | { type: 'hello' }
  | { type: 'loaded'; version: number }
  | { type: 'load_failed'; version: number; error: string }
  | { type: 'metrics'; id: number; metrics: WorkerMetrics }

const TYPES = new Set(['hello', 'loaded', 'load_failed', 'metrics'])

/** Narrow an IPC message to ours (cluster and prom-client also use the channel). */
export function isFromWorker(msg: unknown): msg is FromWorker {
  return typeof msg === 'object' && msg !== null && TYPES.has((msg as { type?: unknown }).type as string)
}

export function isToWorker(msg: unknown): msg is ToWorker {
  const t = typeof msg === 'object' && msg !== null ? (msg as { type?: unknown }).type : undefined
  return t === 'load' || t === 'drain' || t === 'metrics_req'
}
