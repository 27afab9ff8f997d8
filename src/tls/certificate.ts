// One served certificate: its PEM chain and key (from files or inline), and what /status and the
// metrics need to know about it (names, issuer, validity, key type), parsed once with node:crypto.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'

export interface CertificateSource {
  name?: string
  cert_file?: string
  key_file?: string
  cert?: string
  key?: string
}

export interface LoadedCertificate {
  /** Name in /status and the metric label. */
  readonly name: string
  /** DNS names the leaf covers (subjectAltName, else the subject CN), lower-cased. */
  readonly names: readonly string[]
  readonly issuer: string
  readonly subject: string
  readonly notBefore: Date
  readonly notAfter: Date
  readonly serial: string
  readonly fingerprint256: string
  /** 'rsa' | 'ec' | 'ed25519' …: the leaf's key type (several types may serve the same names). */
  readonly keyType: string
  /** 'file:<cert path>' | 'inline' | 'acme' | 'store' */
  readonly source: string
  readonly certPem: string
  /** Never logged, never in /status. */
  readonly keyPem: string
  readonly leaf: X509Certificate
  /** The certificate after the leaf in the chain (its issuer), when the chain has one. */
  readonly issuerCert: X509Certificate | null
  /** OCSP responder URL from the leaf's Authority Information Access, or null. */
  readonly ocspUrl: string | null
  /** Paths to watch, or empty. */
  readonly files: readonly string[]
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

export class CertificateError extends Error {}

/** Splits a PEM bundle into its certificates. */
export function pemCertificates(pem: string): string[] {
  return pem.match(PEM_CERT) ?? []
}

/**
 * Names a certificate covers: subjectAltName DNS entries and IP addresses, else the subject CN.
 * Lower-cased. IP entries count because clients that connect to an address (wrk, some Java
 * clients) send it as SNI against RFC 6066 and as the Host: without them, a certificate issued for
 * 127.0.0.1 answered its own address 421 misdirected_request.
 */
export function certificateNames(x: X509Certificate): string[] {
  const san = x.subjectAltName
  if (san !== undefined && san !== '') {
    const names: string[] = []
    for (const part of san.split(', ')) {
      if (part.startsWith('DNS:')) names.push(part.slice(4).toLowerCase())
      else if (part.startsWith('IP Address:')) names.push(part.slice(11).toLowerCase())
    }
    if (names.length > 0) return names
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)
  return cn === null ? [] : [cn[1]!.toLowerCase()]
}

/** Checks that a PEM chain and key belong together and parses what we report about them. */
export function parseCertificate(certPem: string, keyPem: string, source: string, name: string | undefined, files: readonly string[] = []): LoadedCertificate {
  const blocks = pemCertificates(certPem)
  if (blocks.length === 0) throw new CertificateError(`${source}: no PEM certificate found`)
  let leaf: X509Certificate
  let key: KeyObject
  try {
    leaf = new X509Certificate(blocks[0]!)
  } catch (err) {
    throw new CertificateError(`${source}: certificate does not parse (${(err as Error).message})`)
  }
  try {
    key = createPrivateKey(keyPem)
  } catch {
    // The key's text is never quoted back.
    throw new CertificateError(`${source}: private key does not parse (PEM, unencrypted)`)
  }
  if (!leaf.checkPrivateKey(key)) throw new CertificateError(`${source}: the private key does not belong to the certificate`)
  const issuerCert = blocks.length > 1 ? new X509Certificate(blocks[1]!) : null
  const names = certificateNames(leaf)
  const ocsp = /OCSP - URI:(\S+)/.exec(leaf.infoAccess ?? '')
  return {
    name: name ?? names[0] ?? leaf.serialNumber,
    names,
    issuer: leaf.issuer.replaceAll('\n', ', '),
    subject: leaf.subject.replaceAll('\n', ', '),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    serial: leaf.serialNumber,
    fingerprint256: leaf.fingerprint256,
    keyType: key.asymmetricKeyType ?? 'unknown',
    source,
    certPem,
    keyPem,
    leaf,
    issuerCert,
    ocspUrl: ocsp === null ? null : ocsp[1]!,
    files,
  }
}

/** Reads one configured certificate (files relative to the process's working directory). */
export async function loadCertificate(src: CertificateSource): Promise<LoadedCertificate> {
  if (src.cert_file !== undefined && src.key_file !== undefined) {
    const certPath = resolve(src.cert_file)
    const keyPath = resolve(src.key_file)
    let certPem: string
    let keyPem: string
    try {
      ;[certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')])
    } catch (err) {
      throw new CertificateError(`certificate ${src.cert_file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    return parseCertificate(certPem, keyPem, `file:${src.cert_file}`, src.name, [certPath, keyPath])
  }
  if (src.cert !== undefined && src.key !== undefined) return parseCertificate(src.cert, src.key, 'inline', src.name)
  throw new CertificateError('a certificate needs cert_file + key_file or cert + key')
}

/** What /status shows about a certificate: never the key. */
export interface CertificateSummary {
  name: string
  names: string[]
  issuer: string
  subject: string
  not_before: string
  not_after: string
  key_type: string
  serial: string
  fingerprint256: string
  source: string
}

export function summarize(c: LoadedCertificate): CertificateSummary {
  return {
    name: c.name,
    names: [...c.names],
    issuer: c.issuer,
    subject: c.subject,
    not_before: c.notBefore.toISOString(),
    not_after: c.notAfter.toISOString(),
    key_type: c.keyType,
    serial: c.serial,
    fingerprint256: c.fingerprint256,
    source: c.source,
  }
}
