// The checks a config document is validated against (config/validate.ts DocumentChecks), bound to
// a set of plugins and the router's path-pattern grammar. Validation lives below plugins and
// router, so whoever loads a document (control, cli, tests) hands it these. The checks against the
// plugins installed in this process are in ./installed-checks.ts, apart, because loading those
// imports the user plugins, and a user plugin imports the package entry, which exports this.
import type { DocumentChecks } from '../config/validate.js'
import type { PluginDefinition } from '../plugins/contract.js'
import { checkPathPattern } from '../router/table.js'

/** Checks against `plugins` (user plugins added to the built-ins, or a fixed set). */
export function documentChecks(plugins: ReadonlyMap<string, PluginDefinition>): DocumentChecks {
  return { plugins, pathPattern: checkPathPattern }
}
