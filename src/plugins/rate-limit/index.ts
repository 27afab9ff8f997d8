// `rate-limit`: limits the request rate per client address, consumer, header, JWT claim, route or
// globally, with one or more limits per use (10/s and 1000/h), four algorithms (algorithms.ts), and
// two policies: `local` (this worker's memory, synchronous) and `redis` (one atomic script call per
// request covering every limit, exact across workers and instances). When Redis fails, failure_mode
// open decides with the local counters instead (not "no limit"), closed answers 503.
// Replies 429 too_many_requests with Retry-After; every response carries the IETF RateLimit-Policy
// and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-10).
import { createHash } from 'node:crypto'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply, type Verdict } from '../../core/verdict.js'
import type { RequestContext } from '../../core/context.js'
import { parseDuration } from '../../config/units.js'
import { degradedCounter, ratelimitDecisions } from '../../observability/metrics.js'
import { ALGORITHMS, type LimitSpec, type StepOut } from './algorithms.js'
import { LocalLimiter, localTable } from './local.js'
import { RATE_LIMIT_SCRIPT, replyStride } from './script.js'
import { RateLimitSchema, type RateLimitConfig } from './schema.js'

const NAME = 'rate-limit'

export interface CompiledLimit extends LimitSpec {
  /** Policy name for the headers (an sf-string without escapes). */
  readonly name: string
  /** Window in whole seconds for `w=` (rounded up, at least 1). */
  readonly windowS: number
}

function durationMs(v: string | number | undefined, def: string): number {
  return typeof v === 'number' ? v : parseDuration(v ?? def)
}

/** Compiles the limits; names are made unique (a suffix) so each header item is addressable. */
export function compileLimits(config: RateLimitConfig): CompiledLimit[] {
  const seen = new Set<string>()
  return config.limits.map((l) => {
    const windowMs = Math.max(1, durationMs(l.window, '1s'))
    const alg = ALGORITHMS[l.algorithm ?? 'sliding-window']
    const burst = l.burst !== undefined && l.burst > 0 ? l.burst : l.limit
    let name = l.name !== undefined && l.name !== '' ? l.name : `${l.limit}-per-${typeof l.window === 'string' ? l.window : `${windowMs}ms`}`
    for (let i = 2; seen.has(name); i++) name = `${name}-${i}`
    seen.add(name)
    return { name, alg, limit: l.limit, windowMs, burst, windowS: Math.max(1, Math.ceil(windowMs / 1000)) }
  })
}

/** Per-request key extraction, chosen once. Returns undefined when the key has no value. */
type KeyFn = (ctx: RequestContext) => string | undefined

function keyFunction(key: string): KeyFn {
  if (key === 'ip') return (ctx) => ctx.clientIp
  if (key === 'consumer') return (ctx) => ctx.consumer
  if (key === 'route') return (ctx) => ctx.routeName
  if (key === 'global') return () => ''
  if (key.startsWith('header:')) {
    const name = key.slice(7).toLowerCase()
    return (ctx) => {
      const v = ctx.req.headers[name]
      const s = Array.isArray(v) ? v[0] : v
      return s === undefined || s === '' ? undefined : s
    }
  }
  const claim = key.slice(6)
  return (ctx) => {
    // `claims` is set by the jwt plugin; read defensively (it may be absent or not an object).
    const claims = (ctx as { claims?: unknown }).claims
    if (claims === null || typeof claims !== 'object') return undefined
    const v = (claims as Record<string, unknown>)[claim]
    return typeof v === 'string' ? (v === '' ? undefined : v) : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined
  }
}

/** Client-chosen key values (headers, claims) can be long: past this they are hashed. */
const MAX_KEY_LENGTH = 128

/** Requests of one key decided by one script call at most, so one script run stays short. */
const MAX_BATCH = 64

function boundKey(k: string): string {
  return k.length <= MAX_KEY_LENGTH ? k : 'sha256:' + createHash('sha256').update(k).digest('base64url')
}

const TAG_UNSAFE = /[{}%]/g
const TAG_ESCAPES: Record<string, string> = { '{': '%7B', '}': '%7D', '%': '%25' }

/**
 * `s` made safe inside a Redis Cluster hash tag: a brace in a client-chosen key would end the tag
 * early (or start a second one) and split a request's keys across slots. Escaping only strings that
 * need it keeps the mapping one-to-one (an escaped string always contains `%`).
 */
export function tagSafe(s: string): string {
  return s.indexOf('{') === -1 && s.indexOf('}') === -1 && s.indexOf('%') === -1 ? s : s.replace(TAG_UNSAFE, (c) => TAG_ESCAPES[c]!)
}

