// Built-in plugins by name, every one loaded: for the primary, which validates every plugin config
// against its schema, and for tests. A data-plane worker loads only the plugins its config names,
// through loadPlugins() in ./builtin.ts, which also holds the list. User plugins (loaded from a
// path or package) go through the same checks in assertPluginDefinition before they are accepted.
import type { PluginDefinition } from './contract.js'
import { PHASES } from './contract.js'
import { BUILTIN_LOADERS, loadPlugins } from './builtin.js'

/** Refuses a definition that does not declare what the loader needs (APISIX load_plugin). */
export function assertPluginDefinition(def: PluginDefinition): void {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new TypeError(`plugin name "${def.name}" must be kebab-case`)
  if (!Number.isInteger(def.priority)) throw new TypeError(`plugin ${def.name}: priority must be an integer`)
  if (def.schema === undefined || typeof def.schema !== 'object') throw new TypeError(`plugin ${def.name}: schema is required`)
  if (def.phases.length === 0 || def.phases.some((p) => !PHASES.includes(p))) {
    throw new TypeError(`plugin ${def.name}: phases must be a non-empty subset of ${PHASES.join(', ')}`)
  }
  if (typeof def.create !== 'function') throw new TypeError(`plugin ${def.name}: create() is required`)
}

export const BUILTIN_PLUGINS: ReadonlyMap<string, PluginDefinition> = await loadPlugins(BUILTIN_LOADERS.keys())
for (const [name, def] of BUILTIN_PLUGINS) {
  assertPluginDefinition(def)
  if (def.name !== name) throw new TypeError(`built-in plugin loaded as "${name}" is named "${def.name}"`)
}
