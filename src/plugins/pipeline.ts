// Builds a route's plugin pipeline at compile time and runs it per request.
// Merge: global uses, then route uses, then consumer uses, by name (a later use replaces an earlier
// one; a use with enabled: false removes it). Each phase becomes a sorted array, or null when empty,
// so a route without plugins pays one null check per phase and nothing else.
//
// Consumer plugins: a consumer is known only once an auth plugin identified it, in the access
// phase. A route whose consumers have plugins gets `consumers` (else null): the access phase then
// runs through runAccessSwitching, which, once ctx.consumer is set, continues on the (route,
// consumer) pipeline right after the step that identified it. Those pipelines are built lazily on
// first use from instances created at compile time, and cached. Routes where no consumer has
// plugins never reach that code: `consumers` is null and the plain runner is used.
import type { Logger } from 'pino'
import { withSchemaDefaults } from './defaults.js'
import type { PluginUseConfig } from '../config/schema/index.js'
import type { LocalReply, UpstreamHead, Verdict, Completed } from '../core/verdict.js'
import type { Phase, PluginDefinition, PluginEnv, PluginInstance } from './contract.js'
import type { RequestContext } from '../core/context.js'
import { NO_CONSUMERS, type Consumers } from './consumers.js'

export interface Step {
  readonly name: string
  readonly priority: number
  readonly instance: PluginInstance
}

export interface Pipeline {
  readonly rewrite: readonly Step[] | null
  readonly access: readonly Step[] | null
  readonly beforeUpstream: readonly Step[] | null
  readonly response: readonly Step[] | null
  readonly log: readonly Step[] | null
  /** Every instance this pipeline created (not shared global ones), for close() at retirement. */
  readonly owned: readonly PluginInstance[]
  /** Bytes of request body to buffer before the access phase (a plugin declared `body`), or null: stream. */
  readonly bodyLimit: number | null
  /** Pipelines per identified consumer, or null when no consumer has plugins (see top of file). */
  readonly consumers: ConsumerPipelines | null
}

