// The options the config document's Ajv validator is built with, and the hash that ties a
// pre-built validator (scripts/build-validator.mjs) to the schema it was generated from. Shared by
// the build script and config/validate.ts so the two cannot drift apart.
import { createHash } from 'node:crypto'
import type { Options } from 'ajv'
import type { TSchema } from './schema/index.js'

// Defaults are NOT applied: the document handed on keeps what the user wrote, and the snapshot
// compiler owns the defaults. verbose gives each error its schema and parent schema, which the
// messages are built from.
export const DOCUMENT_AJV_OPTIONS: Options = { allErrors: true, useDefaults: false, verbose: true }

/** sha256 of the schema's JSON (TypeBox's symbol keys are left out by JSON.stringify). */
export function schemaHash(schema: TSchema): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex')
}
