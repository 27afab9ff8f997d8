// pino loggers. The access log goes through an asynchronous destination (sonic-boom with a
// buffer) so writing a line never blocks the request path; it is flushed on exit.
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

/** The access logger: JSON lines on stdout through a buffered async destination. */
export function createAccessLogger(): Logger {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 4096 })
  const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, dest)
  const flush = () => {
    try {
      dest.flushSync()
    } catch {
      // the destination may not be ready yet or already closed; nothing to flush then
    }
  }
  // Lines are batched for throughput; a quiet gateway still shows its lines within a second.
  setInterval(() => {
    try {
      dest.flush()
    } catch {
      // not open yet, or closing: the next tick or the exit flush takes care of it
    }
  }, 1000).unref()
  process.once('beforeExit', flush)
  process.once('exit', flush)
  return logger
}
