// Discovery sources by kind (config `discovery:`) and the portico_discovery_up gauge. The seam
// itself is source.ts.
import { reportDiscoveryHealth } from '../../observability/metrics.js'
import type { DiscoverySink, DiscoverySource } from './source.js'
import type { DiscoveryConfig } from '../../config/schema/index.js'
import { DnsDiscovery, resolveDnsPolicy } from './dns.js'
import { EtcdDiscovery, resolveEtcdPolicy } from './etcd.js'

export function createDiscovery(def: DiscoveryConfig, sink: DiscoverySink): DiscoverySource {
  const source = def.dns !== undefined ? new DnsDiscovery(resolveDnsPolicy(def.dns), sink) : def.etcd !== undefined ? new EtcdDiscovery(resolveEtcdPolicy(def.etcd), sink) : null
  if (source === null) throw new Error('discovery needs dns or etcd')
  live.add({ upstream: sink.name, source })
  const close = source.close.bind(source)
  source.close = async () => {
    for (const l of live) if (l.source === source) live.delete(l)
    await close()
  }
  return source
}

/** Discovery sources in use, for the portico_discovery_up gauge. */
const live = new Set<{ upstream: string; source: DiscoverySource }>()
reportDiscoveryHealth(() => [...live].map((l) => ({ upstream: l.upstream, source: l.source.kind, up: l.source.healthy() })))
