// Weighted random. Equal weights: one Math.random() and an index. Unequal: a binary search over
// the cumulative weights.
import type { Target } from '../target.js'
import type { Balancer } from './balancer.js'

export class RandomBalancer implements Balancer {
  readonly name = 'random'
  readonly needsLatency = false
  #targets: Target[] = []
  #cumulative = new Float64Array(0)
  #total = 0
  #uniform = true

  constructor(targets: readonly Target[]) {
    this.update(targets)
  }

  update(targets: readonly Target[]): void {
    this.#targets = targets.filter((t) => t.weight > 0)
    this.#cumulative = new Float64Array(this.#targets.length)
    let sum = 0
    this.#targets.forEach((t, i) => (this.#cumulative[i] = sum += t.weight))
    this.#total = sum
    this.#uniform = this.#targets.every((t) => t.weight === this.#targets[0]!.weight)
  }

  pick(): Target | undefined {
    const n = this.#targets.length
    if (n === 0) return undefined
    if (this.#uniform) return this.#targets[(Math.random() * n) | 0]
    const r = Math.random() * this.#total
    const c = this.#cumulative
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (c[mid]! > r) hi = mid
      else lo = mid + 1
    }
    return this.#targets[lo]
  }
}
