// ConfigAuthority over the primary's reload pipeline. The primary provides two calls (what serves,
// and swap a validated document in); this adapter adds the document as written, which the admin
// API edits, re-read from the file whenever a file reload changed what serves.
import type { Config } from '../../config/schema/index.js'
import type { ConfigDoc } from '../ipc.js'
import { readDocumentAsWritten, validateDocument, type ApplyResult, type ConfigAuthority, type ConfigState } from './authority.js'

type Obj = Record<string, unknown>

export interface SwapResult {
  /** ok/partial: serving now; failed: no worker could load it (the previous one serves); conflict: basedOn no longer serves. */
  result: 'ok' | 'partial' | 'failed' | 'conflict'
  version: number
  errors: Array<{ message: string; worker?: number }>
}

/** What the primary (or arch's reload pipeline) must offer. */
export interface ServingPipeline {
  serving(): ConfigDoc
  /** Swap a validated document in, unless `basedOn` is no longer the serving hash. Serialized with other reloads. */
  swap(config: Config, hash: string, basedOn: string, trigger: string): Promise<SwapResult>
}

export class PipelineAuthority implements ConfigAuthority {
  #pipeline: ServingPipeline
  #file: string | undefined
  #raw: Obj | null = null
  #rawFor: string | null = null

  constructor(pipeline: ServingPipeline, file?: string) {
    this.#pipeline = pipeline
    this.#file = file
  }

  serving(): Config {
    return this.#pipeline.serving().config
  }

  async current(): Promise<ConfigState> {
    const s = this.#pipeline.serving()
    if (this.#rawFor !== s.hash) await this.#reread(s.hash)
    // A document that cannot be read back as written (file gone or changed again) is shown resolved;
    // redaction still hides its secrets.
    return { doc: this.#raw ?? (s.config as unknown as Obj), version: s.version, hash: s.hash }
  }

  async #reread(hash: string): Promise<void> {
    if (this.#file === undefined) return
    try {
      const raw = await readDocumentAsWritten(this.#file)
      const v = validateDocument(raw, this.#file)
      if (v.ok && v.hash === hash) {
        this.#raw = raw
        this.#rawFor = hash
      }
    } catch {
      // keep what we had
    }
  }

  async apply(doc: Obj, opts: { basedOn: string; trigger: string }): Promise<ApplyResult> {
    const v = validateDocument(doc)
    if (!v.ok) return { ok: false, reason: 'invalid', errors: v.errors }
    if (v.hash === opts.basedOn) {
      // Same resolved document (e.g. only a ${ENV} reference written out): nothing to load.
      this.#raw = doc
      this.#rawFor = v.hash
      return { ok: true, version: this.#pipeline.serving().version, hash: v.hash, changed: false, warnings: [] }
    }
    const r = await this.#pipeline.swap(v.config, v.hash, opts.basedOn, opts.trigger)
    const errors = r.errors.map((e) => ({ path: '', message: e.worker === undefined ? e.message : `worker ${e.worker}: ${e.message}` }))
    if (r.result === 'conflict') return { ok: false, reason: 'conflict', errors }
    if (r.result === 'failed') return { ok: false, reason: 'rejected', errors }
    this.#raw = doc
    this.#rawFor = v.hash
    return { ok: true, version: r.version, hash: v.hash, changed: true, warnings: errors }
  }
}
