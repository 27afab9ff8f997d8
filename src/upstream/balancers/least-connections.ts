// Weighted least connections: the target with the fewest in-flight requests per unit of weight
// (Target.inFlight, kept by the handler). The scan starts one further each time, so ties rotate
// instead of always landing on the first target. O(n); upstreams have few targets.
import type { Target } from '../target.js'
import type { Balancer } from './balancer.js'

export class LeastConnections implements Balancer {
  readonly name = 'least-connections'
  readonly needsLatency = false
  #targets: Target[] = []
  #inverse: number[] = []
  #start = 0

  constructor(targets: readonly Target[]) {
    this.update(targets)
  }

  update(targets: readonly Target[]): void {
    this.#targets = targets.filter((t) => t.weight > 0)
    this.#inverse = this.#targets.map((t) => 1 / t.weight)
    this.#start = 0
  }

  pick(): Target | undefined {
    const targets = this.#targets
    const n = targets.length
    if (n === 0) return undefined
    const start = this.#start
    this.#start = start + 1 >= n ? 0 : start + 1
    let best = start
    let bestLoad = (targets[start]!.inFlight + 1) * this.#inverse[start]!
    for (let k = 1; k < n; k++) {
      let i = start + k
      if (i >= n) i -= n
      const load = (targets[i]!.inFlight + 1) * this.#inverse[i]!
      if (load < bestLoad) {
        bestLoad = load
        best = i
      }
    }
    return targets[best]
  }
}
