// TLS options of the Redis Store's connections, from one `tls` block of store.redis (the data
// nodes) or store.redis.sentinel.tls (the sentinels). The PEMs are read and turned into one
// SecureContext when the Store is made, not per connection: a cluster opens a connection per node
// and reconnects after every failover, and a client certificate whose key does not match fails
// here, with a message naming the config keys, instead of as a refused handshake later.
//
// Secrets: a key's content never appears in an error. A `${file:}` reference is replaced by the
// file's content when the config is loaded, so `key` may hold a PEM; errors quote only file paths.
import { readFileSync } from 'node:fs'
import { createSecureContext, type ConnectionOptions } from 'node:tls'

export interface RedisTlsConfig {
  /** PEM files. */
  ca_file?: string
  cert_file?: string
  key_file?: string
  /**
   * Inline PEM (usually "${file:path}" or "${ENV}"). A value without a PEM block is read as a
   * file path: what these keys meant before the *_file keys existed.
   */
  ca?: string
  cert?: string
  key?: string
  /** The name verified in every server certificate, and sent as SNI (default: the address connected to). */
  server_name?: string
  /** Verify the server certificate (default true). */
  verify?: boolean
}

const PEM = /-----BEGIN [A-Z0-9 ]+-----/

/** One PEM of the block: inline, or read from its file. `where` is the config path, for errors. */
function pem(where: string, file: string | undefined, inline: string | undefined, fileKey: string, inlineKey: string): string | undefined {
  if (file !== undefined && inline !== undefined) throw new Error(`${where}: ${fileKey} and ${inlineKey} name the same thing; keep one`)
  const path = file ?? (inline !== undefined && !PEM.test(inline) ? inline : undefined)
  if (path === undefined) return inline
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(`${where}.${file !== undefined ? fileKey : inlineKey}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`)
  }
}

/**
 * Connect options for one block, or undefined for plain TCP. `where` names the block in errors
 * (store.redis.tls, store.redis.sentinel.tls).
 */
export function redisTlsOptions(where: string, t: RedisTlsConfig | undefined): ConnectionOptions | undefined {
  if (t === undefined) return undefined
  const ca = pem(where, t.ca_file, t.ca, 'ca_file', 'ca')
  const cert = pem(where, t.cert_file, t.cert, 'cert_file', 'cert')
  const key = pem(where, t.key_file, t.key, 'key_file', 'key')
  if ((cert === undefined) !== (key === undefined)) throw new Error(`${where}: a client certificate needs both cert_file (or cert) and key_file (or key)`)
  let secureContext
  try {
    secureContext = createSecureContext({ ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert, key: key! } : {}) })
  } catch (err) {
    // OpenSSL's reason ("key values mismatch", "no start line"): it never quotes the PEM.
    throw new Error(`${where}: the ${cert !== undefined ? 'client certificate, its key or the CA' : 'CA'} cannot be used (${(err as Error).message})`)
  }
  return {
    secureContext,
    // Node verifies the server's name against `servername` when it is set, else against the
    // address connected to. On a cluster (slot map) and Sentinel (the master it names) that
    // address is one the servers hand out, usually an IP; one name for every node avoids
    // needing IP SANs in the certificates.
    ...(t.server_name !== undefined ? { servername: t.server_name } : {}),
    rejectUnauthorized: t.verify !== false,
  }
}
