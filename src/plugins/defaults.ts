// Schema defaults for plugin configs, applied when an instance is created. TypeBox's Value module
// does it; it is loaded on first need (loadSchemaDefaults) rather than imported, because a data
// plane whose config uses no plugin would otherwise carry TypeBox for nothing (~12 MB of RSS per
// worker measured, with the plugin modules that pull it in).
import type { TSchema } from '@sinclair/typebox'

type Defaulter = (schema: TSchema, value: unknown) => unknown
let defaulter: Defaulter | null = null

/** Loads the defaulter; idempotent. Plugin loaders call it before they hand out definitions. */
export async function loadSchemaDefaults(): Promise<void> {
  defaulter ??= (await import('@sinclair/typebox/value')).Value.Default as Defaulter
}

/** `value` with the schema's defaults filled in (mutates and returns it, as Value.Default does). */
export function withSchemaDefaults(schema: TSchema, value: unknown): unknown {
  if (defaulter === null) throw new Error('plugin schema defaults are not loaded (loadSchemaDefaults() first)')
  return defaulter(schema, value)
}
