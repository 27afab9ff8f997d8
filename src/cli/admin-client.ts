// How the CLI reaches an admin API served over HTTPS (admin.tls), possibly with mTLS: the CA that
// signed the admin listener's certificate and the client certificate come from the environment,
// as curl's --cacert/--cert/--key would (PORTICO_ADMIN_CA, PORTICO_ADMIN_CERT, PORTICO_ADMIN_KEY:
// PEM file paths). Without them: Node's roots and no client certificate.
import { readFileSync } from 'node:fs'
import { Agent, type Dispatcher } from 'undici'

let agent: Agent | undefined

export function adminDispatcher(): Dispatcher | undefined {
  const ca = process.env.PORTICO_ADMIN_CA
  const cert = process.env.PORTICO_ADMIN_CERT
  const key = process.env.PORTICO_ADMIN_KEY
  if (!ca && !cert && !key) return undefined
  agent ??= new Agent({
    connect: {
      ...(ca ? { ca: readFileSync(ca, 'utf8') } : {}),
      ...(cert ? { cert: readFileSync(cert, 'utf8') } : {}),
      ...(key ? { key: readFileSync(key, 'utf8') } : {}),
    },
  })
  return agent
}
