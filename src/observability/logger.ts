// pino loggers for the gateway's own events. The access log is separate (access-log.ts).
import pino, { type Logger, type LevelWithSilent } from 'pino'

/** Header values that never reach a log line. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
]

export function createLogger(level: LevelWithSilent = 'info', bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...bindings }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } })
}
