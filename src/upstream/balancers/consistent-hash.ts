// Consistent hashing on a ring (Ketama style): every target owns VNODES points per unit of weight
// (relative to the lightest configured target), a key goes to the owner of the first point at or
// after its hash. Removing a target moves only the keys that target owned (~1/N of them) to its
// ring neighbours; adding one takes ~1/(N+1) of keys, from all the others. A point's position
// depends only on the target's URL and point index, so health changes rebuild the ring without
// disturbing the keys of the targets that stayed.
import type { RequestContext } from '../../core/context.js'
import type { Target } from '../target.js'
import type { Balancer } from './balancer.js'

/** Points per unit of weight. 160 (as Ketama) keeps the spread within a few percent for small pools. */
const VNODES = 160
/** Upper bound on ring size, whatever the weights say. */
const MAX_POINTS = 40_000

/** FNV-1a over UTF-16 code units, then murmur3's finalizer for avalanche. 32-bit, no allocation. */
export function hash32(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export type KeyReader = (ctx: RequestContext) => string | undefined

/** Compiles `hash_on` into a function that reads the key from a request (undefined = absent). */
export function hashKeyReader(hashOn: string): KeyReader {
  if (hashOn === 'ip') return (ctx) => ctx.clientIp || undefined
  if (hashOn === 'path') return (ctx) => ctx.path
  if (hashOn.startsWith('header:')) {
    const name = hashOn.slice(7).toLowerCase()
    return (ctx) => {
      const v = ctx.req.headers[name]
      const s = Array.isArray(v) ? v[0] : v
      return s === undefined || s === '' ? undefined : s
    }
  }
  if (hashOn.startsWith('cookie:')) {
    const name = hashOn.slice(7)
    return (ctx) => cookieValue(ctx.req.headers.cookie, name)
  }
  throw new Error(`invalid hash_on "${hashOn}"`)
}

/** The value of cookie `name` in a Cookie header, without splitting the whole header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  let i = 0
  while (i < header.length) {
    while (header.charCodeAt(i) === 32) i++
    const semi = header.indexOf(';', i)
    const end = semi === -1 ? header.length : semi
    if (header.startsWith(name, i) && header.charCodeAt(i + name.length) === 61 /* = */) {
      const v = header.slice(i + name.length + 1, end).trim()
      return v === '' ? undefined : v
    }
    i = end + 1
  }
  return undefined
}

export class ConsistentHash implements Balancer {
  readonly name = 'consistent-hash'
  readonly needsLatency = false
  readonly #key: KeyReader
  /**
   * Points per target and the weight they were made for, fixed when the target is first seen so
   * availability changes never reshuffle. Weak: targets discovery removed leave with their entry.
   */
  readonly #points = new WeakMap<Target, { weight: number; n: number }>()
  /** Points per unit of weight: VNODES per weight of the lightest configured target, scaled to fit MAX_POINTS. */
  readonly #unit: number
  #ring = new Uint32Array(0)
  #owners: Target[] = []
  #distinct: Target[] = []

  constructor(targets: readonly Target[], key: KeyReader) {
    this.#key = key
    const weighted = targets.filter((t) => t.weight > 0)
    const minW = weighted.length === 0 ? 1 : Math.min(...weighted.map((t) => t.weight))
    let unit = VNODES / minW
    const total = weighted.reduce((a, t) => a + Math.max(1, Math.round(unit * t.weight)), 0)
    if (total > MAX_POINTS) unit = (unit * MAX_POINTS) / total
    this.#unit = unit
    this.update(targets)
  }

  /**
   * A target's points. A target first seen after construction (discovery found it, or it had no
   * weight then) gets them from the same unit as the configured ones; one whose weight changed
   * gets new ones. Each is capped so one heavy newcomer cannot blow the ring up.
   */
  #pointsOf(t: Target): number {
    if (t.weight <= 0) return 0
    const known = this.#points.get(t)
    if (known !== undefined && known.weight === t.weight) return known.n
    const n = Math.max(1, Math.min(Math.round(this.#unit * t.weight), MAX_POINTS / 4))
    this.#points.set(t, { weight: t.weight, n })
    return n
  }

  update(targets: readonly Target[]): void {
    const entries: Array<[number, Target]> = []
    const distinct: Target[] = []
    for (const t of targets) {
      const n = this.#pointsOf(t)
      if (n === 0) continue
      distinct.push(t)
      for (let v = 0; v < n; v++) entries.push([hash32(`${t.url}#${v}`), t])
    }
    // Ties (astronomically rare) are broken by URL so every worker builds the same ring.
    entries.sort((a, b) => a[0] - b[0] || (a[1].url < b[1].url ? -1 : 1))
    this.#ring = Uint32Array.from(entries, (e) => e[0])
    this.#owners = entries.map((e) => e[1])
    this.#distinct = distinct
  }

  pick(ctx: RequestContext): Target | undefined {
    const key = this.#key(ctx)
    if (key === undefined) {
      const d = this.#distinct
      return d.length === 0 ? undefined : d[(Math.random() * d.length) | 0]
    }
    return this.lookup(hash32(key))
  }

  /** Owner of the first point at or after `h` (wrapping). */
  lookup(h: number): Target | undefined {
    const ring = this.#ring
    const n = ring.length
    if (n === 0) return undefined
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (ring[mid]! < h) lo = mid + 1
      else hi = mid
    }
    return this.#owners[lo === n ? 0 : lo]
  }
}
