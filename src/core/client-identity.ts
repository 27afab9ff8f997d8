// The client certificate of an mTLS connection, as routes, plugins and upstreams see it. The TLS
// side (tls/identity.ts) reads it from the socket; this is the vocabulary the rest speaks.

export interface ClientIdentity {
  /** The chain verified against the listener's (or the SNI's) client CA. */
  readonly verified: boolean
  /** Subject DN, "CN=alice, O=Example" ('' without a certificate). */
  readonly subject: string
  readonly cn: string
  /** subjectAltName entries as "DNS:x", "URI:spiffe://…", "email:…". */
  readonly sans: readonly string[]
  readonly issuer: string
  readonly serial: string
  readonly fingerprint256: string
  /** OpenSSL's reason when not verified (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE), '' when none or verified. */
  readonly error: string
}

/** Upstream request headers carrying the identity. Every client-sent copy is removed (proxy/forward.ts). */
export const IDENTITY_HEADERS = [
  'x-client-cert-verified',
  'x-client-cert-subject',
  'x-client-cert-san',
  'x-client-cert-issuer',
  'x-client-cert-serial',
  'x-client-cert-fingerprint',
] as const
