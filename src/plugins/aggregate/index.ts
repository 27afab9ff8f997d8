// `aggregate`: answers the route with one JSON object composed from several upstream calls
// (KrakenD-style). Calls go through the named upstreams' clusters (balancer, health, pooled
// keep-alive connections: PluginEnv.upstream) in parallel; a backend with depends_on waits for the
// one it needs and puts fields of its response into its path. Each call has its own deadline. A
// failed backend (unreachable, timeout, non-2xx, non-JSON, too large, failed dependency) is left
// out and named in `_errors`, with `x-portico-partial: true`; when every backend fails, or a
// `required` one does, the answer is a 502 aggregate_failed naming them. The upstream of the route
// itself is never called.
import { parseDuration, parseSize } from '../../config/units.js'
import type { RequestContext } from '../../core/context.js'
import { UpstreamCallError, type UpstreamCaller, type UpstreamFailure } from '../../core/upstream-call.js'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply } from '../../core/verdict.js'
import { isJsonType } from '../request-transformer/json.js'
import { AggregateSchema, type AggregateConfig } from './schema.js'
import { checkGraph, compilePath, getPath, pathValue, pick, place, type PathTemplate } from './compose.js'

const NAME = 'aggregate'

interface Backend {
  readonly name: string
  readonly index: number
  readonly client: UpstreamCaller
  readonly method: string
  readonly path: PathTemplate
  readonly group: string
  readonly fields: ReadonlyArray<readonly string[]> | null
  readonly timeoutMs: number
  readonly maxBytes: number
  readonly required: boolean
  /** Index of the backend this one waits for, and the field it needs; -1 = none. */
  readonly dep: number
  readonly depField: readonly string[]
}

/** What one backend produced. */
export type Outcome = { ok: true; data: unknown } | { ok: false; error: BackendError }
export interface BackendError {
  error: UpstreamFailure | 'status' | 'not_json' | 'dependency_failed'
  message: string
  status?: number
}

const fail = (error: BackendError['error'], message: string, status?: number): Outcome => ({ ok: false, error: status === undefined ? { error, message } : { error, message, status } })

/** Interprets one backend's response: a 2xx JSON body, else a named failure. */
export function interpret(status: number, contentType: string | string[] | undefined, body: Buffer, method: string): Outcome {
  if (status < 200 || status > 299) return fail('status', `the backend answered ${status}`, status)
  if (method === 'HEAD' || status === 204 || body.length === 0) return { ok: true, data: null }
  const ct = Array.isArray(contentType) ? contentType[0] : contentType
  if (!isJsonType(ct)) return fail('not_json', `the backend answered ${ct === undefined ? 'without a content-type' : `content-type ${ct.split(';')[0]!.trim()}`}, not JSON`)
  try {
    return { ok: true, data: JSON.parse(body.toString('utf8')) as unknown }
  } catch {
    return fail('not_json', 'the backend answered invalid JSON')
  }
}

