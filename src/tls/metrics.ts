// portico_tls_certificate_expiry_seconds{name}: seconds until each served certificate's
// not-after, computed at scrape time from the live listeners (rotated certificates drop out).
import { Counter, Gauge } from 'prom-client'
import { registry } from '../observability/metrics.js'
import type { LoadedCertificate } from './certificate.js'

interface CertSource {
  certificates(): readonly LoadedCertificate[]
}

const live = new Set<CertSource>()

export function trackListener(s: CertSource): void {
  live.add(s)
}
export function untrackListener(s: CertSource): void {
  live.delete(s)
}

export const certificateExpiry = new Gauge({
  name: 'portico_tls_certificate_expiry_seconds',
  help: 'Seconds until the served certificate expires (not-after), by certificate name. Negative = expired.',
  labelNames: ['name'] as const,
  // Over workers: the soonest expiry any worker still serves.
  aggregator: 'min',
  registers: [registry],
  collect() {
    this.reset()
    const now = Date.now()
    const seen = new Map<string, number>()
    for (const s of live) {
      for (const c of s.certificates()) {
        const left = Math.round((c.notAfter.getTime() - now) / 1000)
        const prev = seen.get(c.name)
        if (prev === undefined || left < prev) seen.set(c.name, left)
      }
    }
    for (const [name, left] of seen) this.labels(name).set(left)
  },
})

/**
 * ACME orders this instance's primary placed, by certificate (configured name; on-demand names all
 * count as "on-demand", since a client chooses them and each would be a series) and result.
 */
export const acmeOrders = new Counter({
  name: 'portico_acme_orders_total',
  help: 'ACME orders placed by this instance, by certificate (configured name, or on-demand) and result (issued, failed).',
  labelNames: ['certificate', 'result'] as const,
  registers: [registry],
})
