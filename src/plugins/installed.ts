// Every plugin this process can run: the built-ins and the user plugins of PORTICO_PLUGINS, all
// loaded, for whoever validates or explains a whole document (the primary, the CLI, the admin API).
// A user plugin that cannot be loaded makes this module's import fail with a UserPluginError that
// names it, so `portico start` and `portico validate` stop with that reason before any config loads.
import type { PluginDefinition } from './contract.js'
import { installedUserPlugins } from './builtin.js'
import { BUILTIN_PLUGINS } from './registry.js'

export const INSTALLED_PLUGINS: ReadonlyMap<string, PluginDefinition> = new Map([...BUILTIN_PLUGINS, ...(await installedUserPlugins())])

/** The user plugins among them (for `/status` and `portico validate` to say what was loaded). */
export const USER_PLUGIN_NAMES: readonly string[] = [...INSTALLED_PLUGINS.keys()].filter((n) => !BUILTIN_PLUGINS.has(n))
