// Discovery sources by kind (config `discovery:`) and the portico_discovery_up gauge. The seam
// itself is source.ts.
import { reportDiscoveryHealth } from '../../observability/metrics.js'
import { once, type DiscoveryKind, type DiscoverySink, type DiscoverySource } from './source.js'
import type { DiscoveryConfig } from '../../config/schema/index.js'
import { DnsDiscovery, resolveDnsPolicy } from './dns.js'
import { EtcdDiscovery, resolveEtcdPolicy } from './etcd.js'

function build(def: DiscoveryConfig, sink: DiscoverySink): DiscoverySource | null {
  if (def.dns !== undefined) return new DnsDiscovery(resolveDnsPolicy(def.dns), sink)
  if (def.etcd !== undefined) return new EtcdDiscovery(resolveEtcdPolicy(def.etcd), sink)
  // The registry sources are imported when an upstream uses them: a worker whose config names
  // none loads none of their code (nor node-zookeeper-client, nor the kubeconfig reader).
  const { consul, nacos, zookeeper, kubernetes } = def
  if (consul !== undefined) return new LazySource('consul', sink, async () => {
    const m = await import('./consul.js')
    return new m.ConsulDiscovery(m.resolveConsulPolicy(consul), sink)
  })
  if (nacos !== undefined) return new LazySource('nacos', sink, async () => {
    const m = await import('./nacos.js')
    return new m.NacosDiscovery(m.resolveNacosPolicy(nacos), sink)
  })
  if (zookeeper !== undefined) return new LazySource('zookeeper', sink, async () => {
    const m = await import('./zookeeper.js')
    return new m.ZookeeperDiscovery(m.resolveZookeeperPolicy(zookeeper), sink)
  })
  if (kubernetes !== undefined) return new LazySource('kubernetes', sink, async () => {
    const m = await import('./kubernetes.js')
    return new m.KubernetesDiscovery(m.resolveKubernetesPolicy(kubernetes), sink)
  })
  return null
}

/** A source whose module is imported on start(); until then (and if closed first) it is down. */
class LazySource implements DiscoverySource {
  readonly #first = once()
  readonly #sink: DiscoverySink
  readonly #load: () => Promise<DiscoverySource>
  #inner: DiscoverySource | null = null
  #started = false
  #closed = false

  constructor(
    readonly kind: DiscoveryKind,
    sink: DiscoverySink,
    load: () => Promise<DiscoverySource>,
  ) {
    this.#sink = sink
    this.#load = load
  }

  /** The real source once loaded (tests and /status reach through). */
  get inner(): DiscoverySource | null {
    return this.#inner
  }

  get firstAttempt(): Promise<void> {
    return this.#first.promise
  }

  start(): void {
    if (this.#started || this.#closed) return
    this.#started = true
    this.#load().then(
      (s) => {
        if (this.#closed) return void s.close().finally(() => this.#first.resolve())
        this.#inner = s
        s.start()
        void s.firstAttempt.then(() => this.#first.resolve())
      },
      (err: unknown) => {
        this.#sink.logger?.error({ upstream: this.#sink.name, source: this.kind, err: String((err as Error).message ?? err) }, 'discovery source failed to load')
        this.#first.resolve()
      },
    )
  }

  healthy(): boolean {
    return this.#inner?.healthy() ?? false
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#first.resolve()
    await this.#inner?.close()
  }
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
