// A throwaway PKI for TLS tests, made at test time with the openssl CLI (nothing private is
// committed): a CA, then server or client certificates it signs (RSA or ECDSA, SANs, validity,
// an OCSP responder URL). Everything lives in one temp directory; remove() deletes it.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface Issued {
  cert: string
  key: string
  /** Leaf then the CA (what a server sends). */
  chain: string
  certFile: string
  keyFile: string
  chainFile: string
}

export interface Ca extends Issued {
  name: string
  dir: string
  issue(o: IssueOptions): Promise<Issued>
}

export interface IssueOptions {
  /** DNS names (subjectAltName); the first is also the CN. */
  names?: string[]
  cn?: string
  key?: 'rsa' | 'ec'
  days?: number
  /** Client certificate (extendedKeyUsage clientAuth) instead of a server one. */
  client?: boolean
  /**
   * A server certificate that is a client one too (serverAuth and clientAuth): for servers that
   * connect to their peers with it, as Redis Cluster nodes do on their bus, which requires it.
   */
  serverAndClient?: boolean
  ocspUrl?: string
  /** File stem inside the PKI dir (default: random). */
  file?: string
  /** Extra SAN entries, e.g. "URI:spiffe://example/alice", "email:a@example.com". */
  sans?: string[]
}

function keyArgs(k: 'rsa' | 'ec'): string[] {
  return k === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
}

export async function createPki(): Promise<{ dir: string; ca(name?: string, key?: 'rsa' | 'ec'): Promise<Ca>; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'portico-pki-'))
  const ca = async (name = 'Portico Test CA', key: 'rsa' | 'ec' = 'ec'): Promise<Ca> => {
    const stem = join(dir, `ca-${randomBytes(4).toString('hex')}`)
    await run('openssl', ['req', '-x509', ...keyArgs(key), '-nodes', '-keyout', `${stem}.key`, '-out', `${stem}.crt`, '-subj', `/CN=${name}`, '-days', '30',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    const certPem = await readFile(`${stem}.crt`, 'utf8')
    const keyPem = await readFile(`${stem}.key`, 'utf8')
    const self: Ca = {
      name,
      dir,
      cert: certPem,
      key: keyPem,
      chain: certPem,
      certFile: `${stem}.crt`,
      keyFile: `${stem}.key`,
      chainFile: `${stem}.crt`,
      async issue(o: IssueOptions): Promise<Issued> {
        const s = join(dir, o.file ?? `leaf-${randomBytes(4).toString('hex')}`)
        const names = o.names ?? []
        const cn = o.cn ?? names[0] ?? 'client'
        await run('openssl', ['req', '-new', ...keyArgs(o.key ?? 'ec'), '-nodes', '-keyout', `${s}.key`, '-out', `${s}.csr`, '-subj', `/CN=${cn}/O=Portico Tests`])
        const san = [...names.map((n) => `DNS:${n}`), ...(o.sans ?? [])]
        const ext = [
          ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : []),
          `extendedKeyUsage=${o.serverAndClient === true ? 'serverAuth,clientAuth' : o.client === true ? 'clientAuth' : 'serverAuth'}`,
          'basicConstraints=CA:FALSE',
          ...(o.ocspUrl !== undefined ? [`authorityInfoAccess=OCSP;URI:${o.ocspUrl}`] : []),
        ]
        await writeFile(`${s}.ext`, ext.join('\n') + '\n')
        await run('openssl', ['x509', '-req', '-in', `${s}.csr`, '-CA', self.certFile, '-CAkey', self.keyFile, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
          '-days', String(o.days ?? 10), '-out', `${s}.crt`, '-extfile', `${s}.ext`])
        const cert = await readFile(`${s}.crt`, 'utf8')
        const key = await readFile(`${s}.key`, 'utf8')
        const chain = cert + certPem
        await writeFile(`${s}.chain.crt`, chain)
        return { cert, key, chain, certFile: `${s}.crt`, keyFile: `${s}.key`, chainFile: `${s}.chain.crt` }
      },
    }
    return self
  }
  return { dir, ca, remove: () => rm(dir, { recursive: true, force: true }) }
}
