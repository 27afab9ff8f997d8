// Service discovery: where a cluster's targets come from when they are not listed statically.
// A source pushes the full current list to its sink (the Cluster), which diffs it by URL: targets
// that stayed keep their Target object (pools, health, in-flight counts), new ones are created,
// removed ones are closed once their in-flight requests are done. Discovery never rebuilds a
// Snapshot. A source that cannot reach its backend keeps the last list it pushed.
import type { Logger } from 'pino'

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

/** One deferred promise, resolved once. */
export function once(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}
