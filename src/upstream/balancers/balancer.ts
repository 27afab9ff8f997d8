// The balancer seam: a balancer picks one of a cluster's targets for a request. It only ever sees
// the targets that may take traffic: the cluster calls update() with the available ones whenever
// health (active checks, outlier ejection) changes, and later when discovery changes the set. So
// pick() never checks health, and a cluster without health checks pays nothing for them.
import type { Target } from '../target.js'
import type { RequestContext } from '../../core/context.js'

export interface Balancer {
  readonly name: string
  /** A target, or undefined when none can take the request (→ 503 no_healthy_target). Hot path. */
  pick(ctx: RequestContext): Target | undefined
  /**
   * The set of targets that may be picked changed. Off the hot path (health transitions are rare);
   * implementations rebuild whatever tables they keep here.
   */
  update(targets: readonly Target[]): void
  /** True when pick() uses Target.ewma, so the handler must feed it latencies. */
  readonly needsLatency: boolean
}

export type BalancerName = 'round-robin' | 'least-connections' | 'consistent-hash' | 'random' | 'p2c-ewma'

export interface BalancerOptions {
  /** consistent-hash key: ip | path | header:<name> | cookie:<name>. */
  hashOn?: string | undefined
}