/** Thrown by a plugin handler: becomes a 500 plugin_error naming the plugin in the log only. */
export class PluginFailure extends Error {
  readonly plugin: string
  constructor(plugin: string, cause: unknown) {
    super(`plugin ${plugin} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.plugin = plugin
  }
}

export type UseScope = 'global' | 'route' | 'consumer'

export interface InstanceFactory {
  /** Creates (or, for global and consumer uses, reuses) the instance of one use. */
  instance(use: PluginUseConfig, def: PluginDefinition, scope: UseScope, consumer?: string): PluginInstance
}

/** Instantiates a plugin use with defaults applied (the loader already validated the config). */
export function createInstance(
  def: PluginDefinition,
  use: PluginUseConfig,
  env: Omit<PluginEnv, 'logger' | 'route' | 'consumers'> & { logger: Logger; consumers?: Consumers },
  route: string | undefined,
): PluginInstance {
  const config = withSchemaDefaults(def.schema, structuredClone(use.config ?? {}))
  return def.create(config as never, { consumers: NO_CONSUMERS, ...env, logger: env.logger.child({ plugin: def.name }), route })
}

/** Global uses, then route uses, then consumer uses, by name: a later use replaces an earlier one; enabled: false removes it. */
export function mergeUses(
  globalUses: readonly PluginUseConfig[],
  routeUses: readonly PluginUseConfig[],
  consumerUses: readonly PluginUseConfig[] = [],
): Map<string, { use: PluginUseConfig; scope: UseScope }> {
  const merged = new Map<string, { use: PluginUseConfig; scope: UseScope }>()
  for (const use of globalUses) if (use.enabled !== false) merged.set(use.name, { use, scope: 'global' })
  for (const use of routeUses) {
    if (use.enabled === false) merged.delete(use.name)
    else merged.set(use.name, { use, scope: 'route' })
  }
  for (const use of consumerUses) {
    if (use.enabled === false) merged.delete(use.name)
    else merged.set(use.name, { use, scope: 'consumer' })
  }
  return merged
}

export function buildPipeline(
  globalUses: readonly PluginUseConfig[],
  routeUses: readonly PluginUseConfig[],
  registry: ReadonlyMap<string, PluginDefinition>,
  factory: InstanceFactory,
  consumer?: { name: string; uses: readonly PluginUseConfig[] },
): Pipeline | null {
  const merged = mergeUses(globalUses, routeUses, consumer?.uses)
  if (merged.size === 0) return null

  const phases: Record<Phase, Step[]> = { rewrite: [], access: [], beforeUpstream: [], response: [], log: [] }
  const owned: PluginInstance[] = []
  let bodyLimit: number | null = null
  for (const [name, { use, scope }] of merged) {
    const def = registry.get(name)
    if (def === undefined) throw new Error(`unknown plugin "${name}"`)
    const instance = factory.instance(use, def, scope, consumer?.name)
    if (scope === 'route') owned.push(instance)
    const wants = instance.bodyMaxBytes ?? def.body?.max_bytes
    if (wants !== undefined) bodyLimit = Math.max(bodyLimit ?? 0, wants)
    const priority = use.priority ?? def.priority
    for (const phase of def.phases) {
      if (typeof instance[phase] === 'function') phases[phase].push({ name, priority, instance })
    }
  }
  const sorted = (steps: Step[]) => (steps.length === 0 ? null : steps.sort(stepOrder))
  return {
    rewrite: sorted(phases.rewrite),
    access: sorted(phases.access),
    beforeUpstream: sorted(phases.beforeUpstream),
    response: sorted(phases.response),
    log: sorted(phases.log),
    owned,
    bodyLimit,
    consumers: null,
  }
}

/** Phase order: higher priority first, ties by name. */
export function stepOrder(a: Step, b: Step): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}

/** The (route, consumer) pipelines of one route, built on first use and cached. */
export class ConsumerPipelines {
  readonly #cache = new Map<string, Pipeline | null>()
  readonly #build: (consumer: string) => Pipeline | null
  readonly #has: (consumer: string) => boolean

  /** `has`: the consumer has plugins; `build`: its merged pipeline (global → route → consumer). */
  constructor(has: (consumer: string) => boolean, build: (consumer: string) => Pipeline | null) {
    this.#has = has
    this.#build = build
  }

  /** The consumer's pipeline, or null when it has no plugins of its own (keep the route's). */
  for(consumer: string): Pipeline | null {
    let p = this.#cache.get(consumer)
    if (p === undefined) {
      p = this.#has(consumer) ? this.#build(consumer) : null
      this.#cache.set(consumer, p)
    }
    return p
  }
}

/** What runAccessSwitching updates: the pipeline later phases of this request use. */
export interface PipelineHolder {
  pipeline: Pipeline | null
  /** Set once the consumer's pipeline was looked up (switched or not), so it happens once. */
  consumerResolved: boolean
}

/**
 * The access phase of a route whose consumers have plugins. Like runRequestPhase, plus: after a
 * step leaves ctx.consumer set, switch (once) to that consumer's pipeline and continue there with
 * the first step ordered after the identifying one. Steps ordered before it in the consumer's
 * pipeline (consumer plugins with a higher priority than the auth plugin) cannot run: the consumer
 * was not known yet. `holder.pipeline` becomes the consumer's for beforeUpstream, response and log.
 */
export function runAccessSwitching(holder: PipelineHolder, ctx: RequestContext, steps: readonly Step[], from = 0): Verdict | Promise<Verdict> {
  for (let i = from; i < steps.length; i++) {
    const step = steps[i]!
    let v: Verdict | Promise<Verdict>
    try {
      v = step.instance.access!(ctx)
    } catch (err) {
      throw new PluginFailure(step.name, err)
    }
    if (v !== undefined) {
      if (isThenable(v)) return continueSwitchingAsync(v, holder, ctx, steps, i)
      return v
    }
    if (ctx.consumer !== undefined && !holder.consumerResolved) {
      const next = switchTo(holder, ctx.consumer)
      if (next !== null) return runAccessSwitching(holder, ctx, next, resumeAfter(next, step))
    }
  }
  return undefined
}

/** Awaits a step's pending verdict; a rejection becomes a PluginFailure naming the step. */
async function awaitStep(p: Promise<Verdict>, step: Step): Promise<Verdict> {
  try {
    return await p
  } catch (err) {
    throw new PluginFailure(step.name, err)
  }
}

async function continueSwitchingAsync(p: Promise<Verdict>, holder: PipelineHolder, ctx: RequestContext, steps: readonly Step[], i: number): Promise<Verdict> {
  const v = await awaitStep(p, steps[i]!)
  if (v !== undefined) return v
  if (ctx.consumer !== undefined && !holder.consumerResolved) {
    const next = switchTo(holder, ctx.consumer)
    if (next !== null) return runAccessSwitching(holder, ctx, next, resumeAfter(next, steps[i]!))
  }
  return runAccessSwitching(holder, ctx, steps, i + 1)
}

/** Returns the consumer pipeline's access steps after switching, or null when there is nothing to switch to. */
function switchTo(holder: PipelineHolder, consumer: string): readonly Step[] | null {
  holder.consumerResolved = true
  const next = holder.pipeline?.consumers?.for(consumer) ?? null
  if (next === null) return null
  holder.pipeline = next
  return next.access ?? []
}

function resumeAfter(steps: readonly Step[], current: Step): number {
  let j = 0
  while (j < steps.length && stepOrder(steps[j]!, current) <= 0) j++
  return j
}

type RequestPhase = 'rewrite' | 'access' | 'beforeUpstream'

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function'
}

/**
 * Runs one request phase. Synchronous until a handler returns a thenable; only then does it go
 * async (no async wrapper per call). Returns the first LocalReply, or undefined to continue.
 * A throw (or rejection) becomes a PluginFailure.
 */
export function runRequestPhase(steps: readonly Step[], phase: RequestPhase, ctx: RequestContext, from = 0): Verdict | Promise<Verdict> {
  for (let i = from; i < steps.length; i++) {
    const step = steps[i]!
    let v: Verdict | Promise<Verdict>
    try {
      v = step.instance[phase]!(ctx)
    } catch (err) {
      throw new PluginFailure(step.name, err)
    }
    if (v === undefined) continue
    if (isThenable(v)) return continueAsync(v, steps, phase, ctx, i)
    return v
  }
  return undefined
}

async function continueAsync(p: Promise<Verdict>, steps: readonly Step[], phase: RequestPhase, ctx: RequestContext, i: number): Promise<Verdict> {
  const v = await awaitStep(p, steps[i]!)
  if (v !== undefined) return v
  return runRequestPhase(steps, phase, ctx, i + 1)
}

/** The request phases in order; runRequestPhases walks them by index (1 = access). */
export const REQUEST_PHASES = ['rewrite', 'access', 'beforeUpstream'] as const

/**
 * What runRequestPhases drives: a proxied exchange (proxy/exchange.ts) or a WebSocket handshake
 * (proxy/ws-tunnel.ts). Both run the same phases the same way; only what happens around them differs.
 */
export interface PhaseHost extends PipelineHolder {
  readonly ctx: RequestContext
  /** false once the request was answered or abandoned: a verdict that arrives later is dropped. */
  waiting(): boolean
  /** Before phase `i`: true when the host paused the run (it calls runRequestPhases(host, i) to resume). */
  pauseBefore(i: number): boolean
  localReply(v: Exclude<Verdict, undefined>): void
  pluginFailed(err: unknown): void
  /** Every request phase let the request through. */
  phasesPassed(): void
}

/** Runs rewrite → access → beforeUpstream from phase index `i`, going async only when a plugin does. */
export function runRequestPhases(host: PhaseHost, i = 0): void {
  for (; i < REQUEST_PHASES.length; i++) {
    if (host.pauseBefore(i)) return
    // Re-read per phase: the access phase may switch to the consumer's pipeline.
    const pipeline = host.pipeline!
    const phase = REQUEST_PHASES[i]!
    const steps = pipeline[phase]
    if (steps === null) continue
    const ctx = host.ctx
    const trace = ctx.trace
    if (trace !== null && trace.pluginEvents) trace.event(`plugins.${phase}`, { plugins: steps.map((st) => st.name).join(',') })
    let v: Verdict | Promise<Verdict>
    try {
      v = i === 1 && pipeline.consumers !== null ? runAccessSwitching(host, ctx, steps) : runRequestPhase(steps, phase, ctx)
    } catch (err) {
      return host.pluginFailed(err)
    }
    if (v === undefined) continue
    if (v instanceof Promise) {
      const next = i + 1
      v.then(
        (verdict) => {
          if (!host.waiting()) return
          if (verdict === undefined) runRequestPhases(host, next)
          else host.localReply(verdict)
        },
        (err: unknown) => host.pluginFailed(err),
      )
      return
    }
    return host.localReply(v)
  }
  host.phasesPassed()
}

export function runResponsePhase(steps: readonly Step[], ctx: RequestContext, head: UpstreamHead, from = 0): void | Promise<void> {
  for (let i = from; i < steps.length; i++) {
    const step = steps[i]!
    let v: void | Promise<void>
    try {
      v = step.instance.response!(ctx, head)
    } catch (err) {
      throw new PluginFailure(step.name, err)
    }
    if (isThenable(v)) {
      return (v as Promise<void>).then(
        () => runResponsePhase(steps, ctx, head, i + 1),
        (err: unknown) => {
          throw new PluginFailure(step.name, err)
        },
      )
    }
  }
}

/** Log handlers never surface errors; a throw is reported through onError and the rest still run. */
export function runLogPhase(steps: readonly Step[], ctx: RequestContext, done: Completed, onError: (plugin: string, err: unknown) => void): void {
  for (const step of steps) {
    try {
      step.instance.log!(ctx, done)
    } catch (err) {
      onError(step.name, err)
    }
  }
}

export type { LocalReply }
