// Built-in plugins by name, every one imported: for the primary, which validates every plugin
// config against its schema, and for tests. A data-plane worker loads only the plugins its config
// names, through loadPlugins() in ./builtin.ts. User plugins (loaded from a path or package) go
// through the same checks in assertPluginDefinition before they are accepted.
import type { PluginDefinition } from './contract.js'
import { PHASES } from './contract.js'
import { loadSchemaDefaults } from './defaults.js'
import headers from './headers/index.js'
import cors from './cors/index.js'
import rateLimit from './rate-limit/index.js'
import requestSizeLimit from './request-size-limit/index.js'
import mock from './mock/index.js'
import redirect from './redirect/index.js'
import jwt from './jwt/index.js'
import rbac from './rbac/index.js'
import keyAuth from './key-auth/index.js'
import hmacAuth from './hmac-auth/index.js'
import ipRestriction from './ip-restriction/index.js'
import jwtRevocation from './jwt-revocation/index.js'
import oauth2Introspection from './oauth2-introspection/index.js'
import cache from './cache/index.js'
import requestTransformer from './request-transformer/index.js'
import responseTransformer from './response-transformer/index.js'
import aggregate from './aggregate/index.js'

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

const builtins: PluginDefinition[] = [
  headers as unknown as PluginDefinition,
  cors as unknown as PluginDefinition,
  rateLimit as unknown as PluginDefinition,
  requestSizeLimit as unknown as PluginDefinition,
  mock as unknown as PluginDefinition,
  redirect as unknown as PluginDefinition,
  jwt as unknown as PluginDefinition,
  rbac as unknown as PluginDefinition,
  keyAuth as unknown as PluginDefinition,
  hmacAuth as unknown as PluginDefinition,
  ipRestriction as unknown as PluginDefinition,
  jwtRevocation as unknown as PluginDefinition,
  oauth2Introspection as unknown as PluginDefinition,
  cache as unknown as PluginDefinition,
  requestTransformer as unknown as PluginDefinition,
  responseTransformer as unknown as PluginDefinition,
  aggregate as unknown as PluginDefinition,
]
for (const def of builtins) assertPluginDefinition(def)
// Whoever holds these definitions can compile pipelines: their configs' defaults must be at hand.
await loadSchemaDefaults()

export const BUILTIN_PLUGINS: ReadonlyMap<string, PluginDefinition> = new Map(builtins.map((d) => [d.name, d]))