/**
 * The Store keys of one decision, one per limit. They share one hash tag built from (scope, key
 * value) — not from the prefix — so one request's keys are in one Cluster slot (the script is
 * atomic over them) while different clients' counters spread over every slot.
 */
export function rateLimitKeys(scope: string, key: string, suffixes: readonly string[]): string[] {
  const base = `rl:{${tagSafe(scope)}|${tagSafe(key)}}`
  const keys = new Array<string>(suffixes.length)
  for (let i = 0; i < suffixes.length; i++) keys[i] = base + suffixes[i]!
  return keys
}

/** The IETF RateLimit field for the last decision: `"name";r=remaining;t=seconds`, one item per limit. */
export function rateLimitField(limits: readonly CompiledLimit[], outs: readonly StepOut[]): string {
  let s = ''
  for (let i = 0; i < limits.length; i++) {
    const o = outs[i]!
    if (i > 0) s += ', '
    s += `"${limits[i]!.name}";r=${o.remaining};t=${Math.ceil(o.resetMs / 1000)}`
  }
  return s
}

export function policyField(limits: readonly CompiledLimit[]): string {
  return limits.map((l) => `"${l.name}";q=${l.limit};w=${l.windowS}`).join(', ')
}

interface Series {
  value: number
}

export default definePlugin({
  name: NAME,
  phases: ['access'],
  // After ip-restriction (3000) and auth (2400-2510), so `consumer` and `claims` are known; before
  // headers (900), so a header key is read as the client sent it.
  priority: 1000,
  schema: RateLimitSchema,
  status: 'beta',
  check(config, ctx) {
    if (config.policy !== 'redis' || ctx.sharedStore) return []
    return [{ path: ['policy'], message: 'policy "redis" needs store.redis (the shared counters live there)', hint: 'add store: { redis: { url: redis://… } }, or use policy: local' }]
  },
  create(config, env) {
    const limits = compileLimits(config)
    const scope = env.route ?? '*'
    const maxKeys = config.max_keys ?? 100_000
    const local = new LocalLimiter(limits.map((l) => localTable(env.memory, scope, l, maxKeys)))
    const outs = local.outs
    const keyOf = keyFunction(config.key ?? 'ip')
    const skipMissing = config.key_missing === 'skip'
    const useRedis = config.policy === 'redis'
    if (useRedis && env.store.kind === 'memory') {
      throw new Error(`${NAME}: policy redis needs store.redis in the config (without it there is only this process's memory)`)
    }
    const store = env.store
    const timeoutMs = durationMs(config.timeout, '50ms')
    const failClosed = config.failure_mode === 'closed'
    const ietf = config.ietf_headers !== false
    const legacy = config.legacy_headers === true
    const policyValue = policyField(limits)
    // ARGV is the same for every request; KEYS are built per request from the key value.
    const args: Array<string | number> = []
    for (const l of limits) args.push(l.alg, l.limit, l.windowMs, l.burst)
    const keySuffixes = limits.map((l) => `:${l.alg}:${l.limit}:${l.windowMs}:${l.burst}`)

    // Metric series by route (a global instance serves many routes), resolved once per route.
    const seriesByRoute = new Map<string, Series[]>()
    const RESULTS = ['allowed', 'limited', 'failed'] as const
    const POLICIES = ['local', 'redis'] as const
    const seriesFor = (route: string): Series[] => {
      let s = seriesByRoute.get(route)
      if (s === undefined) {
        s = []
        for (const policy of POLICIES) {
          for (const result of RESULTS) s.push(ratelimitDecisions.series(`${route}\0${policy}\0${result}`, { route, policy, result }))
        }
        seriesByRoute.set(route, s)
      }
      return s
    }
    const degraded = degradedCounter(NAME)
    let lastWarn = 0

    /** Headers for the decision in `outs`; on a refusal, also the reply. */
    const finish = (ctx: RequestContext, allowed: boolean, policy: 0 | 1): Verdict => {
      const series = seriesFor(ctx.routeName)
      series[policy * 3 + (allowed ? 0 : 1)]!.value++
      let tightest = 0
      if (legacy) for (let i = 1; i < outs.length; i++) if (outs[i]!.remaining < outs[tightest]!.remaining) tightest = i
      if (allowed) {
        if (ietf) {
          ctx.setResponseHeader('ratelimit-policy', policyValue)
          ctx.setResponseHeader('ratelimit', rateLimitField(limits, outs))
        }
        if (legacy) {
          const o = outs[tightest]!
          ctx.setResponseHeader('x-ratelimit-limit', String(limits[tightest]!.limit))
          ctx.setResponseHeader('x-ratelimit-remaining', String(o.remaining))
          ctx.setResponseHeader('x-ratelimit-reset', String(Math.ceil(o.resetMs / 1000)))
        }
        return undefined
      }
      let retryMs = 0
      for (let i = 0; i < outs.length; i++) if (!outs[i]!.allowed && outs[i]!.retryMs > retryMs) retryMs = outs[i]!.retryMs
      const headers: Record<string, string> = { 'retry-after': String(Math.max(1, Math.ceil(retryMs / 1000))) }
      if (ietf) {
        headers['ratelimit-policy'] = policyValue
        headers.ratelimit = rateLimitField(limits, outs)
      }
      if (legacy) {
        const o = outs[tightest]!
        headers['x-ratelimit-limit'] = String(limits[tightest]!.limit)
        headers['x-ratelimit-remaining'] = String(o.remaining)
        headers['x-ratelimit-reset'] = String(Math.ceil(o.resetMs / 1000))
      }
      const reply: LocalReply = { status: 429, error: 'too_many_requests', message: 'rate limit exceeded', headers }
      return reply
    }

    // Concurrent requests for the same key within one event-loop turn are decided by one script
    // call (`n` requests, decided one after the other inside the script: exactly what n calls in a
    // row would answer, so the limit stays exact). Under load that turns n EVALSHAs (encoding,
    // reply parsing, a deadline timer each) into one; different keys still share one write through
    // the client's auto-pipelining. Batches are capped so one script call stays short.
    interface Waiter {
      ctx: RequestContext
      resolve: (v: Verdict) => void
    }
    interface Batch {
      key: string
      waiters: Waiter[]
    }
    const open = new Map<string, Batch>()
    let queue: Batch[] = []
    let scheduled = false
    const stride = replyStride(limits.length)

    const failed = (err: unknown, b: Batch): void => {
      const now = Date.now()
      if (now - lastWarn > 10_000) {
        lastWarn = now
        env.logger.warn({ err, route: b.waiters[0]!.ctx.routeName, failure_mode: failClosed ? 'closed' : 'open' }, 'rate-limit: redis failed; applying failure_mode')
      }
      for (const w of b.waiters) {
        degraded(w.ctx.routeName).value++
        if (failClosed) {
          seriesFor(w.ctx.routeName)[5]!.value++
          w.resolve({ status: 503, error: 'rate_limit_unavailable', message: 'rate limiting is temporarily unavailable' })
        } else w.resolve(finish(w.ctx, local.decide(b.key, now), 0))
      }
    }

    const send = async (b: Batch): Promise<void> => {
      const keys = rateLimitKeys(scope, b.key, keySuffixes)
      const n = b.waiters.length
      let timer: NodeJS.Timeout | undefined
      let res: number[]
      try {
        res = (await Promise.race([
          store.eval(RATE_LIMIT_SCRIPT, keys, n === 1 ? args : [...args, n]),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`redis did not answer within ${timeoutMs}ms`)), timeoutMs)
          }),
        ])) as number[]
        if (!Array.isArray(res) || res.length !== n * stride) throw new Error('unexpected rate-limit script reply')
      } catch (err) {
        return failed(err, b)
      } finally {
        clearTimeout(timer)
      }
      for (let r = 0; r < n; r++) {
        const off = r * stride
        for (let i = 0; i < limits.length; i++) {
          const o = outs[i]!
          o.remaining = Number(res[off + 1 + 3 * i])
          o.resetMs = Number(res[off + 2 + 3 * i])
          o.retryMs = Number(res[off + 3 + 3 * i])
          o.allowed = o.retryMs === 0
        }
        const w = b.waiters[r]!
        w.resolve(finish(w.ctx, Number(res[off]) === 1, 1))
      }
    }

    const flush = (): void => {
      scheduled = false
      const batches = queue
      queue = []
      open.clear()
      for (const b of batches) void send(b)
    }

    const remote = (ctx: RequestContext, key: string): Promise<Verdict> =>
      new Promise<Verdict>((resolve) => {
        let b = open.get(key)
        if (b === undefined) {
          b = { key, waiters: [] }
          open.set(key, b)
          queue.push(b)
        }
        b.waiters.push({ ctx, resolve })
        if (b.waiters.length >= MAX_BATCH) open.delete(key)
        if (!scheduled) {
          scheduled = true
          setImmediate(flush)
        }
      })

    const instance: PluginInstance = {
      access(ctx) {
        let key = keyOf(ctx)
        if (key === undefined) {
          if (skipMissing) return undefined
          key = ctx.clientIp
        }
        if (key.length > MAX_KEY_LENGTH) key = boundKey(key)
        if (useRedis) return remote(ctx, key)
        return finish(ctx, local.decide(key, Date.now()), 0)
      },
    }
    return Object.freeze(instance)
  },
})
