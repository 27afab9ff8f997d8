// Compiles one validated config document into an immutable Snapshot: route table, per-route
// pipelines, clusters, resolved limits. Everything a request would otherwise compute is done here.
import type { Logger } from 'pino'
import type { Config, PluginUseConfig, RouteConfig } from '../config/schema/index.js'
import { parseDuration, parseSize } from '../config/units.js'
import { RouteTable, type RouteSpec } from '../router/table.js'
import { Cluster, type ResolvedTimeouts } from '../upstream/cluster.js'
import { UpstreamClient } from '../upstream/client.js'
import { resolveRetries, type RetryPolicy } from '../upstream/retry.js'
import { TrafficSplit } from '../upstream/split.js'
import { buildPipeline, ConsumerPipelines, createInstance, type Pipeline, type UseScope } from '../plugins/pipeline.js'
import { withSchemaDefaults } from '../plugins/defaults.js'
import { Consumers } from '../plugins/consumers.js'
import type { PluginDefinition, PluginInstance } from '../plugins/contract.js'
import { TrustedProxies } from '../core/address.js'
import type { Store } from '../state/store.js'
import { accessLogPolicy, type AccessLogPolicy } from '../observability/access-log.js'

export interface CompiledRoute {
  readonly name: string
  /** The upstream. On a split route: its first upstream, until the handler swaps in the chosen branch. */
  readonly cluster: Cluster
  /**
   * Traffic split (`upstreams:`): each branch is this route with another cluster (and that
   * cluster's default timeouts and retries); null on single-upstream routes and on the branches.
   */
  readonly split: TrafficSplit<CompiledRoute> | null
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
  /** WebSocket proxying (proxy/upgrade.ts), or null when the route did not opt in. */
  readonly websocket: WebSocketPolicy | null
}

/** A route's `websocket` block, resolved (durations in ms; 0 = off). */
export interface WebSocketPolicy {
  readonly idleMs: number
  readonly lifetimeMs: number
  readonly maxConnections: number
}

function websocketPolicy(r: RouteConfig): WebSocketPolicy | null {
  const w = r.websocket
  if (w === undefined || w.enabled !== true) return null
  return { idleMs: parseDuration(w.idle_timeout ?? '60s'), lifetimeMs: parseDuration(w.max_lifetime ?? 0), maxConnections: w.max_connections ?? 0 }
}

export interface Snapshot {
  readonly version: number
  readonly hash: string
  readonly router: RouteTable<CompiledRoute>
  readonly clusters: ReadonlyMap<string, Cluster>
  readonly routes: readonly CompiledRoute[]
  readonly trustedProxies: TrustedProxies
  /** server.body_timeout (ms): the most a request body a plugin buffers may take to arrive. */
  readonly bodyTimeoutMs: number
  /** log.access_log compiled; null = off (the handler's one check). */
  readonly accessLog: AccessLogPolicy | null
  /** Requests currently running on this Snapshot (the handler counts them). */
  inFlight: number
  readonly consumers: Consumers
  /** What the next compile may take over from this one (see compileSnapshot). */
  readonly carry: CarryOver
  /**
   * Identity headers any plugin of this config may set upstream (PluginDefinition.identityHeaders),
   * removed from every client request on every route; null when no plugin declares one.
   */
  readonly identityHeaders: ReadonlySet<string> | null
}

/**
 * What a compile leaves for the next one. A route whose definition and context are unchanged is
 * taken over whole (compiled route, route-table spec and plugin instances), as unchanged clusters
 * are: a one-route change to a 10,000-route document then compiles one route, not 10,000.
 */
interface CarryOver {
  /** Everything outside a route that goes into compiling it (see contextKey). */
  readonly context: string
  readonly registry: ReadonlyMap<string, PluginDefinition>
  readonly store: Store
  readonly memory: Store
  readonly consumers: Consumers
  /** Global and consumer instances, shared by every route, and the clusters they called for. */
  readonly globalInstances: Map<string, PluginInstance>
  readonly consumerInstances: Map<string, PluginInstance>
  readonly sharedClusters: Cluster[]
  readonly routes: Map<string, CompiledRouteRecord>
}

