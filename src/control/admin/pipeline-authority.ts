// ConfigAuthority over the primary: what serves, the document as written (from the ConfigSource),
// and admin writes handed to the primary's one reload pipeline (source write → read → version →
// load workers → record).
import type { Config } from '../../config/schema/index.js'
import type { ConfigDoc } from '../ipc.js'
import { ApiError } from './api.js'
import type { ApplyOptions, ApplyResult, ConfigAuthority, ConfigState } from './authority.js'

type Obj = Record<string, unknown>

/** What the primary offers the admin API. */
export interface ServingPipeline {
  serving(): ConfigDoc
  /** The serving document as written (${ENV} kept), or null when the source cannot say. */
  written(): Promise<Obj | null>
  /** An admin write: unless `basedOn` no longer serves, the source stores it and the pipeline reloads. Serialized with other reloads. */
  write(doc: Obj, opts: ApplyOptions): Promise<ApplyResult>
}

export class PipelineAuthority implements ConfigAuthority {
  #pipeline: ServingPipeline

  constructor(pipeline: ServingPipeline) {
    this.#pipeline = pipeline
  }

  serving(): Config {
    return this.#pipeline.serving().config
  }

  async current(): Promise<ConfigState> {
    const s = this.#pipeline.serving()
    const doc = await this.#pipeline.written()
    // Never fall back to the resolved document: it holds the values of ${env:}/${file:} references
    // on keys redaction does not know to be secret.
    if (doc === null) {
      throw new ApiError(503, 'config_unavailable', 'the config source no longer holds the serving document as written (the file changed or is unreadable); reload it (SIGHUP) or retry', {}, { 'retry-after': '1' })
    }
    return { doc, version: s.version, hash: s.hash }
  }

  apply(doc: Obj, opts: ApplyOptions): Promise<ApplyResult> {
    return this.#pipeline.write(doc, opts)
  }
}
