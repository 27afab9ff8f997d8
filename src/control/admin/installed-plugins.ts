// GET /admin/installed-plugins: what a config may name under `plugins:` on this gateway, so a
// client (the console's plugin picker) can offer the user plugins of PORTICO_PLUGINS next to the
// built-ins, with the schema their config is checked against.
import type { PluginDefinition } from '../../plugins/contract.js'
import { INSTALLED_PLUGINS, USER_PLUGIN_NAMES } from '../../plugins/installed.js'

export interface InstalledPlugin {
  name: string
  origin: 'builtin' | 'user'
  phases: readonly string[]
  priority: number
  status: PluginDefinition['status']
  schema: unknown
}

let listed: InstalledPlugin[] | undefined

/** Built once: the installed set is fixed when the process starts (installed.ts). */
export function installedPlugins(): InstalledPlugin[] {
  if (listed !== undefined) return listed
  const user = new Set(USER_PLUGIN_NAMES)
  const entries = [...INSTALLED_PLUGINS.values()].map((def) => ({
    name: def.name,
    origin: user.has(def.name) ? ('user' as const) : ('builtin' as const),
    phases: [...def.phases],
    priority: def.priority,
    status: def.status,
    // A JSON copy: TypeBox keeps its own bookkeeping under symbol keys, which JSON drops anyway.
    schema: JSON.parse(JSON.stringify(def.schema)) as unknown,
  }))
  const byName = (a: InstalledPlugin, b: InstalledPlugin) => a.name.localeCompare(b.name)
  listed = [...entries.filter((p) => p.origin === 'builtin').sort(byName), ...entries.filter((p) => p.origin === 'user').sort(byName)]
  return listed
}
