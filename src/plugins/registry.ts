// Built-in plugins by name, every one loaded: for the primary, which validates every plugin config
// against its schema, and for tests. A data-plane worker loads only the plugins its config names,
// through loadPlugins() in ./builtin.ts, which also holds the list. User plugins (./user.ts) go
// through the same assertPluginDefinition before they are accepted; ./installed.ts joins the two.
import type { PluginDefinition } from './contract.js'
import { assertPluginDefinition } from './contract.js'
import { BUILTIN_LOADERS, loadPlugins } from './builtin.js'

export const BUILTIN_PLUGINS: ReadonlyMap<string, PluginDefinition> = await loadPlugins(BUILTIN_LOADERS.keys())
for (const [name, def] of BUILTIN_PLUGINS) {
  assertPluginDefinition(def)
  if (def.name !== name) throw new TypeError(`built-in plugin loaded as "${name}" is named "${def.name}"`)
}
