// Power of two choices over a peak-EWMA cost (Finagle/Linkerd's "p2c + peak EWMA"): draw two
// different targets at random and send to the cheaper, where
//   cost = latency EWMA × (in-flight + 1) / weight.
// The EWMA is a *peak* EWMA of response-head latency: a slower response than the average replaces
// it at once, a faster one pulls it down with time constant TAU. Costs decay on read as well (an
// observation of 0), so a target penalised by one bad response is tried again after a while
// instead of being starved forever. A target without a measurement yet costs nothing when idle and
// PENALTY when busy, so a new target is probed but not flooded.
import { performance } from 'node:perf_hooks'
import type { Target } from '../target.js'
import type { Balancer } from './balancer.js'

/** Decay time constant, ms (Linkerd and Finagle use 10 s). */
export const TAU_MS = 10_000
/** Cost of a busy target with no latency measured yet, ms-equivalent. */
const PENALTY = 1_000_000
/** Latency recorded for a failed exchange (connect refused, reset): fast failures must not attract traffic. */
export const FAILURE_LATENCY_MS = 1000

/** Folds one latency sample (ms) into the target's peak EWMA. */
export function observeLatency(t: Target, ms: number, now: number): void {
  const prev = t.ewma
  if (ms > prev) t.ewma = ms
  else t.ewma = ms + (prev - ms) * Math.exp(-(now - t.ewmaAt) / TAU_MS)
  t.ewmaAt = now
}

function cost(t: Target, now: number): number {
  const e = t.ewma
  if (e === 0) return t.inFlight === 0 ? 0 : PENALTY + t.inFlight
  const decayed = e * Math.exp(-(now - t.ewmaAt) / TAU_MS)
  return (decayed * (t.inFlight + 1)) / t.weight
}

export class P2cEwma implements Balancer {
  readonly name = 'p2c-ewma'
  readonly needsLatency = true
  #targets: Target[] = []

  constructor(targets: readonly Target[]) {
    this.update(targets)
  }

  update(targets: readonly Target[]): void {
    this.#targets = targets.filter((t) => t.weight > 0)
  }

  pick(): Target | undefined {
    const targets = this.#targets
    const n = targets.length
    if (n < 2) return targets[0]
    const i = (Math.random() * n) | 0
    let j = (Math.random() * (n - 1)) | 0
    if (j >= i) j++
    const a = targets[i]!
    const b = targets[j]!
    const now = performance.now()
    return cost(a, now) <= cost(b, now) ? a : b
  }
}
