// What the admin API needs from whoever owns the serving config: the document as written, and a
// way to replace it through the one reload pipeline (validate → version → load workers → record).
// The primary provides it (admin/pipeline-authority.ts over the primary and its ConfigSource), so
// the API does not know whether the document lives in a file or in etcd.
import type { Config } from '../../config/schema/index.js'
import type { SourceError } from '../sources/source.js'

export { readDocumentAsWritten, validateDocument, type Validation } from '../sources/source.js'

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
export type ApiConfigError = SourceError

export type ApplyResult =
  | { ok: true; version: number; hash: string; changed: boolean; warnings: ApiConfigError[] }
  /** invalid: the validator refused it; rejected: the store or the data plane refused it (last-known-good serves). */
  | { ok: false; reason: 'invalid' | 'rejected'; errors: ApiConfigError[] }
  /** The serving document changed since `basedOn` (another writer, a file reload): re-read and retry. */
  | { ok: false; reason: 'conflict'; errors: ApiConfigError[] }

export interface ApplyOptions {
  /** The hash the new document was derived from: the swap happens only if it still serves. */
  basedOn: string
  /** Who asked: 'admin' for the API. */
  trigger: 'admin'
}

export interface ConfigAuthority {
  current(): Promise<ConfigState>
  /** Stores `doc` in the config source and swaps it in through the reload pipeline; the previous document keeps serving on failure. */
  apply(doc: Obj, opts: ApplyOptions): Promise<ApplyResult>
  /** The resolved, serving config (auth reads admin.tokens from it). */
  serving(): Config
}
