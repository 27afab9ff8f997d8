// A plugin config validated the way the gateway validates it: as the config of a use on a route of a
// whole document, through validateConfig with the installed plugins' checks (src/config/validate.ts),
// so the plugin's schema runs with the loader's Ajv options, defaults are applied, units are checked
// and the plugin's own check() runs. A unit test then cannot accept a config production refuses.
import { formatErrors, type ConfigError } from '../../src/config/errors.js'
import { formatPath, validateConfig, type Issue } from '../../src/config/validate.js'
import { INSTALLED_CHECKS } from '../../src/snapshot/installed-checks.js'

export interface PluginConfigOptions {
  /**
   * More top-level keys of the document the use sits in (upstreams, store, consumers, …), for
   * plugins whose checks look at the rest of the document. Upstream `o` is always defined.
   */
  doc?: Record<string, unknown>
}

/** A plugin config production refuses; `message` has one line per error, as the loader prints them. */
export class PluginConfigError extends Error {
  constructor(
    readonly plugin: string,
    readonly issues: readonly Issue[],
  ) {
    const errors: ConfigError[] = issues.map((i) => ({
      file: `${plugin} config`,
      path: formatPath(i.path),
      line: 0,
      column: 0,
      message: i.message,
      ...(i.hint === undefined ? {} : { hint: i.hint }),
    }))
    super(`invalid ${plugin} config:\n${formatErrors(errors)}`)
    this.name = 'PluginConfigError'
  }
}

function check(name: string, config: unknown, opts: PluginConfigOptions): { issues: Issue[]; config: unknown } {
  const { upstreams, ...rest } = opts.doc ?? {}
  const use: Record<string, unknown> = { name, config }
  const doc = {
    ...rest,
    upstreams: { o: { targets: [{ url: 'http://127.0.0.1:9' }] }, ...(upstreams as Record<string, unknown> | undefined) },
    routes: [{ name: 'r', paths: ['/*'], upstream: 'o', plugins: [use] }],
  }
  const issues = validateConfig(doc, new Set(), INSTALLED_CHECKS)
  return { issues, config: use.config }
}

/**
 * `config` (changed in place: defaults applied, as the loader does) when production accepts it as
 * the config of plugin `name`; otherwise throws a PluginConfigError listing every error. Paths in
 * the errors are those of the use in the document, e.g. `routes[0].plugins[0].config.origins[0]`.
 */
export function validatePluginConfig<T = Record<string, unknown>>(name: string, config: unknown, opts: PluginConfigOptions = {}): T {
  const r = check(name, config, opts)
  if (r.issues.length > 0) throw new PluginConfigError(name, r.issues)
  return r.config as T
}

/** Whether production accepts `config` for plugin `name` (defaults applied to it in place when it does). */
export function isValidPluginConfig(name: string, config: unknown, opts: PluginConfigOptions = {}): boolean {
  return check(name, config, opts).issues.length === 0
}
