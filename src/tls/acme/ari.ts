// ACME Renewal Information (ARI, RFC 9773): the CA tells each certificate's holder when to renew,
// so a CA that must revoke certificates early (a mis-issuance incident) can have them replaced in
// hours instead of at two thirds of their lifetime. A CA that offers it lists `renewalInfo` in its
// directory; `GET <renewalInfo>/<certID>` answers a suggested window and a Retry-After for the
// next look. Portico renews at a random time inside the window (once chosen, kept for that window,
// so the fleet's instances and restarts do not re-draw it), never later than its own schedule, and
// names the replaced certificate in the new order (`replaces`). Without ARI, or when the CA's
// answer is unusable, the lifetime schedule alone applies.
import { X509Certificate as NodeX509 } from 'node:crypto'
import { AuthorityKeyIdentifierExtension, X509Certificate } from '@peculiar/x509'

const b64url = (hex: string): string => Buffer.from(hex, 'hex').toString('base64url')

/**
 * The certificate's ARI identifier: base64url(authority key identifier) "." base64url(serial),
 * the serial as its DER INTEGER contents (a leading zero byte when the high bit is set, which
 * X509Certificate's hex strings drop). Null without an authority key identifier.
 */
export function ariCertId(certPem: string): string | null {
  const aki = new X509Certificate(certPem).getExtension(AuthorityKeyIdentifierExtension)?.keyId
  if (aki === undefined || aki === '') return null
  let serial = new NodeX509(certPem).serialNumber.toLowerCase()
  if (serial.length % 2 === 1) serial = `0${serial}`
  if (Number.parseInt(serial.slice(0, 2), 16) >= 0x80) serial = `00${serial}`
  return `${b64url(aki)}.${b64url(serial)}`
}

export interface RenewalWindow {
  start: number
  end: number
  /** When to ask again (the Retry-After), ms from now. */
  retryAfterMs: number
}

/** How often to look again: the CA's Retry-After within [1 min, 1 day]; 6 h when it gives none. */
const MIN_RETRY_MS = 60_000
const MAX_RETRY_MS = 86_400_000
const DEFAULT_RETRY_MS = 6 * 3_600_000

export function retryAfterMs(header: string | undefined, now = Date.now()): number {
  let ms = DEFAULT_RETRY_MS
  if (header !== undefined && header !== '') {
    const s = Number(header)
    const at = Number.isFinite(s) ? now + s * 1000 : Date.parse(header)
    if (Number.isFinite(at)) ms = at - now
  }
  return Math.min(Math.max(ms, MIN_RETRY_MS), MAX_RETRY_MS)
}

/** Reads a renewalInfo answer; null when it is not the RFC's shape (start before end, both dates). */
export function parseRenewalInfo(body: unknown, retryAfter: string | undefined): RenewalWindow | null {
  const w = (body as { suggestedWindow?: { start?: unknown; end?: unknown } } | null)?.suggestedWindow
  if (typeof w?.start !== 'string' || typeof w.end !== 'string') return null
  const start = Date.parse(w.start)
  const end = Date.parse(w.end)
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) return null
  return { start, end, retryAfterMs: retryAfterMs(retryAfter) }
}

/** A uniformly random time in the window (RFC 9773 §4.2); one in the past means "renew now". */
export function pickRenewalTime(w: RenewalWindow, random = Math.random): number {
  return w.start + random() * (w.end - w.start)
}
