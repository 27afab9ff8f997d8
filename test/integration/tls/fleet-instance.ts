// One gateway of an ACME fleet for the fleet tests (acme-fleet, -renewal, -on-demand): its own
// storage_dir (as on its own machine), one worker, an HTTPS listener on acme certificates and a
// cleartext one for HTTP-01, the shared redis-server as the Store, Pebble as the CA, and the fleet's
// sealing key from the environment. What differs per test is passed in: the HTTPS listener's tls
// options, the lock's ttl, and the rest of the acme block (certificates, on_demand, renew_before).
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startGateway, type Gateway } from '../../helpers/gateway.js'

export interface FleetDeps {
  redis: { url: string }
  pebble: { directory: string; caFile: string }
  origin: { url: string }
  /** The fleet's acme.storage.encryption_key (base64). */
  key: string
}

export interface FleetInstanceOptions {
  /** The cleartext listener's port (the one Pebble validates HTTP-01 on, for one of them). */
  httpPort: number
  /** Prefix of the instance's storage_dir in the temp dir. */
  dirPrefix: string
  /** The HTTPS listener's tls block, as flow YAML. */
  listenerTls: string
  lockTtl: string
  /** More keys of the acme block, YAML lines indented by two spaces. */
  acme: string
}

export async function startFleetInstance(d: FleetDeps, o: FleetInstanceOptions): Promise<{ gw: Gateway; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), o.dirPrefix))
  const gw = await startGateway({
    args: ['--workers', '1'],
    readyTimeoutMs: 120_000,
    env: { PORTICO_ACME_KEY: d.key },
    config: ({ port, adminPort }) => `
server:
  listeners:
    - listen: 127.0.0.1:${port}
      tls: ${o.listenerTls}
    - listen: 127.0.0.1:${o.httpPort}
admin: { listen: 127.0.0.1:${adminPort} }
store:
  redis: { url: ${d.redis.url}, timeout: 2s }
acme:
  directory: ${d.pebble.directory}
  ca_file: ${d.pebble.caFile}
  terms_of_service_agreed: true
  storage_dir: ${dir}
  storage:
    backend: redis
    encryption_key: \${env:PORTICO_ACME_KEY}
    lock_ttl: ${o.lockTtl}
${o.acme}
upstreams: { o: { targets: [{ url: ${d.origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
log: { level: info, access_log: false }
`,
  })
  return { gw, dir }
}
