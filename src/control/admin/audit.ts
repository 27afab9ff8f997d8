// The admin audit trail: one JSON line per write (and per refused attempt) to the configured file
// and to the logger. Resource bodies in the diff are redacted; the token itself is never seen here.
import { appendFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { Counter } from 'prom-client'
import { registry } from '../../observability/metrics.js'
import { redact } from './redact.js'
import type { Change } from './resources.js'

export const adminRequests = new Counter({
  name: 'portico_admin_requests_total',
  help: 'Admin API requests by operation (list, read, create, replace, patch, delete, dry_run, explain) and result (ok, invalid, conflict, precondition_failed, unauthorized, forbidden, not_found, error).',
  labelNames: ['op', 'result'] as const,
  registers: [registry],
})

export interface AuditRecord {
  time: string
  token: string | null
  role: string | null
  client: string
  method: string
  resource: string
  /** HTTP status and what it means. */
  status: number
  result: string
  dry_run: boolean
  version_before: number | null
  version_after: number | null
  diff: Change[]
}

/** How many records the console's audit page can show (GET /admin/audit); the file keeps them all. */
export const AUDIT_RECENT = 500

export class AuditLog {
  #file: () => string | undefined
  #logger: Logger
  #recent: AuditRecord[] = []
  // Lines are appended one after another so the file keeps the order of the writes.
  #tail: Promise<void> = Promise.resolve()

  constructor(file: () => string | undefined, logger: Logger) {
    this.#file = file
    this.#logger = logger
  }

  record(r: Omit<AuditRecord, 'time' | 'diff'> & { diff?: Change[] }): void {
    const line: AuditRecord = { time: new Date().toISOString(), ...r, diff: redact(r.diff ?? []) }
    this.#logger.info({ audit: line }, `admin ${r.method} ${r.resource} ${r.status}`)
    this.#recent.push(line)
    if (this.#recent.length > AUDIT_RECENT) this.#recent.splice(0, this.#recent.length - AUDIT_RECENT)
    const file = this.#file()
    if (file === undefined) return
    const text = JSON.stringify(line) + '\n'
    this.#tail = this.#tail.then(() =>
      appendFile(file, text, { mode: 0o600 }).catch((err: unknown) => this.#logger.error({ err, file }, 'audit log write failed')),
    )
  }

  /** The latest records of this process, newest first (already redacted). */
  recent(limit = AUDIT_RECENT): AuditRecord[] {
    return this.#recent.slice(-limit).reverse()
  }

  flushed(): Promise<void> {
    return this.#tail
  }
}
