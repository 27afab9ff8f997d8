// Traffic splitting (canary, grey release): a route sends weighted shares of its requests to
// several upstreams. Overrides (a header or cookie with a given value) are checked first, in order.
// Without a sticky key each request draws at random. With one (`sticky.hash_on`), the key's hash
// picks a point in [0, 10000) that is laid over the cumulative weights in list order, so the same
// key keeps its upstream while the weights stay, and when the last entry (the canary) grows, only
// keys move from the others to it, never back. Compiled once per Snapshot; a reload with new
// weights builds a new split, and the clusters themselves are carried over.
import type { RequestContext } from '../core/context.js'
import { hash32, hashKeyReader, type KeyReader } from './balancers/consistent-hash.js'
import type { SplitConfig } from '../config/schema/index.js'

/** Resolution of sticky points (hash mod BUCKETS). */
export const BUCKETS = 10_000

export interface SplitBranch<T> {
  name: string
  weight: number
  value: T
}

interface Override {
  read: KeyReader
  value: string
  index: number
}

/** Where a sticky key falls, in [0, 1). A different seed than consistent-hash's, so the two are independent. */
export function stickyPoint(key: string): number {
  return (hash32(`portico:split\u0000${key}`) % BUCKETS) / BUCKETS
}

export class TrafficSplit<T> {
  readonly branches: readonly SplitBranch<T>[]
  readonly #values: T[]
  /** Cumulative weights: branch i owns [cum[i-1], cum[i]). */
  readonly #cum: number[]
  readonly #total: number
  /** Last branch with weight > 0 (float edge case). */
  readonly #lastPositive: number
  readonly #overrides: readonly Override[] | null
  readonly #sticky: KeyReader | null

  constructor(branches: readonly SplitBranch<T>[], config: SplitConfig = {}) {
    this.branches = branches
    this.#values = branches.map((b) => b.value)
    let sum = 0
    this.#cum = branches.map((b) => (sum += b.weight))
    this.#total = sum
    if (sum <= 0) throw new Error('a traffic split needs a weight above 0')
    let last = 0
    branches.forEach((b, i) => {
      if (b.weight > 0) last = i
    })
    this.#lastPositive = last
    const overrides = (config.overrides ?? []).map((o) => {
      const index = branches.findIndex((b) => b.name === o.upstream)
      if (index === -1) throw new Error(`split override names "${o.upstream}", which is not one of the route's upstreams`)
      return { read: hashKeyReader(o.header !== undefined ? `header:${o.header}` : `cookie:${o.cookie ?? ''}`), value: o.value, index }
    })
    this.#overrides = overrides.length === 0 ? null : overrides
    this.#sticky = config.sticky === undefined ? null : hashKeyReader(config.sticky.hash_on)
  }

  /** The branch for a request. Hot path of split routes only. */
  choose(ctx: RequestContext): T {
    const overrides = this.#overrides
    if (overrides !== null) {
      for (let i = 0; i < overrides.length; i++) {
        const o = overrides[i]!
        if (o.read(ctx) === o.value) return this.#values[o.index]!
      }
    }
    let point: number
    if (this.#sticky === null) point = Math.random()
    else {
      const key = this.#sticky(ctx)
      point = key === undefined ? Math.random() : stickyPoint(key)
    }
    return this.#values[this.indexAt(point)]!
  }

  /** The branch owning `point` in [0, 1). */
  indexAt(point: number): number {
    const x = point * this.#total
    const cum = this.#cum
    for (let i = 0; i < cum.length; i++) if (x < cum[i]!) return i
    return this.#lastPositive
  }
}
