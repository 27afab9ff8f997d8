// The client certificate of an mTLS connection (core/client-identity.ts), read from the socket
// once per connection (getPeerCertificate builds a fresh object every call) and kept on the socket.
import type { TLSSocket } from 'node:tls'
import type { ClientIdentity } from '../core/client-identity.js'

const kIdentity = Symbol('portico.clientIdentity')
type Carrier = TLSSocket & { [kIdentity]?: ClientIdentity | null }

function dn(o: Record<string, string | string[]> | undefined): string {
  if (o === undefined) return ''
  return Object.entries(o)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(', ')
}

/** The identity of the peer's certificate, or null when it sent none. */
export function clientIdentity(socket: TLSSocket): ClientIdentity | null {
  const s = socket as Carrier
  const cached = s[kIdentity]
  if (cached !== undefined) return cached
  const cert = socket.getPeerCertificate()
  let id: ClientIdentity | null = null
  if (cert !== null && cert !== undefined && Object.keys(cert).length > 0) {
    const subject = cert.subject as unknown as Record<string, string | string[]> | undefined
    const cn = subject?.CN
    id = {
      verified: socket.authorized,
      subject: dn(subject),
      cn: Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? ''),
      sans: cert.subjectaltname === undefined || cert.subjectaltname === '' ? [] : cert.subjectaltname.split(', '),
      issuer: dn(cert.issuer as unknown as Record<string, string | string[]> | undefined),
      serial: cert.serialNumber ?? '',
      fingerprint256: cert.fingerprint256 ?? '',
      error: socket.authorized ? '' : String(socket.authorizationError ?? ''),
    }
  }
  s[kIdentity] = id
  return id
}

/** Header-safe: the DN and SAN strings may hold any character the CA allowed. */
function headerValue(v: string): string {
  return encodeURIComponent(v).replace(/%(2C|3D|3A|20|2F|40)/g, (m) => decodeURIComponent(m))
}

/** Sets the identity headers on an upstream request (after the client's copies were dropped). */
export function forwardIdentity(id: ClientIdentity | null, out: Record<string, unknown>): void {
  if (id === null) {
    out['x-client-cert-verified'] = 'NONE'
    return
  }
  if (!id.verified) {
    out['x-client-cert-verified'] = 'FAILED'
    return
  }
  out['x-client-cert-verified'] = 'SUCCESS'
  out['x-client-cert-subject'] = headerValue(id.subject)
  if (id.sans.length > 0) out['x-client-cert-san'] = headerValue(id.sans.join(', '))
  out['x-client-cert-issuer'] = headerValue(id.issuer)
  out['x-client-cert-serial'] = id.serial
  out['x-client-cert-fingerprint'] = id.fingerprint256
}
