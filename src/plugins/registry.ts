// Built-in plugins by name. User plugins (loaded from a path or package) go through the same
// checks in assertPluginDefinition before they are accepted.
import type { PluginDefinition } from './contract.js'
import { PHASES } from './contract.js'
import headers from './headers/index.js'
import cors from './cors/index.js'

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

const builtins: PluginDefinition[] = [headers as unknown as PluginDefinition, cors as unknown as PluginDefinition]
for (const def of builtins) assertPluginDefinition(def)

export const BUILTIN_PLUGINS: ReadonlyMap<string, PluginDefinition> = new Map(builtins.map((d) => [d.name, d]))
