// TLS towards https:// targets: verification on by default (Node's roots or the given CA bundle),
// SNI, pinned names, and a client certificate for upstream mTLS. One set of connect options per
// cluster, used by its pools, so proxying and active health checks verify alike.
import { readFileSync } from 'node:fs'
import tls, { type ConnectionOptions, type PeerCertificate } from 'node:tls'
import type { UpstreamTlsConfig } from '../config/schema/tls.js'

export function upstreamTlsOptions(cfg: UpstreamTlsConfig | undefined): ConnectionOptions | null {
  if (cfg === undefined) return null
  const read = (f: string, what: string): string => {
    try {
      return readFileSync(f, 'utf8')
    } catch (err) {
      throw new Error(`upstream tls ${what} ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  const out: ConnectionOptions = { rejectUnauthorized: cfg.verify !== false }
  const ca = cfg.ca ?? (cfg.ca_file === undefined ? undefined : read(cfg.ca_file, 'ca_file'))
  if (ca !== undefined) out.ca = ca
  if (cfg.server_name !== undefined) out.servername = cfg.server_name
  if (cfg.cert_file !== undefined && cfg.key_file !== undefined) {
    out.cert = read(cfg.cert_file, 'cert_file')
    out.key = read(cfg.key_file, 'key_file')
  }
  const pinned = cfg.pinned_names
  if (pinned !== undefined && cfg.verify !== false) {
    // The certificate must be valid for one of the pinned names, whatever host the URL names
    // (targets addressed by IP, or a shared name behind several hosts).
    out.checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
      for (const n of pinned) if (tls.checkServerIdentity(n, cert) === undefined) return undefined
      return new Error(`upstream certificate is valid for none of the pinned names (${pinned.join(', ')})`)
    }
  }
  return out
}
