// POST /admin/explain: which route a request would hit, with the same path normalization and the
// same route table (router/) a worker builds from the serving config, and what that route does
// with it: the plugins in effect, the upstream and its targets. The console's explain tool and
// scripts use it to answer "why does this request get a 404 / the wrong service?" without sending it.
import type { IncomingHttpHeaders } from 'node:http'
import { hostName } from '../../core/address.js'
import type { Config } from '../../config/schema/index.js'
import { normalizePath, RouteTable } from '../../router/index.js'
import { routeStatus } from '../status.js'

type Route = Config['routes'][number]

export interface ExplainInput {
  method: string
  /** A path ("/api/users?x=1") or an absolute URL ("http://api.example.com/api/users"). */
  url: string
  headers?: Record<string, string>
}

export type Explanation =
  | {
      matched: true
      route: string
      params: Record<string, string | undefined>
      /** Plugins in effect (global ones not disabled on the route, then the route's own). */
      plugins: string[]
      upstream: string
      /** The upstream's (or every split branch's) declared targets. */
      targets: Array<{ upstream: string; url: string; weight: number }>
      strip_prefix: string | null
    }
  | { matched: false; status: 400 | 404 | 405; error: 'invalid_path' | 'route_not_found' | 'method_not_allowed'; message: string; allow?: string }

export class BadExplain extends Error {}

/** One route table per serving config object, built on first use (as a worker does on load). */
const tables = new WeakMap<Config, RouteTable<Route>>()

function tableFor(config: Config): RouteTable<Route> {
  let t = tables.get(config)
  if (t === undefined) {
    t = new RouteTable(
      config.routes.map((r) => ({ name: r.name, hosts: r.hosts, snis: r.snis, methods: r.methods, paths: r.paths, headers: r.headers, priority: r.priority, data: r })),
    )
    tables.set(config, t)
  }
  return t
}

/** Validates the request body into an ExplainInput; throws BadExplain with what is wrong. */
export function parseExplain(body: unknown): ExplainInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadExplain('the body must be a JSON object {method, url, headers?}')
  const b = body as Record<string, unknown>
  for (const k of Object.keys(b)) if (k !== 'method' && k !== 'url' && k !== 'headers') throw new BadExplain(`unknown field "${k}" (method, url, headers)`)
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

export function explain(config: Config, input: ExplainInput): Explanation {
  const headers: IncomingHttpHeaders = {}
  for (const [k, v] of Object.entries(input.headers ?? {})) headers[k.toLowerCase()] = v
  let target = input.url
  const abs = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(target)
  if (abs !== null) {
    headers.host = abs[2]!
    target = abs[3] === '' || abs[3]!.startsWith('?') ? `/${abs[3]!}` : abs[3]!
  }
  const q = target.indexOf('?')
  const raw = q === -1 ? target : target.slice(0, q)
  const path = raw.startsWith('/') ? normalizePath(raw) : undefined
  if (path === undefined) return { matched: false, status: 400, error: 'invalid_path', message: `${raw.slice(0, 200)} is not a routable path` }
  const m = tableFor(config).match(hostName(headers.host), input.method, path, headers)
  if (m.kind === 'not_found') return { matched: false, status: 404, error: 'route_not_found', message: `no route for ${input.method} ${path}` }
  if (m.kind === 'method_not_allowed') return { matched: false, status: 405, error: 'method_not_allowed', message: `${input.method} is not allowed on ${path}`, allow: m.allow }
  const r = m.data
  const status = routeStatus({ ...config, routes: [r] })[0]!
  const branches = r.upstream !== undefined ? [r.upstream] : (r.upstreams ?? []).map((u) => u.name)
  const targets = branches.flatMap((name) => (config.upstreams[name]?.targets ?? []).map((t) => ({ upstream: name, url: t.url, weight: t.weight ?? 1 })))
  return { matched: true, route: r.name, params: { ...m.params }, plugins: status.plugins, upstream: status.upstream, targets, strip_prefix: r.strip_prefix ?? null }
}
