// The local policy: counters in this process's memory, decided synchronously (no promise, no
// allocation once a key exists). Also the fail-open fallback of the redis policy.
//
// Tables are keyed by (scope, limit spec) and kept per data plane (through its process-local memory
// Store), so a config reload that leaves a limit unchanged keeps its counters.
import type { Store } from '../../state/store.js'
import { newOut, step, type LimitSpec, type LimitState, type StepOut } from './algorithms.js'

interface Slot extends LimitState {
  /** Date.now() after which this slot equals a fresh key (for eviction only). */
  exp: number
}

/** The counters of one limit: key value → state. Bounded by maxKeys. */
export class LocalTable {
  readonly spec: LimitSpec
  readonly map = new Map<string, Slot>()
  maxKeys: number

  constructor(spec: LimitSpec, maxKeys: number) {
    this.spec = spec
    this.maxKeys = maxKeys
  }

  /** Makes room for one more key: expired slots first, then the oldest inserted. */
  evict(now: number): void {
    const map = this.map
    for (const [k, s] of map) if (s.exp <= now) map.delete(k)
    if (map.size < this.maxKeys) return
    let drop = Math.max(1, map.size - this.maxKeys + Math.ceil(this.maxKeys / 10))
    for (const k of map.keys()) {
      map.delete(k)
      if (--drop === 0) break
    }
  }
}

const tablesByPlane = new WeakMap<Store, Map<string, LocalTable>>()

/** The table of (scope, spec) in this data plane; created on first use, shared across reloads. */
export function localTable(memory: Store, scope: string, spec: LimitSpec, maxKeys: number): LocalTable {
  let tables = tablesByPlane.get(memory)
  if (tables === undefined) tablesByPlane.set(memory, (tables = new Map()))
  const id = `${scope}\0${spec.alg}:${spec.limit}:${spec.windowMs}:${spec.burst}`
  let t = tables.get(id)
  if (t === undefined) tables.set(id, (t = new LocalTable(spec, maxKeys)))
  t.maxKeys = maxKeys
  return t
}

const FRESH: LimitState = Object.freeze({ a: 0, b: 0, c: 0 })

/** Every limit of one plugin use over local tables. */
export class LocalLimiter {
  readonly tables: readonly LocalTable[]
  /** Per-limit results of the last decide(); read them before the next call. */
  readonly outs: StepOut[]
  readonly #slots: Array<Slot | undefined>

  constructor(tables: readonly LocalTable[]) {
    this.tables = tables
    this.outs = tables.map(() => newOut())
    this.#slots = tables.map(() => undefined)
  }

  /** Decides one request for `key` at `now` (Date.now()); commits only when every limit allows. */
  decide(key: string, now: number): boolean {
    const tables = this.tables
    const outs = this.outs
    const slots = this.#slots
    let all = true
    for (let i = 0; i < tables.length; i++) {
      const slot = tables[i]!.map.get(key)
      slots[i] = slot
      if (!step(tables[i]!.spec, slot ?? FRESH, now, outs[i]!)) all = false
    }
    if (!all) {
      // Nothing is committed: a limit that allowed still has this request's unit.
      for (let i = 0; i < outs.length; i++) if (outs[i]!.allowed) outs[i]!.remaining++
      return false
    }
    for (let i = 0; i < tables.length; i++) {
      const o = outs[i]!
      const exp = now + o.ttlMs
      const slot = slots[i]
      if (slot !== undefined) {
        slot.a = o.a
        slot.b = o.b
        slot.c = o.c
        slot.exp = exp
      } else {
        const t = tables[i]!
        if (t.map.size >= t.maxKeys) t.evict(now)
        t.map.set(key, { a: o.a, b: o.b, c: o.c, exp })
      }
      slots[i] = undefined
    }
    return true
  }
}
