// What the admin API needs from whoever owns the serving config: the document as written, and a
// way to replace it through the one reload pipeline (validate → version → load workers → record).
// The primary implements it with a small adapter (primary.ts); an etcd-backed source implements
// the same shape, so the API does not know where the document lives.
import { parse } from 'yaml'
import { readFile } from 'node:fs/promises'
import { loadConfigText } from '../../config/load.js'
import type { Config } from '../../config/schema/index.js'
import { BUILTIN_CHECKS } from '../../snapshot/document-checks.js'

type Obj = Record<string, unknown>

export interface ConfigState {
  /** The document as written: `${ENV}` references unresolved, secrets included (redact before showing). */
  doc: Obj
  /** The serving version number (what /status reports). */
  version: number
  /** Hash of the resolved document; changes whenever what serves changes. */
  hash: string
}

/** One problem with a submitted document, in the same shape a file's errors have (minus line:column). */
export interface ApiConfigError {
  path: string
  message: string
  hint?: string
}

export type ApplyResult =
  | { ok: true; version: number; hash: string; changed: boolean; warnings: ApiConfigError[] }
  /** invalid: the validator refused it; rejected: the data plane could not compile it (last-known-good serves). */
  | { ok: false; reason: 'invalid' | 'rejected'; errors: ApiConfigError[] }
  /** The serving document changed since `basedOn` (another writer, a file reload): re-read and retry. */
  | { ok: false; reason: 'conflict'; errors: ApiConfigError[] }

export interface ApplyOptions {
  /** The hash the new document was derived from: the swap happens only if it still serves. */
  basedOn: string
  /** Who asked: 'admin' for the API. */
  trigger: string
}

export interface ConfigAuthority {
  current(): Promise<ConfigState>
  /** Validates `doc` and swaps it in through the reload pipeline; the previous document keeps serving on failure. */
  apply(doc: Obj, opts: ApplyOptions): Promise<ApplyResult>
  /** The resolved, serving config (auth reads admin.tokens from it). */
  serving(): Config
}

export type Validation = { ok: true; config: Config; hash: string } | { ok: false; errors: ApiConfigError[] }

/**
 * The same loader and validator a file goes through (${ENV} interpolation, schema, cross-checks,
 * did-you-mean hints). The document is handed over as JSON text, which YAML 1.2 reads as is.
 */
export function validateDocument(doc: Obj, label = 'admin'): Validation {
  const r = loadConfigText(JSON.stringify(doc), label, { checks: BUILTIN_CHECKS })
  if (r.ok) return { ok: true, config: r.config, hash: r.hash }
  return { ok: false, errors: r.errors.map((e) => ({ path: e.path, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) })) }
}

/** The file's document as written (before ${ENV}), for the admin API to read and edit. */
export async function readDocumentAsWritten(file: string): Promise<Obj> {
  const v: unknown = parse(await readFile(file, 'utf8'), { merge: true, maxAliasCount: 100 })
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {}
}
