// The plugin contract (architecture page, "Plugins"; style.md §3). A plugin is declared as data,
// compiled once per Snapshot into an instance, and run as plain arrays per phase.
import type { TSchema, Static } from '@sinclair/typebox'
import type { RequestContext } from '../core/context.js'
import type { Completed, UpstreamHead, Verdict } from '../core/verdict.js'
import type { Logger } from 'pino'
import type { Store } from '../state/store.js'
import type { Consumers } from './consumers.js'
import type { UpstreamCaller } from '../core/upstream-call.js'
import type { PluginCheckContext, PluginIssue } from '../config/validate.js'

export type { PluginCheckContext, PluginIssue }

/** Fixed phase order. rewrite = on request, before anything else looks at the path. */
export type Phase = 'rewrite' | 'access' | 'beforeUpstream' | 'response' | 'log'
export const PHASES: readonly Phase[] = ['rewrite', 'access', 'beforeUpstream', 'response', 'log']

export interface PluginEnv {
  logger: Logger
  /** Name of the route this instance serves, or undefined for a global instance. */
  route: string | undefined
  /** The shared Store: Redis when `store.redis` is configured, else this process's memory. */
  store: Store
  /** This process's memory Store, always available (local policies, fail-open fallbacks). */
  memory: Store
  /** The Snapshot's consumers (config `consumers:`), for auth plugins to identify callers. Always set by the compiler; optional for hand-made envs (tests, benches). */
  consumers?: Consumers
  /**
   * A client for a named upstream (config `upstreams:`) of this Snapshot, for plugins that call
   * upstreams themselves (aggregate); undefined for an unknown name. Set by the compiler; optional
   * for hand-made envs.
   */
  upstream?: (name: string) => UpstreamCaller | undefined
}

export interface PluginInstance {
  rewrite?(ctx: RequestContext): Verdict | Promise<Verdict>
  access?(ctx: RequestContext): Verdict | Promise<Verdict>
  beforeUpstream?(ctx: RequestContext): Verdict | Promise<Verdict>
  response?(ctx: RequestContext, head: UpstreamHead): void | Promise<void>
  log?(ctx: RequestContext, done: Completed): void
  /** Overrides the definition's `body.max_bytes` for this use (e.g. from the plugin's config). */
  readonly bodyMaxBytes?: number
  /** The Snapshot holding this instance was retired: stop timers, close sockets. */
  close?(): Promise<void> | void
}

export interface PluginDefinition<S extends TSchema = TSchema> {
  /** kebab-case = folder name = `name:` in YAML. */
  name: string
  /** The compiler wires only these phases. */
  phases: readonly Phase[]
  /** Higher runs first inside a phase; ties by name. */
  priority: number
  /** TypeBox schema; snake_case keys, additionalProperties: false, defaults + descriptions. */
  schema: S
  status: 'stable' | 'beta' | 'experimental'
  /**
   * Opt-in request-body buffering: the handler reads the body (up to max_bytes, and never more than
   * the route's max_body_size; 413 beyond) before the access phase, exposes it as `ctx.body` and
   * sends that buffer upstream. Only routes whose pipeline holds such a plugin pay for it.
   */
  body?: { max_bytes: number }
  /** Called at compile time with the validated config (defaults applied); never per request. */
  create(config: Static<S>, env: PluginEnv): PluginInstance
  /**
   * Header names (lower case) this plugin, with this config, may set on the upstream request to say
   * who the client is (consumer name, forwarded claims). The gateway removes every such name that
   * any plugin of the config declares from every client request, on every route, before plugins
   * run, so a client can never send one the upstream would trust (found or not found a consumer).
   */
  identityHeaders?(config: Static<S>): readonly string[]
  /**
   * Checks of this use's config against the rest of the document that its schema cannot express
   * (a named upstream exists, a policy has the store it needs). Run by the validator, so a file,
   * an admin write and a config-center change are refused with file, path and line like any other
   * mistake. Paths are relative to the use's `config`.
   */
  check?(config: Static<S>, ctx: PluginCheckContext): readonly PluginIssue[]
  /**
   * This plugin answers CORS preflights itself: a route using it also matches an OPTIONS request
   * whose Access-Control-Request-Method it allows, even when the route's methods leave OPTIONS out.
   */
  answersPreflight?: boolean
  /**
   * Operations the admin API can ask of this plugin in every worker (e.g. the cache's purge), by
   * name. `first` is true in exactly one worker of the instance, for work done once per instance
   * (a shared tier, a broadcast to other instances). The answers of all workers are summed by key.
   */
  commands?: Readonly<Record<string, (args: Readonly<Record<string, unknown>>, first: boolean) => Promise<Record<string, number>>>>
}

/** Identity helper that keeps the schema's static type for create(). */
export function definePlugin<S extends TSchema>(def: PluginDefinition<S>): PluginDefinition<S> {
  return def
}

const PLUGIN_NAME = /^[a-z][a-z0-9-]*$/
const PLUGIN_STATUSES: readonly string[] = ['stable', 'beta', 'experimental']

/**
 * Refuses a definition that does not declare what the loader and the compiler need (APISIX's
 * load_plugin checks the same). Built-ins pass it at load; a user plugin is refused with the reason
 * before any config can name it, so a mistake in its module shows at start, not at a request.
 */
export function assertPluginDefinition(value: unknown): asserts value is PluginDefinition {
  if (value === null || typeof value !== 'object') throw new TypeError('a plugin definition must be an object (definePlugin({...}))')
  const def = value as Partial<Record<keyof PluginDefinition, unknown>>
  if (typeof def.name !== 'string' || !PLUGIN_NAME.test(def.name)) throw new TypeError(`plugin name ${JSON.stringify(def.name)} must be kebab-case (a-z, 0-9, -)`)
  const name = def.name
  if (typeof def.priority !== 'number' || !Number.isInteger(def.priority)) throw new TypeError(`plugin ${name}: priority must be an integer`)
  if (def.schema === null || typeof def.schema !== 'object') throw new TypeError(`plugin ${name}: schema is required (a TypeBox or JSON Schema object)`)
  if (!Array.isArray(def.phases) || def.phases.length === 0 || def.phases.some((p) => !PHASES.includes(p as Phase))) {
    throw new TypeError(`plugin ${name}: phases must be a non-empty subset of ${PHASES.join(', ')}`)
  }
  if (!PLUGIN_STATUSES.includes(def.status as string)) throw new TypeError(`plugin ${name}: status must be one of ${PLUGIN_STATUSES.join(', ')}`)
  if (typeof def.create !== 'function') throw new TypeError(`plugin ${name}: create() is required`)
  for (const hook of ['identityHeaders', 'check'] as const) {
    if (def[hook] !== undefined && typeof def[hook] !== 'function') throw new TypeError(`plugin ${name}: ${hook} must be a function`)
  }
  if (def.commands !== undefined) {
    if (def.commands === null || typeof def.commands !== 'object') throw new TypeError(`plugin ${name}: commands must be an object of functions`)
    for (const [c, f] of Object.entries(def.commands)) if (typeof f !== 'function') throw new TypeError(`plugin ${name}: command ${c} must be a function`)
  }
  if (def.body !== undefined) {
    const max = (def.body as { max_bytes?: unknown } | null)?.max_bytes
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw new TypeError(`plugin ${name}: body.max_bytes must be a positive integer`)
  }
}
