// POST /admin/explain: which route a request would hit, with the same path normalization and the
// same route table (router/) a worker builds from the serving config, and what that route does
// with it: the plugins in effect, the upstream and its targets. The console's explain tool and
// scripts use it to answer "why does this request get a 404 / the wrong service?" without sending it.
import type { Config } from '../../config/schema/index.js'
import { INSTALLED_PLUGINS } from '../../plugins/installed.js'
import type { Phase } from '../../plugins/contract.js'
import type { UseScope } from '../../plugins/pipeline.js'
import { explainRequest, pluginOrder, upstreamsOf, type Explanation as Explained } from '../explain.js'
import { routeStatus } from '../status.js'

type ExplainedRoute = NonNullable<Explained['route']>

export interface ExplainInput {
  method: string
  /** A path ("/api/users?x=1") or an absolute URL ("http://api.example.com/api/users"). */
  url: string
  headers?: Record<string, string>
  /** Instead of a request: the name of a route, whose compiled pipeline is explained (no matching). */
  route?: string
}

/** One plugin of the compiled pipeline, in the order the worker runs it (phase, then priority, then name). */
export interface PipelineStep {
  name: string
  phase: Phase
  priority: number
  from: UseScope
}

export type Explanation =
  | {
      matched: true
      route: string
      params: Record<string, string | undefined>
      /** Plugins in effect, in the order they first run (phases, then priority). */
      plugins: string[]
      /** Phase → plugins in run order (control/explain.ts). */
      phases: ExplainedRoute['plugins']
      /** The compiled pipeline flattened: every (plugin, phase) step in run order. */
      pipeline: PipelineStep[]
      upstream: string
      /** The upstream's (or every split branch's) declared targets. */
      targets: Array<{ upstream: string; url: string; weight: number }>
      strip_prefix: string | null
      /** The path the upstream receives (strip_prefix and rewrite applied); null when a route was explained by name. */
      upstream_path: string | null
    }
  | { matched: false; status: 400 | 404 | 405; error: 'invalid_path' | 'invalid_host' | 'route_not_found' | 'method_not_allowed'; message: string; allow?: string }

export class BadExplain extends Error {}

/** Validates the request body into an ExplainInput; throws BadExplain with what is wrong. */
export function parseExplain(body: unknown): ExplainInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadExplain('the body must be a JSON object {method, url, headers?} or {route}')
  const b = body as Record<string, unknown>
  for (const k of Object.keys(b)) if (k !== 'method' && k !== 'url' && k !== 'headers' && k !== 'route') throw new BadExplain(`unknown field "${k}" (method, url, headers, route)`)
  if (b.route !== undefined) {
    if (typeof b.route !== 'string' || b.route === '' || b.route.length > 256) throw new BadExplain('"route" must be a route name')
    if (b.url !== undefined || b.method !== undefined || b.headers !== undefined) throw new BadExplain('give either "route" or a request (method, url, headers), not both')
    return { method: 'GET', url: '', route: b.route }
  }
  const method = b.method ?? 'GET'
  if (typeof method !== 'string' || !/^[A-Za-z]{1,20}$/.test(method)) throw new BadExplain('"method" must be an HTTP method name')
  if (typeof b.url !== 'string' || b.url === '' || b.url.length > 8192) throw new BadExplain('"url" must be a path or an absolute http(s) URL of at most 8192 characters')
  const headers: Record<string, string> = {}
  if (b.headers !== undefined) {
    if (typeof b.headers !== 'object' || b.headers === null || Array.isArray(b.headers)) throw new BadExplain('"headers" must be an object of header name → value')
    for (const [k, v] of Object.entries(b.headers)) {
      if (typeof v !== 'string') throw new BadExplain(`header "${k}" must be a string`)
      headers[k.toLowerCase()] = v
    }
  }
  return { method: method.toUpperCase(), url: b.url, headers }
}

/**
 * The admin shape of control/explain.ts explainRequest (the one explanation `portico explain`
 * prints too): plugins flattened in run order, targets with their weights (passwords hidden).
 */
export function explain(config: Config, input: ExplainInput): Explanation {
  if (input.route !== undefined) return explainRoute(config, input.route)
  const e = explainRequest(config, INSTALLED_PLUGINS, { method: input.method, url: input.url, headers: input.headers })
  const path = e.path ?? input.url.slice(0, 200)
  switch (e.outcome) {
    case 'invalid_path':
      return { matched: false, status: 400, error: 'invalid_path', message: `${path} is not a routable path` }
    case 'invalid_host':
      return { matched: false, status: 400, error: 'invalid_host', message: 'the Host header is not a host[:port]' }
    case 'route_not_found':
      return { matched: false, status: 404, error: 'route_not_found', message: `no route for ${e.method} ${path}` }
    case 'method_not_allowed':
      return { matched: false, status: 405, error: 'method_not_allowed', message: `${e.method} is not allowed on ${path}`, allow: e.allow ?? '' }
  }
  const r = e.route!
  const route = config.routes.find((x) => x.name === r.name)!
  return {
    matched: true,
    route: r.name,
    params: { ...r.params },
    ...pipelineOf(r.plugins),
    upstream: routeStatus({ ...config, routes: [route] })[0]!.upstream,
    targets: declaredTargets(r.upstreams),
    strip_prefix: route.strip_prefix ?? null,
    upstream_path: r.upstream_path,
  }
}

/** The upstreams' declared targets with their weights (a discovered upstream has none to list). */
function declaredTargets(upstreams: ExplainedRoute['upstreams']): Array<{ upstream: string; url: string; weight: number }> {
  return upstreams.flatMap((u) => (typeof u.targets === 'string' ? [] : u.targets.map((t) => ({ upstream: u.name, url: t.url, weight: t.weight ?? 1 }))))
}

/** The names in first-run order, and every step flat in run order (the phases object is in PHASES order). */
function pipelineOf(phases: ExplainedRoute['plugins']): { plugins: string[]; phases: ExplainedRoute['plugins']; pipeline: PipelineStep[] } {
  const plugins: string[] = []
  const pipeline: PipelineStep[] = []
  for (const [phase, steps] of Object.entries(phases) as Array<[Phase, NonNullable<ExplainedRoute['plugins'][Phase]>]>) {
    for (const s of steps) {
      if (!plugins.includes(s.name)) plugins.push(s.name)
      pipeline.push({ name: s.name, phase, priority: s.priority, from: s.from })
    }
  }
  return { plugins, phases, pipeline }
}

/** A route by name: its compiled pipeline and upstream, as a request it matches would get them. */
function explainRoute(config: Config, name: string): Explanation {
  const route = config.routes.find((x) => x.name === name)
  if (route === undefined) return { matched: false, status: 404, error: 'route_not_found', message: `no route named ${name.slice(0, 200)}` }
  return {
    matched: true,
    route: route.name,
    params: {},
    ...pipelineOf(pluginOrder(config, route, INSTALLED_PLUGINS)),
    upstream: routeStatus({ ...config, routes: [route] })[0]!.upstream,
    targets: declaredTargets(upstreamsOf(config, route)),
    strip_prefix: route.strip_prefix ?? null,
    upstream_path: null,
  }
}
