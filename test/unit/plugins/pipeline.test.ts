// The pipeline builder and runner: merge rules, ordering, empty phases, sync/async continuation.
import { before, test } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { buildPipeline, createInstance, runRequestPhase, PluginFailure, type InstanceFactory } from '../../../src/plugins/pipeline.js'
import { definePlugin, type PluginDefinition, type Phase } from '../../../src/plugins/contract.js'
import type { RequestContext } from '../../../src/core/context.js'
import { createLogger } from '../../../src/observability/logger.js'
import { MemoryStore } from '../../../src/state/memory.js'
import { loadSchemaDefaults } from '../../../src/plugins/defaults.js'

const calls: string[] = []
function plugin(name: string, priority: number, phases: Phase[], behave: (ctx: RequestContext) => unknown = () => undefined): PluginDefinition {
  return definePlugin({
    name,
    priority,
    phases,
    status: 'experimental',
    schema: Type.Object({ tag: Type.String({ default: name }) }),
    create: (config) => {
      const handler = (ctx: RequestContext) => {
        calls.push(config.tag)
        return behave(ctx)
      }
      return Object.fromEntries(phases.map((p) => [p, handler]))
    },
  }) as unknown as PluginDefinition
}

const registry = new Map<string, PluginDefinition>([
  ['a', plugin('a', 100, ['access'])],
  ['b', plugin('b', 200, ['access', 'rewrite'])],
  ['c', plugin('c', 100, ['access'])],
  ['deny', plugin('deny', 50, ['access'], () => ({ status: 403, error: 'forbidden' }))],
  ['slow', plugin('slow', 150, ['access'], () => Promise.resolve(undefined))],
  ['boom', plugin('boom', 10, ['access'], () => {
    throw new Error('kaput')
  })],
])
const logger = createLogger('silent')
const memory = new MemoryStore()
const factory: InstanceFactory = { instance: (use, def) => createInstance(def, use, { logger, store: memory, memory }, 'r') }
const ctx = {} as RequestContext

// Whoever compiles pipelines loads the defaulter first (the data plane does, before each compile).
before(loadSchemaDefaults)

test('no plugins → null pipeline (nothing to run per request)', () => {
  assert.equal(buildPipeline([], [], registry, factory), null)
})

test('phases without handlers are null; steps sorted by priority, then name', () => {
  const p = buildPipeline([{ name: 'c' }, { name: 'a' }], [{ name: 'b' }], registry, factory)!
  assert.deepEqual(p.access!.map((s) => s.name), ['b', 'a', 'c'])
  assert.deepEqual(p.rewrite!.map((s) => s.name), ['b'])
  assert.equal(p.beforeUpstream, null)
  assert.equal(p.response, null)
})

test('a route use replaces the global one by name; enabled: false removes it', () => {
  const p = buildPipeline([{ name: 'a', config: { tag: 'global-a' } }, { name: 'c' }], [{ name: 'a', config: { tag: 'route-a' } }, { name: 'c', enabled: false }], registry, factory)!
  calls.length = 0
  runRequestPhase(p.access!, 'access', ctx)
  assert.deepEqual(calls, ['route-a'])
})

test('a use may override the priority', () => {
  const p = buildPipeline([], [{ name: 'a', priority: 500 }, { name: 'b' }], registry, factory)!
  assert.deepEqual(p.access!.map((s) => s.name), ['a', 'b'])
})

test('a LocalReply stops the phase', () => {
  const p = buildPipeline([], [{ name: 'a' }, { name: 'deny' }, { name: 'boom' }], registry, factory)!
  calls.length = 0
  assert.deepEqual(runRequestPhase(p.access!, 'access', ctx), { status: 403, error: 'forbidden' })
  assert.deepEqual(calls, ['a', 'deny'])
})

test('sync until a plugin returns a promise, then the rest runs after it', async () => {
  const p = buildPipeline([], [{ name: 'b' }, { name: 'slow' }, { name: 'a' }], registry, factory)!
  calls.length = 0
  const v = runRequestPhase(p.access!, 'access', ctx)
  assert.ok(v instanceof Promise)
  assert.deepEqual(calls, ['b', 'slow'])
  assert.equal(await v, undefined)
  assert.deepEqual(calls, ['b', 'slow', 'a'])
})

test('a throw becomes a PluginFailure naming the plugin', () => {
  const p = buildPipeline([], [{ name: 'boom' }], registry, factory)!
  assert.throws(() => runRequestPhase(p.access!, 'access', ctx), (e: unknown) => e instanceof PluginFailure && e.plugin === 'boom')
})

test('config defaults are applied before create()', () => {
  const p = buildPipeline([], [{ name: 'a' }], registry, factory)!
  calls.length = 0
  runRequestPhase(p.access!, 'access', ctx)
  assert.deepEqual(calls, ['a'])
})

test('unknown plugin names fail the build', () => {
  assert.throws(() => buildPipeline([], [{ name: 'nope' }], registry, factory), /unknown plugin "nope"/)
})
