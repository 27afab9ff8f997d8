// Upstream failures logged once per request at warn, with what an operator needs to find them
// (request id, route, target, error code, the low-level cause), and rate-limited per process so an
// outage produces a few lines per second plus a count of the rest instead of one line per request.
import type { Logger } from 'pino'

/** Catalogue codes that mean "the upstream side failed" (not the client, not a plugin). */
export const UPSTREAM_ERRORS: ReadonlySet<string> = new Set([
  'upstream_unreachable',
  'upstream_bad_response',
  'upstream_timeout',
  'no_healthy_target',
  'circuit_open',
  'upstream_overloaded',
])

/** Lines per second written before the rest are only counted. */
export const UPSTREAM_ERROR_LINES_PER_SECOND = 10

let windowStart = 0
let written = 0
let suppressed = 0
let summaryTimer: NodeJS.Timeout | null = null
let summaryLogger: Logger | null = null

function flushSummary(): void {
  summaryTimer = null
  if (suppressed > 0 && summaryLogger !== null) {
    summaryLogger.warn({ suppressed, window_ms: 1000 }, 'more upstream errors than the log rate limit; counted, not logged one by one')
  }
  suppressed = 0
}

export interface UpstreamErrorFields {
  request_id: string
  route: string
  /** Target origin, or null when none was picked (no healthy target, breaker open). */
  target: string | null
  upstream: string | null
  error: string
  /** Low-level cause (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, …) when there was one. */
  cause: string | undefined
  status: number
  attempts: number
}

export function warnUpstreamError(logger: Logger, f: UpstreamErrorFields): void {
  const now = Date.now()
  if (now - windowStart >= 1000) {
    if (summaryTimer !== null) {
      clearTimeout(summaryTimer)
      flushSummary()
    }
    windowStart = now
    written = 0
  }
  if (written < UPSTREAM_ERROR_LINES_PER_SECOND) {
    written++
    logger.warn(f, 'upstream error')
    return
  }
  suppressed++
  summaryLogger = logger
  if (summaryTimer === null) summaryTimer = setTimeout(flushSummary, Math.max(1, 1000 - (now - windowStart))).unref()
}

/** Tests: start a fresh window. */
export function resetUpstreamErrorLog(): void {
  if (summaryTimer !== null) clearTimeout(summaryTimer)
  summaryTimer = null
  windowStart = 0
  written = 0
  suppressed = 0
}
