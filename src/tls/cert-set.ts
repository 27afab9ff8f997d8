// The certificates of one https listener, chosen by SNI: exact names first, then one-label
// wildcards (*.example.com covers a.example.com, not a.b.example.com nor example.com, as RFC 6125
// §6.4.3 and browsers have it). All certificates that cover a name (an RSA and an ECDSA one, say)
// go into that name's one SecureContext, so OpenSSL picks by the client's signature algorithms.
// Immutable: a rotation builds a new set and swaps the reference.
import tls, { type SecureContext, type SecureContextOptions } from 'node:tls'
import type { LoadedCertificate } from './certificate.js'

/** What a handshake was served with: the certificates (same names) and what they cover. */
export interface Served {
  readonly context: SecureContext
  readonly certs: readonly LoadedCertificate[]
  /** Exact names and wildcard suffixes (".example.com") covered by these certificates. */
  readonly exact: ReadonlySet<string>
  readonly suffixes: readonly string[]
}

export interface CertificateSetOptions {
  /** Name (LoadedCertificate.name) of the certificate for no/unknown SNI; undefined = the first. */
  defaultName?: string
  /** Refuse no/unknown SNI instead of serving the default. */
  strict: boolean
  /** Versions, ciphers, curves, client CA: shared by every context. */
  base: SecureContextOptions
  /** Client CA bundle per exact server name, overriding base.ca (per-SNI mTLS). */
  caBySni: ReadonlyMap<string, string | undefined>
  /** An ACME listener starts with nothing until the first certificate is issued (handshakes refused meanwhile). */
  allowEmpty?: boolean
  /** Applied to every context made (shared ticket keys). */
  onContext?: (ctx: SecureContext) => void
}

/** Whether a host name is covered by exact names / wildcard suffixes (one label under the suffix). */
export function covers(exact: ReadonlySet<string>, suffixes: readonly string[], host: string): boolean {
  if (exact.has(host)) return true
  const dot = host.indexOf('.')
  if (dot <= 0) return false
  const rest = host.slice(dot)
  for (let i = 0; i < suffixes.length; i++) if (suffixes[i] === rest) return true
  return false
}

export class CertificateSet {
  readonly certs: readonly LoadedCertificate[]
  /** The default (no or unknown SNI), or null in strict mode. */
  readonly fallback: Served | null
  readonly #exact = new Map<string, LoadedCertificate[]>()
  readonly #wild = new Map<string, LoadedCertificate[]>()
  readonly #served = new Map<string, Served>()
  readonly #opts: CertificateSetOptions

  constructor(certs: readonly LoadedCertificate[], opts: CertificateSetOptions) {
    if (certs.length === 0 && opts.allowEmpty !== true) throw new Error('an https listener needs at least one certificate')
    this.certs = certs
    this.#opts = opts
    for (const c of certs) {
      for (const n of c.names) {
        const map = n.startsWith('*.') ? this.#wild : this.#exact
        const key = n.startsWith('*.') ? n.slice(1) : n
        let list = map.get(key)
        if (list === undefined) map.set(key, (list = []))
        if (!list.includes(c)) list.push(c)
      }
    }
    if (opts.strict || certs.length === 0) {
      this.fallback = null
    } else {
      const first = opts.defaultName === undefined ? certs[0]! : certs.find((c) => c.name === opts.defaultName)
      if (first === undefined) throw new Error(`default_certificate "${opts.defaultName}" is not one of the listener's certificates`)
      // The default's companions: certificates of another key type for exactly the same names.
      const same = certs.filter((c) => c === first || (c.keyType !== first.keyType && sameNames(c, first)))
      this.fallback = this.#make(same, undefined)
    }
  }

  /**
   * The certificates for a server name (lower-cased), or null when none covers it. Contexts are
   * made on first use and kept for the set's lifetime.
   */
  select(servername: string): Served | null {
    const name = servername.toLowerCase()
    let list = this.#exact.get(name)
    if (list === undefined) {
      const dot = name.indexOf('.')
      if (dot > 0) list = this.#wild.get(name.slice(dot))
    }
    if (list === undefined) return null
    const ca = this.#opts.caBySni.has(name) ? name : ''
    const key = `${ca}|${list.map((c) => this.certs.indexOf(c)).join(',')}`
    let s = this.#served.get(key)
    if (s === undefined) {
      s = this.#make(list, ca === '' ? undefined : name)
      this.#served.set(key, s)
    }
    return s
  }

  #make(list: readonly LoadedCertificate[], caFor: string | undefined): Served {
    const options: SecureContextOptions = {
      ...this.#opts.base,
      cert: list.map((c) => c.certPem),
      key: list.map((c) => c.keyPem),
    }
    if (caFor !== undefined) {
      const ca = this.#opts.caBySni.get(caFor)
      if (ca === undefined) delete options.ca
      else options.ca = ca
    }
    const context = tls.createSecureContext(options)
    this.#opts.onContext?.(context)
    const exact = new Set<string>()
    const suffixes: string[] = []
    for (const c of list) {
      for (const n of c.names) {
        if (n.startsWith('*.')) suffixes.push(n.slice(1))
        else exact.add(n)
      }
    }
    return { context, certs: list, exact, suffixes }
  }

  /** Every context made so far (ticket key rotation re-keys them all). */
  contexts(): SecureContext[] {
    const out = [...this.#served.values()].map((s) => s.context)
    if (this.fallback !== null) out.push(this.fallback.context)
    return out
  }
}

function sameNames(a: LoadedCertificate, b: LoadedCertificate): boolean {
  if (a.names.length !== b.names.length) return false
  const s = new Set(a.names)
  return b.names.every((n) => s.has(n))
}
