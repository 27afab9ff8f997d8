// A cluster is one named upstream: its targets, pools, balancer and resolved timeouts. Clusters
// whose definition did not change are carried over from one Snapshot to the next (same pools, same
// balancer state), so a reload causes no connection churn.
import type { UpstreamConfig } from '../config/schema/index.js'
import { parseDuration } from '../config/units.js'
import { createBalancer, type Balancer } from './balancers/index.js'
import { Target } from './target.js'
import type { RequestContext } from '../proxy/context.js'

export interface ResolvedTimeouts {
  connect: number
  read: number
  total: number
}

export const DEFAULT_TIMEOUTS: ResolvedTimeouts = { connect: 2000, read: 30_000, total: 60_000 }

export class Cluster {
  readonly name: string
  /** Canonical JSON of the definition: equal keys mean the cluster can be carried over. */
  readonly key: string
  readonly targets: readonly Target[]
  readonly balancer: Balancer
  readonly timeouts: ResolvedTimeouts

  constructor(name: string, def: UpstreamConfig) {
    this.name = name
    this.key = JSON.stringify(def)
    const settings = {
      connections: def.max_connections ?? 256,
      keepAliveTimeout: parseDuration(def.keep_alive_timeout ?? '4s'),
    }
    this.targets = def.targets.map((t) => new Target(t.url, t.weight ?? 1, settings))
    this.balancer = createBalancer(def.balancer ?? 'round-robin', this.targets)
    this.timeouts = {
      connect: parseDuration(def.timeouts?.connect ?? DEFAULT_TIMEOUTS.connect),
      read: parseDuration(def.timeouts?.read ?? DEFAULT_TIMEOUTS.read),
      total: parseDuration(def.timeouts?.total ?? DEFAULT_TIMEOUTS.total),
    }
  }

  pick(ctx: RequestContext): Target | undefined {
    return this.balancer.pick(ctx)
  }

  async close(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.close()))
  }
}
