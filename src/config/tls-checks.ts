// What the TLS parts of the schema cannot say (called from validate.ts's cross-checks): a
// certificate is a file pair or an inline pair, client_auth names its CA, versions are ordered,
// redirect_https sits on a cleartext listener, an upstream client certificate has its key.
import type { Issue, Segment } from './validate.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** One entry of server.listeners at `base` (its listen address is checked by the caller). */
export function checkListenerTls(l: Obj, base: Segment[], issues: Issue[]): void {
  const at = (...rest: Segment[]): Segment[] => [...base, ...rest]
  if (l.tls !== undefined && l.redirect_https !== undefined) issues.push({ path: at('redirect_https'), message: 'redirect_https belongs on a cleartext listener (this one has tls)', at: 'key' })
  const tls = l.tls
  if (!isObj(tls)) return
  const certs = Array.isArray(tls.certificates) ? tls.certificates : []
  if (certs.length === 0 && tls.acme !== true) issues.push({ path: at('tls'), message: 'an https listener needs certificates (or acme: true)' })
  const names: string[] = []
  certs.forEach((c, j) => {
    if (!isObj(c)) return
    const files = c.cert_file !== undefined || c.key_file !== undefined
    const inline = c.cert !== undefined || c.key !== undefined
    if (files === inline) issues.push({ path: at('tls', 'certificates', j), message: 'a certificate is either cert_file + key_file or cert + key' })
    else if (files && (c.cert_file === undefined || c.key_file === undefined)) issues.push({ path: at('tls', 'certificates', j), message: 'cert_file and key_file go together' })
    else if (inline && (c.cert === undefined || c.key === undefined)) issues.push({ path: at('tls', 'certificates', j), message: 'cert and key go together' })
    if (typeof c.name === 'string') names.push(c.name)
  })
  // Only decidable when every certificate is named (an unnamed one is named by its first DNS name at load).
  if (typeof tls.default_certificate === 'string' && names.length > 0 && names.length === certs.length && !names.includes(tls.default_certificate)) {
    issues.push({ path: at('tls', 'default_certificate'), message: `names no certificate of this listener (named: ${names.join(', ')})` })
  }
  if (tls.min_version === 'TLSv1.3' && tls.max_version === 'TLSv1.2') issues.push({ path: at('tls', 'max_version'), message: 'is below min_version' })
  const ca = (x: unknown, path: Segment[]): void => {
    if (isObj(x) && x.mode !== 'none' && x.ca_file === undefined && x.ca === undefined) issues.push({ path, message: 'client_auth needs ca_file or ca (the CAs that sign client certificates)' })
  }
  ca(tls.client_auth, at('tls', 'client_auth'))
  if (isObj(tls.sni)) for (const [name, o] of Object.entries(tls.sni)) if (isObj(o)) ca(o.client_auth, at('tls', 'sni', name, 'client_auth'))
}

export function checkUpstreamTls(up: Obj, path: Segment[], issues: Issue[]): void {
  const t = up.tls
  if (!isObj(t)) return
  if ((t.cert_file === undefined) !== (t.key_file === undefined)) issues.push({ path: [...path, 'tls'], message: 'cert_file and key_file go together' })
}

export function checkAcme(acme: unknown, sharedStore: boolean, issues: Issue[]): void {
  if (!isObj(acme)) return
  const certs = Array.isArray(acme.certificates) ? acme.certificates : []
  if (certs.length === 0 && acme.on_demand === undefined) issues.push({ path: ['acme'], message: 'acme needs certificates (or on_demand)' })
  const dns01 = acme.challenge === 'dns-01'
  if (dns01 && !isObj(acme.dns)) issues.push({ path: ['acme', 'challenge'], message: 'dns-01 needs acme.dns (a webhook or exec hook that puts the TXT records)' })
  if (isObj(acme.dns) && (acme.dns.webhook === undefined) === (acme.dns.exec === undefined)) issues.push({ path: ['acme', 'dns'], message: 'needs exactly one of webhook, exec' })
  if (!dns01) {
    certs.forEach((c, i) => {
      if (!isObj(c) || !Array.isArray(c.names)) return
      const j = c.names.findIndex((n) => typeof n === 'string' && n.startsWith('*.'))
      if (j >= 0) issues.push({ path: ['acme', 'certificates', i, 'names', j], message: 'a wildcard name can only be validated with challenge: dns-01' })
    })
  }
  const st = acme.storage
  if (!isObj(st)) return
  const keyIssue = (v: unknown, path: Segment[]): void => {
    if (typeof v !== 'string') return
    try {
      parseEncryptionKey(v)
    } catch (err) {
      // The message never quotes the value: it is a secret.
      issues.push({ path, message: (err as Error).message })
    }
  }
  keyIssue(st.encryption_key, ['acme', 'storage', 'encryption_key'])
  if (Array.isArray(st.previous_encryption_keys)) st.previous_encryption_keys.forEach((k, i) => keyIssue(k, ['acme', 'storage', 'previous_encryption_keys', i]))
  if (st.backend !== 'redis') return
  if (!sharedStore) {
    issues.push({ path: ['acme', 'storage', 'backend'], message: 'backend: redis (fleet mode) needs store.redis: the instances share the ACME state and locks there', hint: 'add store: { redis: { url: redis://... } }, or use backend: directory for one instance' })
  }
  if (st.encryption_key === undefined) {
    issues.push({ path: ['acme', 'storage'], message: 'backend: redis needs encryption_key (the account and certificate keys are stored encrypted)', hint: 'encryption_key: ${env:PORTICO_ACME_KEY}, with PORTICO_ACME_KEY=$(openssl rand -base64 32)', at: 'key' })
  }
}

/**
 * A 32-byte key from its text form: 64 hex digits, or base64 / base64url (43 or 44 characters).
 * Throws a message that says what is wrong without echoing the value (tls/acme/envelope.ts uses it).
 */
export function parseEncryptionKey(text: string): Buffer {
  const t = text.trim()
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex')
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
    if (b.length === 32) return b
  }
  throw new Error('must be 32 bytes, written as 64 hex digits or base64 (e.g. the output of: openssl rand -base64 32)')
}