export default definePlugin({
  name: NAME,
  phases: ['access'],
  // Last in access, beside mock (100): ip, auth, rate limits, headers and request-transformer
  // (which prepare the headers forwarded to the calls) all run first.
  priority: 90,
  schema: AggregateSchema,
  status: 'experimental',
  check(config, ctx) {
    return config.backends.flatMap((b, k) => {
      if (ctx.upstreams.includes(b.upstream)) return []
      const path = ['backends', k, 'upstream']
      const hint = ctx.upstreams.length === 0 ? 'no upstreams are defined' : ctx.suggest(b.upstream, ctx.upstreams, 'defined upstreams')
      return [{ path, message: `unknown upstream ${ctx.show(path, b.upstream)}`, ...(hint === undefined ? {} : { hint }) }]
    })
  },
  create(config: AggregateConfig, env) {
    checkGraph(config.backends)
    const names = config.backends.map((b) => b.name)
    const backends: Backend[] = config.backends.map((b, index) => {
      const where = `aggregate: backend "${b.name}"`
      const client = env.upstream?.(b.upstream)
      if (client === undefined) throw new TypeError(`${where}: unknown upstream "${b.upstream}"`)
      return {
        name: b.name,
        index,
        client,
        method: b.method ?? 'GET',
        path: compilePath(b.path, b.depends_on?.backend, where),
        group: b.group ?? '',
        fields: b.fields === undefined || b.fields.length === 0 ? null : b.fields.map((f) => f.split('.')),
        timeoutMs: parseDuration(b.timeout ?? '2s'),
        maxBytes: parseSize(b.max_body_bytes ?? '1mb'),
        required: b.required ?? false,
        dep: b.depends_on === undefined ? -1 : names.indexOf(b.depends_on.backend),
        depField: b.depends_on === undefined ? [] : b.depends_on.field.split('.'),
      }
    })
    // Topological order: each backend after the one it depends on (checkGraph refused cycles).
    const order: Backend[] = []
    const visit = (b: Backend): void => {
      if (order.includes(b)) return
      if (b.dep !== -1) visit(backends[b.dep]!)
      order.push(b)
    }
    for (const b of backends) visit(b)
    const forward = (config.forward_headers ?? []).map((h) => h.toLowerCase())
    const forwardQuery = config.forward_query ?? false
    const logger = env.logger

    const headersFor = (ctx: RequestContext): Record<string, string> => {
      const h: Record<string, string> = { 'x-request-id': ctx.id, accept: 'application/json' }
      const uh = ctx.upstreamHeaders
      for (const name of forward) {
        const v = uh[name]
        if (v !== undefined) h[name] = Array.isArray(v) ? v.join(', ') : String(v)
      }
      return h
    }

    const call = async (b: Backend, ctx: RequestContext, headers: Record<string, string>, outcomes: Array<Promise<Outcome>>): Promise<Outcome> => {
      let depData: unknown
      if (b.dep !== -1) {
        const d = await outcomes[b.dep]!
        const depName = backends[b.dep]!.name
        if (!d.ok) return fail('dependency_failed', `backend ${depName} failed`)
        if (pathValue(getPath(d.data, b.depField)) === undefined) return fail('dependency_failed', `backend ${depName} has no usable ${b.depField.join('.')}`)
        depData = d.data
      }
      let path = b.path.parts[0]!
      for (let i = 0; i < b.path.holes.length; i++) {
        const hole = b.path.holes[i]!
        const v = hole.kind === 'param' ? pathValue(ctx.params[hole.name]) : pathValue(getPath(depData, hole.path))
        if (v === undefined) return fail('dependency_failed', hole.kind === 'param' ? `no route parameter ${hole.name}` : `no usable ${hole.path.join('.')} in the dependency's response`)
        path += v + b.path.parts[i + 1]!
      }
      if (forwardQuery && ctx.query !== '') path += (path.includes('?') ? '&' : '?') + ctx.query
      try {
        const r = await b.client.request({ method: b.method, path, headers, timeoutMs: b.timeoutMs, maxBytes: b.maxBytes, ctx })
        const o = interpret(r.status, r.headers['content-type'], r.body, b.method)
        if (!o.ok) logger.debug({ request_id: ctx.id, backend: b.name, reason: o.error.message }, 'aggregate: backend failed')
        return o
      } catch (err) {
        if (err instanceof UpstreamCallError) {
          logger.debug({ request_id: ctx.id, backend: b.name, reason: err.message }, 'aggregate: backend failed')
          return fail(err.code, err.message)
        }
        throw err
      }
    }

    const compose = (ctx: RequestContext, results: Outcome[]): LocalReply => {
      const out: Record<string, unknown> = {}
      const errors: Record<string, BackendError> = {}
      let failed = 0
      let requiredFailed: string | null = null
      for (const b of backends) {
        const o = results[b.index]!
        if (o.ok) place(out, b.name, b.group, b.fields === null ? o.data : pick(o.data, b.fields))
        else {
          failed++
          Object.defineProperty(errors, b.name, { value: o.error, enumerable: true, writable: true, configurable: true })
          if (b.required && requiredFailed === null) requiredFailed = b.name
        }
      }
      if (failed === backends.length || requiredFailed !== null) {
        const list = Object.entries(errors).map(([n, e]) => `${n} (${e.error})`).join(', ')
        logger.warn({ request_id: ctx.id, route: ctx.routeName, errors }, 'aggregate: no usable answer')
        return {
          status: 502,
          error: 'aggregate_failed',
          message: requiredFailed !== null ? `required backend failed: ${list}` : `every backend failed: ${list}`,
        }
      }
      if (failed === 0) return { status: 200, body: out }
      out._errors = errors
      return { status: 200, headers: { 'x-portico-partial': 'true' }, body: out }
    }

    const instance: PluginInstance = {
      access(ctx) {
        const headers = headersFor(ctx)
        const outcomes: Array<Promise<Outcome>> = []
        // Dependencies first (order), so every promise a call awaits already exists.
        for (const b of order) outcomes[b.index] = call(b, ctx, headers, outcomes)
        return Promise.all(outcomes).then((results) => compose(ctx, results))
      },
    }
    return Object.freeze(instance)
  },
})
