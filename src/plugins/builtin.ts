// Built-in plugins for the data plane (and the user plugins of PORTICO_PLUGINS), each imported the first time a config names it. A worker
// whose routes use no plugin then carries none of them, nor TypeBox, jose or the schema modules
// they pull in: 33 MB of RSS and 9 MB of heap for all of them together, measured by importing
// registry.ts (which loads them all, for the primary's validation) into a bare node process.
import type { PluginDefinition } from './contract.js'
import { loadSchemaDefaults } from './defaults.js'
import { loadUserPlugins, userPluginSpecs } from './user.js'

type Loader = () => Promise<{ default: unknown }>

/** Name → module: the list of built-ins (registry.ts loads them all for the primary). */
export const BUILTIN_LOADERS: ReadonlyMap<string, Loader> = new Map<string, Loader>([
  ['headers', () => import('./headers/index.js')],
  ['cors', () => import('./cors/index.js')],
  ['rate-limit', () => import('./rate-limit/index.js')],
  ['request-size-limit', () => import('./request-size-limit/index.js')],
  ['mock', () => import('./mock/index.js')],
  ['redirect', () => import('./redirect/index.js')],
  ['jwt', () => import('./jwt/index.js')],
  ['rbac', () => import('./rbac/index.js')],
  ['key-auth', () => import('./key-auth/index.js')],
  ['mtls-auth', () => import('./mtls-auth/index.js')],
  ['hmac-auth', () => import('./hmac-auth/index.js')],
  ['ip-restriction', () => import('./ip-restriction/index.js')],
  ['jwt-revocation', () => import('./jwt-revocation/index.js')],
  ['oauth2-introspection', () => import('./oauth2-introspection/index.js')],
  ['cache', () => import('./cache/index.js')],
  ['request-transformer', () => import('./request-transformer/index.js')],
  ['response-transformer', () => import('./response-transformer/index.js')],
  ['aggregate', () => import('./aggregate/index.js')],
])

/**
 * Every plugin name a config uses: the global list, each route's and each consumer's, and any
 * other `plugins` list the schema may grow (the walk does not need to know where they are).
 */
export function pluginNamesIn(config: unknown): Set<string> {
  const names = new Set<string>()
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x)
      return
    }
    if (v === null || typeof v !== 'object') return
    for (const [k, x] of Object.entries(v)) {
      if (k === 'plugins' && Array.isArray(x)) {
        for (const use of x) if (use !== null && typeof use === 'object' && typeof (use as { name?: unknown }).name === 'string') names.add((use as { name: string }).name)
      }
      walk(x)
    }
  }
  walk(config)
  return names
}

let userPlugins: Promise<Map<string, PluginDefinition>> | null = null

/**
 * The user plugins of PORTICO_PLUGINS (./user.ts), imported once per process on first need: a
 * worker whose config names none of them never imports them.
 */
export function installedUserPlugins(): Promise<Map<string, PluginDefinition>> {
  userPlugins ??= loadUserPlugins(userPluginSpecs(), new Set(BUILTIN_LOADERS.keys()))
  return userPlugins
}

/**
 * The definitions of the named plugins, built-in or user, imported as needed (an import is cached
 * by the module system, so a reload that names the same plugins costs nothing). Unknown names are
 * left out: the compiler reports them with the route that names them.
 */
export async function loadPlugins(names: Iterable<string>): Promise<Map<string, PluginDefinition>> {
  const all = [...names]
  const wanted = all.filter((n) => BUILTIN_LOADERS.has(n))
  const out = new Map<string, PluginDefinition>()
  const other = all.length > wanted.length && userPluginSpecs().length > 0 ? installedUserPlugins() : null
  if (wanted.length === 0 && other === null) return out
  const [mods, users] = await Promise.all([Promise.all(wanted.map((n) => BUILTIN_LOADERS.get(n)!())), other, loadSchemaDefaults()])
  wanted.forEach((n, i) => out.set(n, mods[i]!.default as PluginDefinition))
  if (users !== null) for (const n of all) if (!out.has(n) && users.has(n)) out.set(n, users.get(n)!)
  return out
}
