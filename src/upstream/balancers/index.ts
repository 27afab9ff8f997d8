// The balancers by name (config `balancer:`). The seam itself is balancer.ts.
import type { Target } from '../target.js'
import type { Balancer, BalancerName, BalancerOptions } from './balancer.js'
import { RoundRobin } from './round-robin.js'
import { LeastConnections } from './least-connections.js'
import { ConsistentHash, hashKeyReader } from './consistent-hash.js'
import { RandomBalancer } from './random.js'
import { P2cEwma } from './p2c-ewma.js'

/** Every balancer `createBalancer` knows (the conformance suite runs against each). */
export const BALANCER_NAMES = ['round-robin', 'least-connections', 'consistent-hash', 'random', 'p2c-ewma'] as const satisfies readonly BalancerName[]

/** `targets` is the full configured list; the balancer starts with the ones of weight > 0. */
export function createBalancer(name: string, targets: readonly Target[], opts: BalancerOptions = {}): Balancer {
  switch (name) {
    case 'round-robin':
      return new RoundRobin(targets)
    case 'least-connections':
      return new LeastConnections(targets)
    case 'consistent-hash':
      return new ConsistentHash(targets, hashKeyReader(opts.hashOn ?? 'ip'))
    case 'random':
      return new RandomBalancer(targets)
    case 'p2c-ewma':
      return new P2cEwma(targets)
    default:
      throw new Error(`unknown balancer "${name}"`)
  }
}
