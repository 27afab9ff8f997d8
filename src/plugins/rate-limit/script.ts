// The rate-limit decision as one Store script: every limit of a request in one atomic call (one
// EVALSHA, one round trip). The Lua body mirrors algorithms.ts step() line by line; the JavaScript
// twin runs step() itself over the memory Store, so both backends give the same answers (the unit
// test runs the same sequence through both against a real Redis).
//
// KEYS: one per limit. ARGV: per limit [alg, limit, window_ms, burst], then optionally the number of
// requests to decide (default 1): a batch of concurrent requests for the same key, decided one
// after the other inside the script, exactly as that many separate calls in a row would be.
// State per key: "a:b:c" (see algorithms.ts). Time: the Redis server's clock (TIME), so instances
// whose clocks disagree still agree on windows and refills.
// Returns per request: [all_allowed (1|0), then per limit: remaining, reset_ms (ceil), retry_ms (ceil)].
import type { LocalState, StoreScript } from '../../state/store.js'
import { newOut, step, type LimitSpec } from './algorithms.js'

const LUA = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local eps = 1e-6
local n = #KEYS
local reqs = 1
if #ARGV % 4 == 1 then reqs = tonumber(ARGV[#ARGV]) end
local AL, LL, WL, BL, SA, SB, SC, TT = {}, {}, {}, {}, {}, {}, {}, {}
for i = 1, n do
  local j = (i - 1) * 4
  AL[i] = tonumber(ARGV[j + 1]); LL[i] = tonumber(ARGV[j + 2]); WL[i] = tonumber(ARGV[j + 3]); BL[i] = tonumber(ARGV[j + 4])
  SA[i], SB[i], SC[i] = 0, 0, 0
  local raw = redis.call('GET', KEYS[i])
  if raw then
    local x, y, z = string.match(raw, '^([^:]+):([^:]+):([^:]+)$')
    if x then SA[i] = tonumber(x) or 0; SB[i] = tonumber(y) or 0; SC[i] = tonumber(z) or 0 end
  end
