// The plugin contract (architecture page, "Plugins"; style.md §3). A plugin is declared as data,
// compiled once per Snapshot into an instance, and run as plain arrays per phase.
import type { TSchema, Static } from '@sinclair/typebox'
import type { RequestContext } from '../proxy/context.js'
import type { Logger } from 'pino'
import type { Store } from '../state/store.js'
import type { Consumers } from './consumers.js'
import type { UpstreamClient } from '../upstream/client.js'

/** Fixed phase order. rewrite = on request, before anything else looks at the path. */
export type Phase = 'rewrite' | 'access' | 'beforeUpstream' | 'response' | 'log'
export const PHASES: readonly Phase[] = ['rewrite', 'access', 'beforeUpstream', 'response', 'log']

/**
 * A reply made by a plugin instead of proxying: ends the request. Use `error` for the gateway's
 * JSON error shape ({status, error, message, request_id}); otherwise `body` is sent as is
 * (an object is sent as JSON).
 */
export interface LocalReply {
  status: number
  headers?: Record<string, string | string[]>
  body?: string | Buffer | Record<string, unknown>
  /** snake_case error code; when set the body is the standard JSON error. */
  error?: string
  message?: string
  /**
   * Request phases only: the reply goes to the client now AND the request still goes upstream, in
   * the background (the rest of the request phases are skipped). The response phase and `ctx.tap`
   * see the upstream response; nothing more is written to the client. The cache uses it for
   * stale-while-revalidate refreshes.
   */
  background?: boolean
}

/** undefined = continue with the next plugin. */
export type Verdict = undefined | LocalReply

/** Upstream response head, mutable by `response` handlers before it is written to the client. */
export interface UpstreamHead {
  status: number
  headers: Record<string, string | string[]>
  /**
   * Set by a `response` handler to answer the client with this instead of the upstream response
   * (e.g. a cached entry after a 304 revalidation). The upstream body is read and discarded.
   */
  reply?: LocalReply
  /**
   * Set by a `response` handler to rewrite the whole upstream body (response-transformer): the
   * handler holds the head and collects the body, at most `maxBytes`, then sends what `apply`
   * returns (undefined = the body unchanged) with its Content-Length. A body that grows past
   * `maxBytes` is sent unchanged as it arrives and `apply` is not called; a throw from `apply` is
   * logged and the body sent unchanged. ctx.tap sees the body as sent. One per response: the last
   * handler to set it wins. Unset costs one null check per body chunk.
   */
  rewriteBody?: BodyRewrite
}

/** See UpstreamHead.rewriteBody. */
export interface BodyRewrite {
  readonly maxBytes: number
  apply(body: Buffer): Buffer | undefined
}

/**
 * Observes one request's upstream exchange. A plugin sets it with `ctx.tap = …` in any phase before
 * the body flows; the handler calls it as the upstream body streams (the cache stores bodies this
 * way). Exactly one of onEnd / onError is called, once. Unset (null) costs one null check.
 */
export interface ExchangeTap {
  /** One upstream body chunk (the same Buffer written to the client: copy it before changing it). */
  onData(chunk: Buffer): void
  /** The upstream body ended completely. */
  onEnd(): void
  /**
   * The exchange ended without a complete upstream body: upstream error or timeout, no healthy
   * target, client gone, or a reply made before the upstream was called. When the upstream failed
   * before any byte reached the client, a returned LocalReply is sent instead of the error.
   */
  onError(err: Error): Verdict
}

/** What the log phase learns about a finished request. */
export interface Completed {
  status: number
  bytesSent: number
  durationMs: number
  upstreamDurationMs: number | undefined
  error: string | undefined
}

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
  upstream?: (name: string) => UpstreamClient | undefined
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
}

/** Identity helper that keeps the schema's static type for create(). */
export function definePlugin<S extends TSchema>(def: PluginDefinition<S>): PluginDefinition<S> {
  return def
}
