// The seam between where a config document lives (a file, etcd) and the primary's one reload
// pipeline: read (validate) → version → load workers → record (control/primary.ts). A source only
// produces validated documents and stores admin writes; versioning, the workers and the record are
// the pipeline's, so a file change, an etcd watch event, SIGHUP and an admin write take one path.
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { loadConfigText } from '../../config/load.js'
import type { Config } from '../../config/schema/index.js'
import { INSTALLED_CHECKS } from '../../snapshot/installed-checks.js'
import type { ConfigDoc } from '../ipc.js'

type Obj = Record<string, unknown>

/** Who asked for a reload (ReloadRecord.trigger). */
export type Trigger = 'file' | 'SIGHUP' | 'admin' | 'etcd' | 'consul' | 'zookeeper' | 'apollo'

/** One problem with a document, in the file's error shape (line:column when the source has lines). */
export interface SourceError {
  file?: string
  path: string
  line?: number
  column?: number
  message: string
  hint?: string
}

export type SourceRead =
  /** A validated document (it may equal the serving one: the pipeline compares hashes). */
  | { kind: 'document'; config: Config; hash: string }
  /** The source holds a document that fails validation: the serving one stays (recorded as rejected). */
  | { kind: 'invalid'; errors: SourceError[] }
  /** Nothing to do (the bytes did not change, or the source could not be reached). */
  | { kind: 'unchanged' }

export type WriteResult =
  | { ok: true }
  /** invalid: the validator refused it; rejected: the store refused or failed (nothing written). */
  | { ok: false; reason: 'invalid' | 'rejected'; errors: SourceError[] }
  /** Someone else changed the stored resources first (etcd's mod_revision compare). */
  | { ok: false; reason: 'conflict'; errors: SourceError[] }

export interface ConfigSource {
  readonly name: 'file' | 'etcd' | 'consul' | 'zookeeper' | 'apollo'
  /** The first document, validated. Throws with a message for the operator when there is none. */
  initial(): Promise<{ config: Config; hash: string }>
  /**
   * The pipeline's first step: the source's document now, validated. `force` (SIGHUP, admin
   * writes) reads even when the source believes nothing changed.
   */
  read(force: boolean): Promise<SourceRead>
  /** Starts following the store; `changed` asks the primary for a reload (it collapses bursts). */
  watch(changed: (trigger: Trigger) => void): void
  /**
   * An admin write: the whole document as written (${ENV} references kept). The next read()
   * returns it. The file source keeps it in memory; etcd writes the changed keys in one transaction.
   */
  write(doc: Obj): Promise<WriteResult>
  /** The document of the last read() serves now (etcd persists its local last-known-good copy). */
  served(hash: string): void
  /** The serving document as written, for the admin API to show and edit; null when not known. */
  written(serving: ConfigDoc): Promise<Obj | null>
  /** For /status (config_center) and /readyz (detail); undefined when there is nothing to say. */
  status?(): Obj
  readinessDetail?(): string | undefined
  close(): Promise<void>
}

export type Validation = { ok: true; config: Config; hash: string } | { ok: false; errors: SourceError[] }

/**
 * The same loader and validator a file goes through (${ENV} interpolation, schema, cross-checks,
 * did-you-mean hints). The document is handed over as JSON text, which YAML 1.2 reads as is.
 */
export function validateDocument(doc: Obj, label = 'admin'): Validation {
  const r = loadConfigText(JSON.stringify(doc), label, { checks: INSTALLED_CHECKS })
  if (r.ok) return { ok: true, config: r.config, hash: r.hash }
  return { ok: false, errors: r.errors.map((e) => ({ path: e.path, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) })) }
}

/**
 * A document as written (before ${...} references are resolved), for the admin API to read and edit.
 * A JSON text takes JSON.parse (JSON is YAML 1.2, so the result is the same): on a 10,000-route
 * file the YAML parser took 700-1,200 ms of every reload, more than the rest of the reload together.
 */
export function parseWritten(text: string): Obj {
  let v: unknown
  if (/^\uFEFF?\s*\{/.test(text)) {
    try {
      v = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
    } catch {
      v = undefined
    }
  }
  if (v === undefined) v = parse(text, { merge: true, maxAliasCount: 100 })
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {}
}

/** A file's document as written. */
export async function readDocumentAsWritten(file: string): Promise<Obj> {
  return parseWritten(await readFile(file, 'utf8'))
}

/** Admin writes may not change the settings, which come from the bootstrap file (every config center). */
export function settingsRefusal(diff: ReadonlyArray<{ kind: string; name: string }>, center: string): WriteResult | undefined {
  const settings = diff.filter((c) => c.kind === 'settings')
  if (settings.length === 0) return undefined
  return {
    ok: false,
    reason: 'invalid',
    errors: settings.map((c) => ({ path: c.name, message: `comes from the bootstrap file with config_center.${center}; change it there and restart`, hint: 'the API changes routes, upstreams, consumers and plugins' })),
  }
}
