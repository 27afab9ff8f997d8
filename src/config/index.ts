// Public face of src/config: load and validate a document, format its errors, and the schema types.
export { loadConfigFile, loadConfigText, hashConfig, type LoadResult, type LoadOptions } from './load.js'
export type { DocumentChecks, PluginSchema } from './validate.js'
export { formatErrors, type ConfigError } from './errors.js'
export { ConfigSchema, type Config, type RouteConfig, type UpstreamConfig, type PluginUseConfig, type TimeoutsConfig } from './schema/index.js'
export { parseDuration, parseSize } from './units.js'
