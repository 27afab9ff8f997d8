// A buffered call to a named upstream, as the plugin contract offers it (PluginEnv.upstream): the
// interface lives here so plugins depend on the shape, not on upstream/'s implementation of it
// (upstream/client.ts). Failures carry a stable code for callers to branch on.
import type { IncomingHttpHeaders } from 'node:http'
import type { RequestContext } from './context.js'

export interface UpstreamCall {
  method: string
  /** Path and query, starting with '/'; the target URL's base path is prepended. */
  path: string
  headers: Record<string, string>
  /** Whole-call deadline in ms (connect + head + body). */
  timeoutMs: number
  /** Largest body accepted; beyond it the call fails with code `too_large`. */
  maxBytes: number
  /** The client request, for balancers that hash on it. */
  ctx: RequestContext
}

export interface UpstreamResult {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/** Why a call failed, stable for callers to branch on. */
export type UpstreamFailure =
  | 'timeout'
  | 'unreachable'
  | 'no_healthy_target'
  | 'too_large'
  /** The upstream's circuit breaker is open: the call was not sent. */
  | 'circuit_open'
  /** The upstream's max_concurrent_requests and queue are full (or no slot freed within the deadline). */
  | 'overloaded'

export class UpstreamCallError extends Error {
  readonly code: UpstreamFailure
  constructor(code: UpstreamFailure, message: string) {
    super(message)
    this.code = code
  }
}

/** One named upstream, callable by a plugin. */
export interface UpstreamCaller {
  readonly name: string
  request(call: UpstreamCall): Promise<UpstreamResult>
}
