// compileSnapshot takes over from the serving Snapshot what a reload did not change: a route whose
// definition and context are the same keeps its compiled route, route-table spec and plugin
// instances (retiring the old Snapshot closes only what the new one no longer uses); anything a
// route was compiled against that changed (its upstream, the global plugins, the consumers, a
// cluster its plugin called for) compiles it again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { Type } from '@sinclair/typebox'
import { compileSnapshot, retireSnapshot, pluginInstances, type Snapshot } from '../../../src/snapshot/compile.js'
import type { PluginDefinition, PluginInstance } from '../../../src/plugins/contract.js'
import type { Config } from '../../../src/config/schema/index.js'
import { MemoryStore } from '../../../src/state/memory.js'
import { loadSchemaDefaults } from '../../../src/plugins/defaults.js'

await loadSchemaDefaults()

const logger = pino({ level: 'silent' })
const store = new MemoryStore()

/** A plugin that counts its instances and closes; with `upstream`, it asks the env for a client at create, as aggregate does. */
function probe(): { def: PluginDefinition; created: () => number; closed: PluginInstance[] } {
  let created = 0
  const closed: PluginInstance[] = []
  const def: PluginDefinition = {
    name: 'probe',
    phases: ['access'],
    priority: 1,
    schema: Type.Object({ tag: Type.Optional(Type.String()), upstream: Type.Optional(Type.String()) }),
    status: 'experimental',
    create(config: { upstream?: string }, env) {
      created++
      if (config.upstream !== undefined && env.upstream?.(config.upstream) === undefined) throw new Error('unknown upstream')
      const inst: PluginInstance = {
        access: () => undefined,
        close: () => {
          closed.push(inst)
        },
      }
      return inst
    },
  }
  return { def, created: () => created, closed }
}

function doc(over: Partial<Config> = {}, routes = 4): Config {
  return {
    upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] }, b: { targets: [{ url: 'http://127.0.0.1:2' }] } },
    routes: Array.from({ length: routes }, (_, i) => ({ name: `r${i}`, paths: [`/r${i}/:id`], upstream: i % 2 === 0 ? 'a' : 'b', plugins: [{ name: 'probe', config: { tag: `t${i}` } }] })),
    ...over,
  } as Config
}

async function compile(config: Config, registry: ReadonlyMap<string, PluginDefinition>, previous?: Snapshot): Promise<Snapshot> {
  return compileSnapshot(config, { version: 1, hash: 'h', logger, registry, store, memory: store, previous })
}

const route = (s: Snapshot, name: string) => s.routes.find((r) => r.name === name)!

test('an unchanged route is taken over whole; a changed one compiles again, and retiring closes only its old instance', async () => {
  const p = probe()
  const registry = new Map([['probe', p.def]])
  const first = await compile(doc(), registry)
  assert.equal(p.created(), 4)
  const changed = doc()
  changed.routes[1] = { ...changed.routes[1]!, paths: ['/moved/:id'] }
  const second = await compile(changed, registry, first)
  assert.equal(p.created(), 5, 'only the changed route made an instance')
  for (const name of ['r0', 'r2', 'r3']) assert.equal(route(second, name), route(first, name), `${name} carried over`)
  assert.notEqual(route(second, 'r1'), route(first, 'r1'))
  assert.equal(second.router.match('x', 'GET', '/moved/7', {}).kind, 'found')
  assert.equal(second.router.match('x', 'GET', '/r1/7', {}).kind, 'not_found')
  assert.equal(first.router.match('x', 'GET', '/r1/7', {}).kind, 'found', 'the old table still routes as it did')
  await retireSnapshot(first, second, logger)
  assert.equal(p.closed.length, 1, 'the changed route\'s old instance only')
  assert.ok(!pluginInstances(second).includes(p.closed[0]!))
  assert.equal(pluginInstances(second).length, 4)
})

test('a route on a changed upstream compiles again; routes on the unchanged one are taken over', async () => {
  const p = probe()
  const registry = new Map([['probe', p.def]])
  const first = await compile(doc(), registry)
  const second = await compile(doc({ upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] }, b: { targets: [{ url: 'http://127.0.0.1:3' }] } } }), registry, first)
  assert.equal(route(second, 'r0'), route(first, 'r0'))
  assert.equal(route(second, 'r2'), route(first, 'r2'))
  assert.notEqual(route(second, 'r1'), route(first, 'r1'))
  assert.equal(route(second, 'r1').cluster, second.clusters.get('b'))
  assert.notEqual(second.clusters.get('b'), first.clusters.get('b'))
})

test('a changed global plugin list, consumer list or plugin definition compiles every route again', async () => {
  const p = probe()
  const registry = new Map([['probe', p.def]])
  const first = await compile(doc(), registry)
  const changes: Array<[string, Config, ReadonlyMap<string, PluginDefinition>]> = [
    ['global plugins', doc({ plugins: [{ name: 'probe', config: { tag: 'global' } }] }), registry],
    ['consumers', doc({ consumers: [{ name: 'c1' }] }), registry],
    ['plugin definition', doc(), new Map([['probe', { ...p.def }]])],
  ]
  for (const [what, config, reg] of changes) {
    const next = await compile(config, reg, first)
    for (const r of next.routes) assert.notEqual(r, route(first, r.name), `${what}: ${r.name} compiled again`)
  }
})

test('a route whose plugin holds a client of an upstream compiles again when that upstream changes', async () => {
  const p = probe()
  const registry = new Map([['probe', p.def]])
  const config = doc({}, 1)
  config.routes[0]!.plugins = [{ name: 'probe', config: { upstream: 'b' } }]
  const first = await compile(config, registry)
  const same = await compile(structuredClone(config), registry, first)
  assert.equal(route(same, 'r0'), route(first, 'r0'))
  const moved = structuredClone(config)
  moved.upstreams.b = { targets: [{ url: 'http://127.0.0.1:4' }] }
  const next = await compile(moved, registry, same)
  assert.notEqual(route(next, 'r0'), route(first, 'r0'), 'its route uses upstream a, its plugin upstream b')
})
