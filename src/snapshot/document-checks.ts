// The checks a config document is validated against (config/validate.ts DocumentChecks), bound to
// what this build knows: the built-in plugins and the router's path-pattern grammar. Validation
// lives below plugins and router, so whoever loads a document (control, cli, tests) hands it these.
import type { DocumentChecks } from '../config/validate.js'
import type { PluginDefinition } from '../plugins/contract.js'
import { BUILTIN_PLUGINS } from '../plugins/registry.js'
import { checkPathPattern } from '../router/table.js'

/** Checks against `plugins` (user plugins added to the built-ins, or a fixed set). */
export function documentChecks(plugins: ReadonlyMap<string, PluginDefinition>): DocumentChecks {
  return { plugins, pathPattern: checkPathPattern }
}

/** Checks against the built-in plugins. */
export const BUILTIN_CHECKS: DocumentChecks = documentChecks(BUILTIN_PLUGINS)
