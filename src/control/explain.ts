// `portico explain`: what the gateway would do with one request under a config, without starting
// anything: which route it matches (or why none does), the path sent upstream, the plugins that run
// in each phase in their order, and the upstream(s) and targets. It uses the same pieces the data
// plane uses — the route table and route specs (snapshot/compile.ts), path normalization, Host
// validation and the upstream path (proxy/front.ts), and the plugin merge and order
// (plugins/pipeline.ts) — so its answer cannot drift from what a worker does. No plugin instance,
// upstream pool or health checker is created: plugins are ordered by their definitions.
import type { IncomingHttpHeaders } from 'node:http'
import type { Config, RouteConfig } from '../config/schema/index.js'
import { hostName } from '../core/address.js'
import { mergeUses, stepOrder, type UseScope } from '../plugins/pipeline.js'
import { PHASES, type Phase, type PluginDefinition } from '../plugins/contract.js'
import { hostValid, targetPath, upstreamPath } from '../proxy/front.js'
import { RouteTable } from '../router/table.js'
import { compileRewrite, compileStripPrefix, routeSpec } from '../snapshot/compile.js'

export interface ExplainRequest {
  method: string
  /** An absolute URL (http://host/path?query) or an origin-form path with `host` in headers. */
  url: string
  headers?: IncomingHttpHeaders
  /** TLS server name the client sent ('' for cleartext). */
  sni?: string
}

export interface ExplainedPlugin {
  name: string
  priority: number
  /** Where the use comes from: the document's global `plugins`, or the route's own. */
  from: UseScope
}

export interface Explanation {
  method: string
  host: string
  /** The path as the router sees it (normalized), or null when it is invalid. */
  path: string | null
  query: string
  /** routed, or the catalogue code the gateway would answer with. */
  outcome: 'routed' | 'invalid_path' | 'invalid_host' | 'route_not_found' | 'method_not_allowed'
  /** method_not_allowed: the Allow header. */
  allow?: string
  route?: {
    name: string
    params: Record<string, string | undefined>
    upstream_path: string
    preserve_host: boolean
    websocket: boolean
    /** Phase → plugins in the order they run. Consumer plugins join once an auth plugin identifies one. */
    plugins: Partial<Record<Phase, ExplainedPlugin[]>>
    upstreams: Array<{ name: string; weight?: number; targets: Array<{ url: string; weight?: number }> | string }>
  }
}

export function explainRequest(config: Config, registry: ReadonlyMap<string, PluginDefinition>, req: ExplainRequest): Explanation {
  const method = req.method.toUpperCase()
  const headers: IncomingHttpHeaders = {}
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v
  let target = req.url
  const abs = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(target)
  if (abs !== null) {
    headers.host ??= abs[2]
    target = abs[3] === '' ? '/' : abs[3]!
  }
  const q = target.indexOf('?')
  const query = q === -1 ? '' : target.slice(q + 1)
  const hostHeader = typeof headers.host === 'string' ? headers.host : ''
  const host = hostName(hostHeader)
  const base = { method, host, query }
  const path = targetPath(target, q) ?? null
  if (path === null) return { ...base, path, outcome: 'invalid_path' }
  if (hostHeader !== '' && !hostValid(hostHeader)) return { ...base, path, outcome: 'invalid_host' }

  const table = new RouteTable(config.routes.map((r) => routeSpec(r, r)))
  let m = table.match(host, method, path, headers, req.sni ?? '')
  // A CORS preflight is answered by the route of the method it asks about, when cors runs there
  // (proxy/handler.ts preflightMatch).
  const wanted = headers['access-control-request-method']
  if (m.kind === 'method_not_allowed' && method === 'OPTIONS' && headers.origin !== undefined && typeof wanted === 'string' && wanted !== '') {
    const pre = table.match(host, wanted.toUpperCase(), path, headers, req.sni ?? '')
    if (pre.kind === 'found' && pluginOrder(config, pre.data, registry).access?.some((p) => registry.get(p.name)?.answersPreflight === true) === true) m = pre
  }
  if (m.kind === 'not_found') return { ...base, path, outcome: 'route_not_found' }
  if (m.kind === 'method_not_allowed') return { ...base, path, outcome: 'method_not_allowed', allow: m.allow }
  const r = m.data
  return {
    ...base,
    path,
    outcome: 'routed',
    route: {
      name: r.name,
      params: m.params,
      upstream_path: upstreamPath({ stripPrefix: compileStripPrefix(r), rewrite: compileRewrite(r) }, path),
      preserve_host: r.preserve_host ?? false,
      websocket: r.websocket?.enabled === true,
      plugins: pluginOrder(config, r, registry),
      upstreams: upstreamsOf(config, r),
    },
  }
}