end
local res = {}
local dirty = false
local NA, NB, NC, NT = {}, {}, {}, {}
for r = 1, reqs do
  local base = #res
  res[base + 1] = 1
  local all = true
  for i = 1, n do
    local alg, L, W, B = AL[i], LL[i], WL[i], BL[i]
    local a, b, c = SA[i], SB[i], SC[i]
    local allowed, na, nb, nc, rem, reset, retry, ttl
    if alg == 0 then
      local start = math.floor(now / W) * W
      local count = 0
      if a == start then count = b end
      allowed = count + 1 <= L
      local used = count
      if allowed then used = count + 1 end
      na, nb, nc = start, used, 0
      rem = math.max(0, L - used)
      reset = start + W - now
      if allowed then retry = 0 else retry = reset end
      ttl = reset
    elseif alg == 1 then
      local start = math.floor(now / W) * W
      local cur, prev = 0, 0
      if a == start then cur = b; prev = c elseif a == start - W then prev = b end
      local elapsed = now - start
      local est = (prev * (W - elapsed)) / W + cur
      allowed = est + 1 <= L + eps
      if allowed then cur = cur + 1 end
      na, nb, nc = start, cur, prev
      local used = 0
      if allowed then used = 1 end
      rem = math.max(0, math.floor(L - est - used + eps))
      reset = W - elapsed
      if allowed then retry = 0
      elseif cur + 1 <= L then retry = math.max(0, W - elapsed - ((L - 1 - cur) * W) / prev)
      else retry = W - elapsed + math.max(0, W - ((L - 1) * W) / cur) end
      ttl = 2 * W - elapsed
    elseif alg == 2 then
      local rate = L / W
      local tokens = B
      if b ~= 0 then tokens = math.min(B, a + math.max(0, now - b) * rate) end
      allowed = tokens >= 1 - eps
      if allowed then tokens = math.max(0, tokens - 1) end
      na, nb, nc = tokens, now, 0
      rem = math.max(0, math.floor(tokens + eps))
      reset = (B - tokens) / rate
      if allowed then retry = 0 else retry = (1 - tokens) / rate end
      ttl = reset + 1
    else
      local T = W / L
      local tat = math.max(a, now)
      local nxt = tat + T
      local allowAt = nxt - B * T
      allowed = now >= allowAt - eps
      if allowed then na = nxt else na = a end
      nb, nc = 0, 0
      if allowed then
        rem = math.max(0, math.floor((now - allowAt) / T + eps))
        reset = nxt - now
        retry = 0
      else
        rem = 0
        reset = tat - now
        retry = allowAt - now
      end
      ttl = reset + 1
    end
    if not allowed then all = false end
    NA[i], NB[i], NC[i] = na, nb, nc
    NT[i] = math.max(1, math.ceil(ttl))
    res[#res + 1] = rem
    res[#res + 1] = math.ceil(reset)
    if allowed then res[#res + 1] = 0 else res[#res + 1] = math.max(1, math.ceil(retry)) end
  end
  if all then
    for i = 1, n do SA[i], SB[i], SC[i], TT[i] = NA[i], NB[i], NC[i], NT[i] end
    dirty = true
  else
    -- Nothing is committed: a limit that would have allowed still has this request's unit.
    res[base + 1] = 0
    for i = 1, n do
      if res[base + 3 * i + 1] == 0 then res[base + 3 * i - 1] = res[base + 3 * i - 1] + 1 end
    end
  end
end
if dirty then
  for i = 1, n do redis.call('SET', KEYS[i], string.format('%.17g', SA[i]) .. ':' .. string.format('%.17g', SB[i]) .. ':' .. string.format('%.17g', SC[i]), 'PX', TT[i]) end
end
return res
`

function parseState(raw: string | null): { a: number; b: number; c: number } {
  if (raw === null) return { a: 0, b: 0, c: 0 }
  const p = raw.split(':')
  if (p.length !== 3) return { a: 0, b: 0, c: 0 }
  return { a: Number(p[0]) || 0, b: Number(p[1]) || 0, c: Number(p[2]) || 0 }
}

/** Turns the flat ARGV back into limit specs (shared by the twin and by tests). */
export function specsFromArgs(args: ReadonlyArray<string | number>): LimitSpec[] {
  const out: LimitSpec[] = []
  for (let j = 0; j + 3 < args.length; j += 4) {
    out.push({ alg: Number(args[j]), limit: Number(args[j + 1]), windowMs: Number(args[j + 2]), burst: Number(args[j + 3]) })
  }
  return out
}

/** Reply entries per request for `limits` limits. */
export const replyStride = (limits: number) => 1 + 3 * limits

export const RATE_LIMIT_SCRIPT: StoreScript = {
  name: 'portico-rate-limit-v2',
  lua: LUA,
  local(state: LocalState, keys: string[], args: Array<string | number>, nowMs: number): number[] {
    const specs = specsFromArgs(args)
    const reqs = args.length % 4 === 1 ? Number(args[args.length - 1]) : 1
    const res: number[] = []
    for (let r = 0; r < reqs; r++) {
      const base = res.length
      res.push(1)
      const next: Array<{ value: string; ttl: number }> = []
      let all = true
      for (let i = 0; i < keys.length; i++) {
        const out = newOut()
        if (!step(specs[i]!, parseState(state.get(keys[i]!)), nowMs, out)) all = false
        next.push({ value: `${out.a}:${out.b}:${out.c}`, ttl: Math.max(1, Math.ceil(out.ttlMs)) })
        res.push(out.remaining, Math.ceil(out.resetMs), out.allowed ? 0 : Math.max(1, Math.ceil(out.retryMs)))
      }
      if (all) for (let i = 0; i < keys.length; i++) state.set(keys[i]!, next[i]!.value, next[i]!.ttl)
      else {
        res[base] = 0
        for (let i = 0; i < keys.length; i++) if (res[base + 3 * i + 3] === 0) res[base + 3 * i + 1]!++
      }
    }
    return res
  },
}
