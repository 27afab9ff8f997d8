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

export function checkAcme(acme: unknown, issues: Issue[]): void {
  if (!isObj(acme)) return
  const certs = Array.isArray(acme.certificates) ? acme.certificates : []
  if (certs.length === 0 && acme.on_demand === undefined) issues.push({ path: ['acme'], message: 'acme needs certificates (or on_demand)' })
}