/** The route's merged plugins per phase, in run order (priority, then name: plugins/pipeline.ts stepOrder). */
export function pluginOrder(config: Config, r: RouteConfig, registry: ReadonlyMap<string, PluginDefinition>): Partial<Record<Phase, ExplainedPlugin[]>> {
  const out: Partial<Record<Phase, ExplainedPlugin[]>> = {}
  for (const [name, { use, scope }] of mergeUses(config.plugins ?? [], r.plugins ?? [])) {
    const def = registry.get(name)
    if (def === undefined) continue // validation refuses unknown plugins before this runs
    for (const phase of def.phases) (out[phase] ??= []).push({ name, priority: use.priority ?? def.priority, from: scope })
  }
  const sorted: Partial<Record<Phase, ExplainedPlugin[]>> = {}
  for (const phase of PHASES) {
    const steps = out[phase]
    if (steps !== undefined) sorted[phase] = steps.sort((a, b) => stepOrder({ ...a, instance: {} }, { ...b, instance: {} }))
  }
  return sorted
}

export function upstreamsOf(config: Config, r: RouteConfig): NonNullable<Explanation['route']>['upstreams'] {
  const targets = (name: string) => {
    const u = config.upstreams[name]
    if (u === undefined) return 'unknown upstream'
    if (u.targets !== undefined) return u.targets.map((t) => ({ url: redactUrl(t.url), ...(t.weight === undefined ? {} : { weight: t.weight }) }))
    return `discovered (${Object.keys(u.discovery ?? {}).join(', ')})`
  }
  if (r.upstreams !== undefined) return r.upstreams.map((u) => ({ name: u.name, weight: u.weight, targets: targets(u.name) }))
  return r.upstream === undefined ? [] : [{ name: r.upstream, targets: targets(r.upstream) }]
}

/** A target URL without its password (an explanation is shown and pasted around). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password === '') return url
    u.password = '***'
    return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '')
  } catch {
    return url
  }
}

/** The explanation as text for a terminal. */
export function formatExplanation(e: Explanation): string {
  const lines = [`${e.method} ${e.host === '' ? '(no host)' : e.host} ${e.path ?? '(invalid path)'}${e.query === '' ? '' : `?${e.query}`}`]
  if (e.route === undefined) {
    const why: Record<Exclude<Explanation['outcome'], 'routed'>, string> = {
      invalid_path: '400 invalid_path: the path is not a valid origin-form path',
      invalid_host: '400 invalid_host: the Host header is not a host[:port]',
      route_not_found: '404 route_not_found: no route matches this host, method and path',
      method_not_allowed: `405 method_not_allowed (Allow: ${e.allow ?? ''})`,
    }
    lines.push(`  → ${why[e.outcome as Exclude<Explanation['outcome'], 'routed'>]}`)
    return lines.join('\n') + '\n'
  }
  const r = e.route
  const params = Object.entries(r.params)
  lines.push(`  route      ${r.name}${params.length === 0 ? '' : `  (${params.map(([k, v]) => `${k}=${v ?? ''}`).join(', ')})`}`)
  lines.push(`  upstream   path ${r.upstream_path}${r.preserve_host ? ', Host preserved' : ''}${r.websocket ? ', WebSocket allowed' : ''}`)
  for (const u of r.upstreams) {
    const ts = typeof u.targets === 'string' ? u.targets : u.targets.map((t) => (t.weight === undefined ? t.url : `${t.url} (weight ${t.weight})`)).join(', ')
    lines.push(`             ${u.name}${u.weight === undefined ? '' : ` (weight ${u.weight})`}: ${ts}`)
  }
  const phases = PHASES.filter((p) => r.plugins[p] !== undefined)
  if (phases.length === 0) lines.push('  plugins    none')
  for (const p of phases) lines.push(`  ${p.padEnd(10)} ${r.plugins[p]!.map((s) => `${s.name}${s.from === 'global' ? ' (global)' : ''}`).join(' → ')}`)
  return lines.join('\n') + '\n'
}
