// Builds a route's plugin pipeline at compile time and runs it per request.
// Merge: global uses, then route uses, by name (the route's use replaces the global one; a route
// use with enabled: false removes it). Each phase becomes a sorted array, or null when empty, so a
// route without plugins pays one null check per phase and nothing else.
import { Value } from '@sinclair/typebox/value'
import type { Logger } from 'pino'
import type { PluginUseConfig } from '../config/schema/index.js'
import type { LocalReply, Phase, PluginDefinition, PluginEnv, PluginInstance, UpstreamHead, Verdict, Completed } from './contract.js'
import type { RequestContext } from '../proxy/context.js'

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
}

/** Thrown by a plugin handler: becomes a 500 plugin_error naming the plugin in the log only. */
export class PluginFailure extends Error {
  readonly plugin: string
  constructor(plugin: string, cause: unknown) {
    super(`plugin ${plugin} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.plugin = plugin
  }
}

export interface InstanceFactory {
  /** Creates (or, for global uses, reuses) the instance of one use. */
  instance(use: PluginUseConfig, def: PluginDefinition, scope: 'global' | 'route'): PluginInstance
}

/** Instantiates a plugin use with defaults applied (the loader already validated the config). */
export function createInstance(def: PluginDefinition, use: PluginUseConfig, env: Omit<PluginEnv, 'logger' | 'route'> & { logger: Logger }, route: string | undefined): PluginInstance {
  const config = Value.Default(def.schema, structuredClone(use.config ?? {}))
  return def.create(config as never, { ...env, logger: env.logger.child({ plugin: def.name }), route })
}

export function buildPipeline(
  globalUses: readonly PluginUseConfig[],
  routeUses: readonly PluginUseConfig[],
  registry: ReadonlyMap<string, PluginDefinition>,
  factory: InstanceFactory,
): Pipeline | null {
  const merged = new Map<string, { use: PluginUseConfig; scope: 'global' | 'route' }>()
  for (const use of globalUses) if (use.enabled !== false) merged.set(use.name, { use, scope: 'global' })
  for (const use of routeUses) {
    if (use.enabled === false) merged.delete(use.name)
    else merged.set(use.name, { use, scope: 'route' })
  }
  if (merged.size === 0) return null

  const phases: Record<Phase, Step[]> = { rewrite: [], access: [], beforeUpstream: [], response: [], log: [] }
  const owned: PluginInstance[] = []
  for (const [name, { use, scope }] of merged) {
    const def = registry.get(name)
    if (def === undefined) throw new Error(`unknown plugin "${name}"`)
    const instance = factory.instance(use, def, scope)
    if (scope === 'route') owned.push(instance)
    const priority = use.priority ?? def.priority
    for (const phase of def.phases) {
      if (typeof instance[phase] === 'function') phases[phase].push({ name, priority, instance })
    }
  }
  const sorted = (steps: Step[]) =>
    steps.length === 0 ? null : steps.sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return {
    rewrite: sorted(phases.rewrite),
    access: sorted(phases.access),
    beforeUpstream: sorted(phases.beforeUpstream),
    response: sorted(phases.response),
    log: sorted(phases.log),
    owned,
  }
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
  let v: Verdict
  try {
    v = await p
  } catch (err) {
    throw new PluginFailure(steps[i]!.name, err)
  }
  if (v !== undefined) return v
  return runRequestPhase(steps, phase, ctx, i + 1)
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
