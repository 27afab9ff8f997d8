// The four rate-limit algorithms as pure arithmetic over a three-number state, written once here
// and mirrored line by line in the Lua script (script.ts). The local policy calls step() directly on
// plain objects; the memory Store's script twin calls it on parsed strings; Redis runs the Lua.
//
// A step never mutates the state it reads: it writes the proposed next state into `out`, and the
// caller commits it only when every limit of the request allowed it (a request refused by one limit
// consumes nothing from the others).

export const ALG_FIXED = 0
export const ALG_SLIDING = 1
export const ALG_BUCKET = 2
export const ALG_GCRA = 3

export const ALGORITHMS = { 'fixed-window': ALG_FIXED, 'sliding-window': ALG_SLIDING, 'token-bucket': ALG_BUCKET, gcra: ALG_GCRA } as const
export type AlgorithmName = keyof typeof ALGORITHMS

/** One compiled limit: `limit` requests per `windowMs`; `burst` is the bucket size (token bucket, GCRA). */
export interface LimitSpec {
  readonly alg: number
  readonly limit: number
  readonly windowMs: number
  readonly burst: number
}

/** a, b, c: algorithm-specific; all zero = never seen (a fresh key). */
export interface LimitState {
  a: number
  b: number
  c: number
}

export interface StepOut extends LimitState {
  allowed: boolean
  /** Requests still allowed after this one (floor). */
  remaining: number
  /** ms until the quota is fully restored (window end, or bucket full). */
  resetMs: number
  /** ms until a refused request could succeed (0 when allowed). */
  retryMs: number
  /** How long the next state must be kept; after that it equals a fresh key. */
  ttlMs: number
}

/** Float slack so that exactly `burst` requests at one instant are all admitted (GCRA, bucket). */
const EPS = 1e-6

export function newOut(): StepOut {
  return { a: 0, b: 0, c: 0, allowed: false, remaining: 0, resetMs: 0, retryMs: 0, ttlMs: 0 }
}

/**
 * Decides one request against one limit at time `now` (ms; fractional allowed). Writes the result
 * and the proposed next state into `out` and returns `out.allowed`.
 */
export function step(spec: LimitSpec, s: LimitState, now: number, out: StepOut): boolean {
  const L = spec.limit
  const W = spec.windowMs
  switch (spec.alg) {
    case ALG_FIXED: {
      // Windows aligned to the clock, so every instance (and the reset header) agrees on them.
      const start = Math.floor(now / W) * W
      const count = s.a === start ? s.b : 0
      const allowed = count + 1 <= L
      const used = allowed ? count + 1 : count
      out.a = start
      out.b = used
      out.c = 0
      out.allowed = allowed
      out.remaining = Math.max(0, L - used)
      out.resetMs = start + W - now
      out.retryMs = allowed ? 0 : out.resetMs
      out.ttlMs = out.resetMs
      return allowed
    }
    case ALG_SLIDING: {
      // Counter approximation: the previous window's count weighted by how much of it still
      // overlaps the sliding window, plus the current window's count.
      const start = Math.floor(now / W) * W
      let cur = 0
      let prev = 0
      if (s.a === start) {
        cur = s.b
        prev = s.c
      } else if (s.a === start - W) {
        prev = s.b
      }
      const elapsed = now - start
      const est = (prev * (W - elapsed)) / W + cur
      const allowed = est + 1 <= L + EPS
      if (allowed) cur += 1
      out.a = start
      out.b = cur
      out.c = prev
      out.allowed = allowed
      out.remaining = Math.max(0, Math.floor(L - est - (allowed ? 1 : 0) + EPS))
      out.resetMs = W - elapsed
      if (allowed) out.retryMs = 0
      else if (cur + 1 <= L) out.retryMs = Math.max(0, W - elapsed - ((L - 1 - cur) * W) / prev)
      else out.retryMs = W - elapsed + Math.max(0, W - ((L - 1) * W) / cur)
      out.ttlMs = 2 * W - elapsed
      return allowed
    }
    case ALG_BUCKET: {
      // a = tokens, b = time of the last update. Refills limit/window per ms up to burst.
      const rate = L / W
      const cap = spec.burst
      let tokens = s.b === 0 ? cap : Math.min(cap, s.a + Math.max(0, now - s.b) * rate)
      const allowed = tokens >= 1 - EPS
      if (allowed) tokens = Math.max(0, tokens - 1)
      out.a = tokens
      out.b = now
      out.c = 0
      out.allowed = allowed
      out.remaining = Math.max(0, Math.floor(tokens + EPS))
      out.resetMs = (cap - tokens) / rate
      out.retryMs = allowed ? 0 : (1 - tokens) / rate
      out.ttlMs = out.resetMs + 1
      return allowed
    }
    default: {
      // GCRA: a = theoretical arrival time. Emission interval T, burst tolerance burst*T.
      const T = W / L
      const tat = Math.max(s.a, now)
      const next = tat + T
      const allowAt = next - spec.burst * T
      const allowed = now >= allowAt - EPS
      out.a = allowed ? next : s.a
      out.b = 0
      out.c = 0
      out.allowed = allowed
      out.remaining = allowed ? Math.max(0, Math.floor((now - allowAt) / T + EPS)) : 0
      out.resetMs = (allowed ? next : tat) - now
      out.retryMs = allowed ? 0 : allowAt - now
      out.ttlMs = out.resetMs + 1
      return allowed
    }
  }
}