interface CompiledRouteRecord {
  /** The route's definition as JSON: equal text, equal route. */
  readonly key: string
  readonly spec: RouteSpec<CompiledRoute>
  /** The route's own plugin instances (live: consumer pipelines built later add theirs). */
  readonly instances: PluginInstance[]
  /** Every cluster the route holds: its upstream(s) and those its plugins called for. */
  readonly clusters: Cluster[]
}

/** The parts of a document every compiled route depends on besides its own definition. */
function contextKey(config: Config): string {
  return JSON.stringify([config.plugins ?? null, config.consumers ?? null, config.server?.max_body_size ?? null])
}

/** The plugin names a use list refers to have the same definitions in both registries. */
function sameDefinitions(uses: readonly PluginUseConfig[] | undefined, a: ReadonlyMap<string, PluginDefinition>, b: ReadonlyMap<string, PluginDefinition>): boolean {
  if (a === b || uses === undefined) return true
  for (const u of uses) if (a.get(u.name) !== b.get(u.name)) return false
  return true
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

/** The route's regex rewrite, compiled once; `$1` / `$<name>` in the replacement are String.replace's own. */
export function compileStripPrefix(route: RouteConfig): string | null {
  return route.strip_prefix !== undefined && route.strip_prefix !== '/' ? route.strip_prefix.replace(/\/$/, '') : null
}

/** What the route table matches a route by (router/table.ts RouteSpec), carrying `data`. */
export function routeSpec<T>(r: RouteConfig, data: T): RouteSpec<T> {
  return { name: r.name, hosts: r.hosts, snis: r.snis, methods: r.methods, paths: r.paths, headers: r.headers, priority: r.priority, data }
}

export function compileRewrite(route: RouteConfig): CompiledRoute['rewrite'] {
  if (route.rewrite === undefined) return null
  return { re: new RegExp(route.rewrite.pattern), replacement: route.rewrite.replacement }
}

/** Compile work between two yields to the event loop (see RouteTable.build). */
const SLICE_MS = 4

/**
 * Builds the Snapshot of `config`, in slices of a few ms of CPU: the worker that compiles it keeps
 * serving the previous one meanwhile, and a request that arrives during a reload of a large table
 * waits one slice at most, not the whole compile.
 */
export async function compileSnapshot(config: Config, opts: CompileOptions): Promise<Snapshot> {
  const server = config.server ?? {}
  const defaultMaxBody = parseSize(server.max_body_size ?? '10mb')

  const clusters = new Map<string, Cluster>()
  for (const [name, def] of Object.entries(config.upstreams)) {
    const prev = opts.previous?.clusters.get(name)
    // Only built when not carried over: a Cluster owns health-check state (timers start later).
    if (prev !== undefined && prev.key === Cluster.keyOf(def)) clusters.set(name, prev)
    else {
      // Same discovery source under a changed definition: start from the predecessor's targets.
      const seed = prev !== undefined && prev.discovery !== null && def.discovery !== undefined && prev.discoveryKey === JSON.stringify(def.discovery)
        ? prev.targets.map((t) => ({ url: t.url, weight: t.weight }))
        : undefined
      clusters.set(name, new Cluster(name, def, { logger: opts.logger, seed }))
    }
  }

  // Routes, and the global and consumer instances they share, are taken over only when nothing
  // they were compiled against changed: the document around the routes, the plugin definitions,
  // the stores, and every cluster a shared instance holds.
  const context = contextKey(config)
  const before = opts.previous?.carry
  const sameContext =
    before !== undefined &&
    before.context === context &&
    before.store === opts.store &&
    before.memory === opts.memory &&
    sameDefinitions(config.plugins, before.registry, opts.registry) &&
    (config.consumers ?? []).every((c) => sameDefinitions(c.plugins, before.registry, opts.registry)) &&
    before.sharedClusters.every((c) => clusters.get(c.name) === c)
  const carried = sameContext ? before : undefined

  const consumers = carried?.consumers ?? new Consumers(config.consumers ?? [])
  // Plugins that call upstreams themselves (aggregate) get one client per cluster of this Snapshot.
  const clients = new Map<string, UpstreamClient>()
  /** `held`: where the clusters handed out are noted, so a changed one stops the carry-over. */
  const upstreamFor = (held: Cluster[]) => (name: string): UpstreamClient | undefined => {
    let c = clients.get(name)
    const cluster = clusters.get(name)
    if (c === undefined && cluster !== undefined) clients.set(name, (c = new UpstreamClient(cluster)))
    if (cluster !== undefined) held.push(cluster)
    return c
  }
  const sharedClusters: Cluster[] = carried === undefined ? [] : [...carried.sharedClusters]
  const sharedEnv = { logger: opts.logger, store: opts.store, memory: opts.memory, consumers, upstream: upstreamFor(sharedClusters) }
  // Global uses get one instance each, shared by every route's pipeline; consumer uses one instance
  // per (consumer, plugin), shared by every route (a consumer's own rate limit is gateway-wide).
  const globalInstances = new Map<string, PluginInstance>(carried?.globalInstances)
  const consumerInstances = new Map<string, PluginInstance>(carried?.consumerInstances)
  type Use = Parameters<typeof createInstance>[1]
  const shared = (cache: Map<string, PluginInstance>, key: string, def: PluginDefinition, use: Use): PluginInstance => {
    let inst = cache.get(key)
    if (inst === undefined) {
      inst = createInstance(def, use, sharedEnv, undefined)
      cache.set(key, inst)
    }
    return inst
  }
  const factoryFor = (routeName: string, record: { instances: PluginInstance[]; clusters: Cluster[] }) => {
    const routeEnv = { ...sharedEnv, upstream: upstreamFor(record.clusters) }
    return {
      instance: (use: Use, def: PluginDefinition, scope: UseScope, consumer?: string) => {
        if (scope === 'consumer') return shared(consumerInstances, `${consumer ?? ''}\0${use.name}`, def, use)
        if (scope === 'global') return shared(globalInstances, use.name, def, use)
        const inst = createInstance(def, use, routeEnv, routeName)
        record.instances.push(inst)
        return inst
      },
    }
  }

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
      factoryFor('', { instances: [], clusters: sharedClusters }).instance(use, def, 'consumer', c.name)
    }
  }

  const routes: CompiledRoute[] = []
  const specs: RouteSpec<CompiledRoute>[] = []
  const records = new Map<string, CompiledRouteRecord>()
  let since = performance.now()
  for (const r of config.routes) {
    if (performance.now() - since >= SLICE_MS) {
      await new Promise((res) => setImmediate(res))
      since = performance.now()
    }
    const key = JSON.stringify(r)
    const old = carried?.routes.get(r.name)
    const record =
      old !== undefined && old.key === key && sameDefinitions(r.plugins, carried!.registry, opts.registry) && old.clusters.every((c) => clusters.get(c.name) === c)
        ? old
        : compileRoute(r, key)
    if (record === old) routes.push(old.spec.data)
    records.set(r.name, record)
    specs.push(record.spec)
  }

  function compileRoute(r: RouteConfig, key: string): CompiledRouteRecord {
    const names = r.upstreams !== undefined ? r.upstreams.map((u) => u.name) : [r.upstream ?? '']
    const branchClusters = names.map((n) => {
      const c = clusters.get(n)
      if (c === undefined) throw new Error(`route ${r.name}: unknown upstream "${n}"`)
      return c
    })
    const record = { key, instances: [] as PluginInstance[], clusters: [...branchClusters] }
    const cluster = branchClusters[0]!
    const t = r.timeouts
    // The route's own timeouts and retries win; the rest comes from the cluster it proxies to
    // (per branch on a split route).
    const timeoutsFor = (c: Cluster): ResolvedTimeouts => ({
      connect: t?.connect !== undefined ? parseDuration(t.connect) : c.timeouts.connect,
      read: t?.read !== undefined ? parseDuration(t.read) : c.timeouts.read,
      total: t?.total !== undefined ? parseDuration(t.total) : c.timeouts.total,
    })
    const retryFor = (c: Cluster) => (r.retries !== undefined ? resolveRetries(r.retries) : c.retry)
    const factory = factoryFor(r.name, record)
    let pipeline = buildPipeline(config.plugins ?? [], r.plugins ?? [], opts.registry, factory)
    // Only a route with an access phase can identify a consumer; only then can consumer plugins apply.
    if (pipeline !== null && pipeline.access !== null && consumerUses.size > 0) {
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
      split: null,
      stripPrefix: compileStripPrefix(r),
      rewrite: compileRewrite(r),
      preserveHost: r.preserve_host ?? false,
      timeouts: timeoutsFor(cluster),
      maxBodySize: r.max_body_size !== undefined ? parseSize(r.max_body_size) : defaultMaxBody,
      retry: retryFor(cluster),
      pipeline,
      answersPreflight: pipeline?.access?.some((step) => opts.registry.get(step.name)?.answersPreflight === true) ?? false,
      websocket: websocketPolicy(r),
    }
    let route = compiled
    if (r.upstreams !== undefined) {
      // One variant of the route per upstream: only the cluster and its defaults differ.
      const branchOf = (c: Cluster): CompiledRoute => ({
        ...compiled,
        cluster: c,
        timeouts: timeoutsFor(c),
        retry: retryFor(c),
      })
      const split = new TrafficSplit(
        r.upstreams.map((u, i) => ({ name: u.name, weight: u.weight, value: branchOf(branchClusters[i]!) })),
        r.split,
      )
      route = { ...compiled, split }
    }
    routes.push(route)
    return { ...record, spec: routeSpec(r, route) }
  }

  const router = await RouteTable.build(specs, SLICE_MS, opts.previous?.router)
  // Last, once nothing can throw any more: a Snapshot that fails to compile starts no timers.
  for (const c of clusters.values()) c.start()
  return {
    version: opts.version,
    hash: opts.hash,
    router,
    clusters,
    routes,
    trustedProxies: new TrustedProxies(server.trusted_proxies ?? []),
    bodyTimeoutMs: parseDuration(server.body_timeout ?? '60s'),
    accessLog: accessLogPolicy(config.log?.access_log),
    inFlight: 0,
    consumers,
    identityHeaders: identityHeaders(config, opts.registry),
    carry: { context, registry: opts.registry, store: opts.store, memory: opts.memory, consumers, globalInstances, consumerInstances, sharedClusters, routes: records },
  }
}

