// Connection-level limits every listener applies, whatever its protocol: the live count, the cap
// on connections per worker, and how often Node checks its header timer.
import type { Server, Socket } from 'node:net'
import { connectionsClosed } from '../../observability/metrics.js'

export interface ConnectionLimits {
  /** server.max_connections: connections per worker above this are closed at accept (0 = no cap). */
  maxConnections: number
}

/**
 * How often Node checks its header timer (server.header_timeout, which also times a connection
 * that never sends a byte, from accept). Node's default is 30 s, so a 2 s header timeout fired
 * anywhere between 2 and 32 s and silent connections piled up: a tenth of the timeout instead, so
 * each fires within ~10% of its value.
 */
export function checkingIntervalMs(headersTimeoutMs: number): number {
  return Math.min(30_000, Math.max(50, Math.floor(headersTimeoutMs / 10)))
}

/** Counts a server's open connections and caps them (node:net's maxConnections, which closes at accept). */
export class ConnectionGuard {
  connections = 0

  constructor(server: Server, limits: ConnectionLimits) {
    if (limits.maxConnections > 0) {
      server.maxConnections = limits.maxConnections
      server.on('drop', () => connectionsClosed.inc({ reason: 'max_connections' }))
    }
    server.on('connection', (socket: Socket) => {
      this.connections++
      socket.once('close', () => this.connections--)
    })
  }
}
