// Service discovery: where a cluster's targets come from when they are not listed statically.
// A source pushes the full current list to its sink (the Cluster), which diffs it by URL: targets
// that stayed keep their Target object (pools, health, in-flight counts), new ones are created,
// removed ones are closed once their in-flight requests are done. Discovery never rebuilds a
// Snapshot. A source that cannot reach its backend keeps the last list it pushed.
import { reportDiscoveryHealth } from '../../observability/metrics.js'
import type { Logger } from 'pino'
import type { DiscoveryConfig } from '../../config/schema/index.js'
import { DnsDiscovery, resolveDnsPolicy } from './dns.js'
import { EtcdDiscovery, resolveEtcdPolicy } from './etcd.js'
import { ConsulDiscovery, resolveConsulPolicy } from './consul.js'
import { NacosDiscovery, resolveNacosPolicy } from './nacos.js'
import { ZookeeperDiscovery, resolveZookeeperPolicy } from './zookeeper.js'
import { KubernetesDiscovery, resolveKubernetesPolicy } from './kubernetes.js'

export interface DiscoveredTarget {
  url: string
  weight: number
  /** What the registry says about the instance (tags, metadata, zone), shown in /status. */
  meta?: Readonly<Record<string, string>> | undefined
}

/** What a source feeds: the cluster. */
export interface DiscoverySink {
  /** Upstream name, for logs. */
  readonly name: string
  readonly logger: Logger | undefined
  /** The complete current list (not a delta). */
  setTargets(list: readonly DiscoveredTarget[]): void
}

export interface DiscoverySource {
  readonly kind: DiscoveryKind
  /** Starts resolving/watching (idempotent). */
  start(): void
  /** Settles once the first list was pushed or the first attempt failed; never rejects. */
  readonly firstAttempt: Promise<void>
  /** Stops timers and watches; pushes nothing afterwards. */
  close(): Promise<void>
  /** The source answered its last attempt (DNS, Consul, Nacos) / its watch is connected (etcd, ZooKeeper, Kubernetes). */
  healthy(): boolean
}

export type DiscoveryKind = 'dns' | 'etcd' | 'consul' | 'nacos' | 'zookeeper' | 'kubernetes'

function build(def: DiscoveryConfig, sink: DiscoverySink): DiscoverySource | null {
  if (def.dns !== undefined) return new DnsDiscovery(resolveDnsPolicy(def.dns), sink)
  if (def.etcd !== undefined) return new EtcdDiscovery(resolveEtcdPolicy(def.etcd), sink)
  if (def.consul !== undefined) return new ConsulDiscovery(resolveConsulPolicy(def.consul), sink)
  if (def.nacos !== undefined) return new NacosDiscovery(resolveNacosPolicy(def.nacos), sink)
  if (def.zookeeper !== undefined) return new ZookeeperDiscovery(resolveZookeeperPolicy(def.zookeeper), sink)
  if (def.kubernetes !== undefined) return new KubernetesDiscovery(resolveKubernetesPolicy(def.kubernetes), sink)
  return null
}

export function createDiscovery(def: DiscoveryConfig, sink: DiscoverySink): DiscoverySource {
  const source = build(def, sink)
  if (source === null) throw new Error('discovery needs one of dns, etcd, consul, nacos, zookeeper, kubernetes')
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

/** One deferred promise, resolved once. */
export function once(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}
