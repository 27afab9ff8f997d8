// Compiles one validated config document into an immutable Snapshot: route table, per-route
// pipelines, clusters, resolved limits. Everything a request would otherwise compute is done here.
import type { Logger } from 'pino'
import type { Config, PluginUseConfig, RouteConfig } from '../config/schema/index.js'
import { parseDuration, parseSize } from '../config/units.js'
import { RouteTable } from '../router/table.js'
import { Cluster, type ResolvedTimeouts } from '../upstream/cluster.js'
import { resolveRetries, type RetryPolicy } from '../upstream/retry.js'
import { buildPipeline, ConsumerPipelines, createInstance, type Pipeline, type UseScope } from '../plugins/pipeline.js'
import { Consumers } from '../plugins/consumers.js'
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
  /** The route's retries, else its upstream's; null = no retries (the handler dispatches once). */
  readonly retry: RetryPolicy | null
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
  /** Plugin instances created for this Snapshot (global, per-route and per-consumer). */
  readonly plugins: readonly PluginInstance[]
  readonly consumers: Consumers
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
    // Only built when not carried over: a Cluster owns health-check state (timers start later).
    clusters.set(name, prev !== undefined && prev.key === Cluster.keyOf(def) ? prev : new Cluster(name, def, { logger: opts.logger }))
  }

  const consumers = new Consumers(config.consumers ?? [])
  const pluginEnv = { logger: opts.logger, store: opts.store, memory: opts.memory, consumers }
  // Global uses get one instance each, shared by every route's pipeline; consumer uses one instance
  // per (consumer, plugin), shared by every route (a consumer's own rate limit is gateway-wide).
  const globalInstances = new Map<string, PluginInstance>()
  const consumerInstances = new Map<string, PluginInstance>()
  const allInstances: PluginInstance[] = []
  const factoryFor = (routeName: string) => ({
    instance: (use: Parameters<typeof createInstance>[1], def: PluginDefinition, scope: UseScope, consumer?: string) => {
      if (scope === 'consumer') {
        const key = `${consumer ?? ''}\0${use.name}`
        let inst = consumerInstances.get(key)
        if (inst === undefined) {
          inst = createInstance(def, use, pluginEnv, undefined)
          consumerInstances.set(key, inst)
          allInstances.push(inst)
        }
        return inst
      }
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

  // Consumers with plugins of their own: their instances are created now (a bad config fails the
  // compile, not a request); the merged (route, consumer) pipelines are built lazily.
  const consumerUses = new Map<string, PluginUseConfig[]>()
  for (const c of config.consumers ?? []) {
    if (c.plugins === undefined || c.plugins.length === 0) continue
    consumerUses.set(c.name, c.plugins)
    for (const use of c.plugins) {
      if (use.enabled === false) continue
      const def = opts.registry.get(use.name)
      if (def === undefined) throw new Error(`consumer ${c.name}: unknown plugin "${use.name}"`)
      factoryFor('').instance(use, def, 'consumer', c.name)
    }
  }

  const routes: CompiledRoute[] = []
  const specs = config.routes.map((r) => {
    const cluster = clusters.get(r.upstream)
    if (cluster === undefined) throw new Error(`route ${r.name}: unknown upstream "${r.upstream}"`)
    const t = r.timeouts
    let pipeline = buildPipeline(config.plugins ?? [], r.plugins ?? [], opts.registry, factoryFor(r.name))
    // Only a route with an access phase can identify a consumer; only then can consumer plugins apply.
    if (pipeline !== null && pipeline.access !== null && consumerUses.size > 0) {
      const factory = factoryFor(r.name)
      const routeUses = r.plugins ?? []
      pipeline = {
        ...pipeline,
        consumers: new ConsumerPipelines(
          (name) => consumerUses.has(name),
          (name) => buildPipeline(config.plugins ?? [], routeUses, opts.registry, factory, { name, uses: consumerUses.get(name)! }),
        ),
      }
    }
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
      retry: r.retries !== undefined ? resolveRetries(r.retries) : cluster.retry,
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

  const router = new RouteTable(specs)
  // Last, once nothing can throw any more: a Snapshot that fails to compile starts no timers.
  for (const c of clusters.values()) c.start()
  return {
    version: opts.version,
    hash: opts.hash,
    router,
    clusters,
    routes,
    trustedProxies: new TrustedProxies(server.trusted_proxies ?? []),
    accessLog: config.log?.access_log ?? true,
    inFlight: 0,
    plugins: allInstances,
    consumers,
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