/** The union of every plugin use's identity headers: global, route and consumer uses alike. */
function identityHeaders(config: Config, registry: ReadonlyMap<string, PluginDefinition>): ReadonlySet<string> | null {
  const out = new Set<string>()
  const uses = [...(config.plugins ?? []), ...(config.routes ?? []).flatMap((r) => r.plugins ?? []), ...(config.consumers ?? []).flatMap((c) => c.plugins ?? [])]
  for (const use of uses) {
    const def = registry.get(use.name)
    if (def?.identityHeaders === undefined) continue
    // Disabled uses count too: the header is still one an upstream behind this gateway may trust.
    for (const h of def.identityHeaders(withSchemaDefaults(def.schema, structuredClone(use.config ?? {})) as never)) out.add(h)
  }
  return out.size === 0 ? null : out
}

/**
 * Every plugin instance a Snapshot's pipelines use: global, per-consumer and per-route (some taken
 * over from its predecessor, some created by a consumer's pipeline at its first request).
 */
export function pluginInstances(s: Snapshot): PluginInstance[] {
  const out = [...s.carry.globalInstances.values(), ...s.carry.consumerInstances.values()]
  for (const r of s.carry.routes.values()) out.push(...r.instances)
  return out
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
  const keptPlugins = new Set(next === undefined ? [] : pluginInstances(next))
  const closing: Promise<unknown>[] = []
  for (const c of old.clusters.values()) if (!kept.has(c)) closing.push(c.close())
  for (const p of pluginInstances(old)) if (p.close !== undefined && !keptPlugins.has(p)) closing.push(Promise.resolve().then(() => p.close!()))
  const results = await Promise.allSettled(closing)
  for (const r of results) if (r.status === 'rejected') logger.warn({ err: r.reason }, 'error while retiring a snapshot')
}
