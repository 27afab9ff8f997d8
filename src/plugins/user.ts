// User plugins: modules named by PORTICO_PLUGINS (a list split by path.delimiter, ':' on Unix),
// each a file, a directory with a package.json, or an installed package name, whose default export
// is a plugin definition or an array of them. They go through the built-ins' checks
// (assertPluginDefinition), may not reuse a built-in's name, and are then validated, compiled and
// run exactly like built-ins.
//
// Why the environment and not the config document: the document can be written through the admin
// API and a config center, and a list of modules to import there would turn a config write into
// running code on every instance. Kong (`plugins =` in kong.conf) and APISIX (`extra_lua_path` in
// config.yaml, not in etcd) keep it in the node's own settings for the same reason. The variable is
// read once at process start; the primary's workers inherit it.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { assertPluginDefinition, type PluginDefinition } from './contract.js'

/** A user plugin that could not be loaded: the message names the module and the reason. */
export class UserPluginError extends Error {
  override name = 'UserPluginError'
}

/** The module specs of PORTICO_PLUGINS, in order, empty entries dropped. */
export function userPluginSpecs(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.PORTICO_PLUGINS
  if (raw === undefined) return []
  return raw
    .split(delimiter)
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

const isPathSpec = (spec: string): boolean => spec.startsWith('.') || isAbsolute(spec) || (spec.includes('/') && !spec.startsWith('@'))

/** The entry file of a package directory: exports "." (import or default condition), main, index.js. */
function packageEntry(dir: string, spec: string): string {
  const pkgFile = join(dir, 'package.json')
  if (!existsSync(pkgFile)) {
    if (existsSync(join(dir, 'index.js'))) return join(dir, 'index.js')
    throw new UserPluginError(`plugin ${spec}: ${dir} has no package.json and no index.js`)
  }
  let pkg: { exports?: unknown; main?: unknown }
  try {
    pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as typeof pkg
  } catch (err) {
    throw new UserPluginError(`plugin ${spec}: ${pkgFile}: ${(err as Error).message}`)
  }
  const pick = (e: unknown): string | undefined => {
    if (typeof e === 'string') return e
    if (e === null || typeof e !== 'object') return undefined
    const o = e as Record<string, unknown>
    return pick(o['.']) ?? pick(o.import) ?? pick(o.default)
  }
  const entry = pick(pkg.exports) ?? (typeof pkg.main === 'string' ? pkg.main : 'index.js')
  return resolve(dir, entry)
}

/** The file a spec names: a path (file or package directory), or a package under node_modules from `base` up. */
export function resolvePluginModule(spec: string, base: string = process.cwd()): string {
  if (isPathSpec(spec)) {
    const p = resolve(base, spec)
    if (!existsSync(p)) throw new UserPluginError(`plugin ${spec}: ${p} does not exist`)
    return statSync(p).isDirectory() ? packageEntry(p, spec) : p
  }
  for (let dir = resolve(base); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', spec)
    if (existsSync(candidate)) return packageEntry(candidate, spec)
    if (dirname(dir) === dir) break
  }
  throw new UserPluginError(`plugin ${spec}: no package of that name under node_modules from ${base} up (npm install it, or give a path)`)
}

async function importModule(file: string, spec: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href
  // Node 20 cannot import TypeScript by itself: tsx does it when installed (it is how `npm run dev`
  // runs); a production install builds its plugins to JavaScript instead.
  if (/\.[cm]?ts$/.test(file) && !process.execArgv.some((a) => a.includes('tsx'))) {
    let tsx: { tsImport(specifier: string, parent: string): Promise<unknown> }
    try {
      tsx = (await import('tsx/esm/api')) as typeof tsx
    } catch {
      throw new UserPluginError(`plugin ${spec}: ${file} is TypeScript; build it to JavaScript, or install tsx (npm install tsx) to load it as is`)
    }
    return (await tsx.tsImport(url, import.meta.url)) as Record<string, unknown>
  }
  return (await import(url)) as Record<string, unknown>
}

/**
 * Imports and checks the plugins of `specs`. Refuses (UserPluginError) a module that fails to
 * import, exports no definition, exports an invalid one, or reuses a name taken by a built-in or
 * by another user plugin.
 */
export async function loadUserPlugins(specs: readonly string[], builtins: ReadonlySet<string>, base: string = process.cwd()): Promise<Map<string, PluginDefinition>> {
  const out = new Map<string, PluginDefinition>()
  const from = new Map<string, string>()
  for (const spec of specs) {
    const file = resolvePluginModule(spec, base)
    let mod: Record<string, unknown>
    try {
      mod = await importModule(file, spec)
    } catch (err) {
      if (err instanceof UserPluginError) throw err
      throw new UserPluginError(`plugin ${spec}: importing ${file} failed: ${(err as Error).message}`)
    }
    let exported = mod.default ?? mod.plugin
    // A .ts file outside an ESM package is compiled as CommonJS: its `export default` arrives one
    // level down, as the default export's `default`.
    if (exported !== null && typeof exported === 'object' && !Array.isArray(exported) && !('name' in exported) && 'default' in exported) {
      exported = (exported as { default: unknown }).default
    }
    if (exported === undefined) throw new UserPluginError(`plugin ${spec}: ${file} has no default export (export default definePlugin({...}))`)
    for (const def of Array.isArray(exported) ? (exported as unknown[]) : [exported]) {
      try {
        assertPluginDefinition(def)
      } catch (err) {
        throw new UserPluginError(`plugin ${spec}: ${(err as Error).message}`)
      }
      if (builtins.has(def.name)) throw new UserPluginError(`plugin ${spec}: "${def.name}" is the name of a built-in plugin; give yours another name`)
      const earlier = from.get(def.name)
      if (earlier !== undefined) throw new UserPluginError(`plugin ${spec}: "${def.name}" is already defined by ${earlier}`)
      from.set(def.name, spec)
      out.set(def.name, def)
    }
  }
  return out
}
