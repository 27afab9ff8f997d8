// What the request path needs from its owner, the data plane (dataplane/): the current Snapshot,
// the process-wide counters, logger, access log, deadlines and tracing. A listener passes its own
// scheme with each request's exchange (proto), so one data plane serves every listener.
import type { Logger } from 'pino'
import type { Snapshot } from '../snapshot/compile.js'
import type { AccessLog } from '../observability/access-log.js'
import type { Tracing } from '../observability/tracing.js'
import type { Deadlines } from './deadlines.js'
import type { WebSocketSessions } from './ws-sessions.js'

export interface ProxyEnv {
  snapshot: Snapshot | undefined
  draining: boolean
  inFlight: number
  /** One request ended (inFlight is counted up by the entry, down through here). */
  requestEnded(): void
  readonly logger: Logger
  readonly accessLog: AccessLog
  readonly deadlines: Deadlines
  /** OpenTelemetry tracing, or null when off (one null check per request). */
  readonly tracing: Tracing | null
  /** Open WebSocket sessions (proxy/upgrade.ts): route counts, and what a drain closes. */
  readonly websockets: WebSocketSessions
}
