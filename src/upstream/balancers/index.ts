// The balancer seam: a balancer picks one of a cluster's targets for a request. Health checks,
// outlier ejection and breakers (next issue) filter what a balancer may pick; they plug in here.
import type { Target } from '../target.js'
import type { RequestContext } from '../../proxy/context.js'
import { RoundRobin } from './round-robin.js'

export interface Balancer {
  readonly name: string
  /** A target, or undefined when none can take the request (→ 503 no_healthy_target). */
  pick(ctx: RequestContext): Target | undefined
}

export function createBalancer(name: string, targets: readonly Target[]): Balancer {
  switch (name) {
    case 'round-robin':
      return new RoundRobin(targets)
    default:
      throw new Error(`unknown balancer "${name}"`)
  }
}
