// Round robin. Equal weights: a plain rotating index. Unequal weights: nginx's smooth weighted
// round robin, which spreads a heavy target's turns out instead of sending them in a burst
// (weights 5,1,1 give a a b a c a a, not a a a a a b c). Targets of weight 0 are never picked.
import type { Target } from '../target.js'
import type { Balancer } from './balancer.js'

export class RoundRobin implements Balancer {
  readonly name = 'round-robin'
  readonly needsLatency = false
  #targets: Target[] = []
  #weights: number[] = []
  #current: number[] = []
  #total = 0
  #uniform = true
  #next = 0

  constructor(targets: readonly Target[]) {
    this.update(targets)
  }

  update(targets: readonly Target[]): void {
    this.#targets = targets.filter((t) => t.weight > 0)
    this.#weights = this.#targets.map((t) => t.weight)
    this.#current = this.#targets.map(() => 0)
    this.#total = this.#weights.reduce((a, b) => a + b, 0)
    this.#uniform = this.#weights.every((w) => w === this.#weights[0])
    if (this.#next >= this.#targets.length) this.#next = 0
  }

  pick(): Target | undefined {
    const n = this.#targets.length
    if (n === 0) return undefined
    if (this.#uniform) {
      const t = this.#targets[this.#next]
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1
      return t
    }
    let best = 0
    let bestWeight = -Infinity
    for (let i = 0; i < n; i++) {
      const c = (this.#current[i]! += this.#weights[i]!)
      if (c > bestWeight) {
        bestWeight = c
        best = i
      }
    }
    this.#current[best]! -= this.#total
    return this.#targets[best]
  }
}
