// Compiles one validated config document into an immutable Snapshot: route table, per-route
// pipelines, clusters, resolved limits. Everything a request would otherwise compute is done here.
import type { Logger } from 'pino'
import type { Config, RouteConfig } from '../config/schema/index.js'
import { parseDuration, parseSize } from '../config/units.js'
import { RouteTable } from '../router/table.js'
import { Cluster, type ResolvedTimeouts } from '../upstream/cluster.js'
import { buildPipeline, createInstance, type Pipeline } from '../plugins/pipeline.js'
import type { PluginDefinition, PluginInstance } from '../plugins/contract.js'
import { TrustedProxies } from '../proxy/forward.js'
import type { Store } from '../state/store.js'

export interface CompiledRoute {
  readonly name: string
  readonly cluster: Cluster
  readonly stripPrefix: string | null
  readonly rewrite: { readonly re: RegExp; readonly replacement: string } | null
  readonly preserveHost: boolean
  readonly timeouts: ResolvedTimeouts
  readonly maxBodySize: number
  readonly pipeline: Pipeline | null
  /** The route's pipeline answers CORS preflights itself (a cors plugin is in its access phase). */
  readonly answersPreflight: boolean
}

export interface Snapshot {
  readonly version: number
  readonly hash: string
  readonly router: RouteTable<CompiledRoute>
  readonly clusters: ReadonlyMap<string, Cluster>
  readonly routes: readonly CompiledRoute[]
  readonly trustedProxies: TrustedProxies
  readonly accessLog: boolean
  /** Requests currently running on this Snapshot (the handler counts them). */
  inFlight: number
  /** Plugin instances created for this Snapshot (global and per-route). */
  readonly plugins: readonly PluginInstance[]
}

export interface CompileOptions {
  version: number
  hash: string
  logger: Logger
  registry: ReadonlyMap<string, PluginDefinition>
  /** Shared state for plugins (see PluginEnv). */
  store: Store
  memory: Store
  /** The Snapshot being replaced: unchanged clusters are taken from it. */
  previous?: Snapshot | undefined
}

/** Turns a replacement string using $1 / $<name> into one String.replace understands. */
function compileRewrite(route: RouteConfig): CompiledRoute['rewrite'] {
  if (route.rewrite === undefined) return null
  return { re: new RegExp(route.rewrite.pattern), replacement: route.rewrite.replacement }
}

export function compileSnapshot(config: Config, opts: CompileOptions): Snapshot {
  const server = config.server ?? {}
  const defaultMaxBody = parseSize(server.max_body_size ?? '10mb')

  const clusters = new Map<string, Cluster>()
  for (const [name, def] of Object.entries(config.upstreams)) {
    const prev = opts.previous?.clusters.get(name)
    const fresh = new Cluster(name, def)
    clusters.set(name, prev !== undefined && prev.key === fresh.key ? prev : fresh)
  }

  const pluginEnv = { logger: opts.logger, store: opts.store, memory: opts.memory }
  // Global uses get one instance each, shared by every route's pipeline.
  const globalInstances = new Map<string, PluginInstance>()
  const allInstances: PluginInstance[] = []
  const factoryFor = (routeName: string) => ({
    instance: (use: Parameters<typeof createInstance>[1], def: PluginDefinition, scope: 'global' | 'route') => {
      if (scope === 'global') {
        let inst = globalInstances.get(use.name)
        if (inst === undefined) {
          inst = createInstance(def, use, pluginEnv, undefined)
          globalInstances.set(use.name, inst)
          allInstances.push(inst)
        }
        return inst
      }
      const inst = createInstance(def, use, pluginEnv, routeName)
      allInstances.push(inst)
      return inst
    },
  })

  const routes: CompiledRoute[] = []
  const specs = config.routes.map((r) => {
    const cluster = clusters.get(r.upstream)
    if (cluster === undefined) throw new Error(`route ${r.name}: unknown upstream "${r.upstream}"`)
    const t = r.timeouts
    const pipeline = buildPipeline(config.plugins ?? [], r.plugins ?? [], opts.registry, factoryFor(r.name))
    const compiled: CompiledRoute = {
      name: r.name,
      cluster,
      stripPrefix: r.strip_prefix !== undefined && r.strip_prefix !== '/' ? r.strip_prefix.replace(/\/$/, '') : null,
      rewrite: compileRewrite(r),
      preserveHost: r.preserve_host ?? false,
      timeouts: {
        connect: t?.connect !== undefined ? parseDuration(t.connect) : cluster.timeouts.connect,
        read: t?.read !== undefined ? parseDuration(t.read) : cluster.timeouts.read,
        total: t?.total !== undefined ? parseDuration(t.total) : cluster.timeouts.total,
      },
      maxBodySize: r.max_body_size !== undefined ? parseSize(r.max_body_size) : defaultMaxBody,
      pipeline,
      answersPreflight: pipeline?.access?.some((step) => step.name === 'cors') ?? false,
    }
    routes.push(compiled)
    return {
      name: r.name,
      hosts: r.hosts,
      methods: r.methods,
      paths: r.paths,
      headers: r.headers,
      priority: r.priority,
      data: compiled,
    }
  })

  return {
    version: opts.version,
    hash: opts.hash,
    router: new RouteTable(specs),
    clusters,
    routes,
    trustedProxies: new TrustedProxies(server.trusted_proxies ?? []),
    accessLog: config.log?.access_log ?? true,
    inFlight: 0,
    plugins: allInstances,
  }
}

/**
 * Retires a replaced Snapshot once its in-flight requests are done: closes the clusters the new
 * Snapshot did not carry over (undici's close() lets running requests finish) and the plugin
 * instances. Never blocks the swap.
 */
export async function retireSnapshot(old: Snapshot, next: Snapshot | undefined, logger: Logger): Promise<void> {
  const deadline = Date.now() + 120_000
  while (old.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  const kept = new Set(next?.clusters.values() ?? [])
  const closing: Promise<unknown>[] = []
  for (const c of old.clusters.values()) if (!kept.has(c)) closing.push(c.close())
  for (const p of old.plugins) if (p.close !== undefined) closing.push(Promise.resolve().then(() => p.close!()))
  const results = await Promise.allSettled(closing)
  for (const r of results) if (r.status === 'rejected') logger.warn({ err: r.reason }, 'error while retiring a snapshot')
}
