// The config file as a ConfigSource (FileSource, below), and its watch. The directory is watched,
// not the file: editors and config-management tools replace files by rename, which ends a watch on
// the old inode. Bursts of events (truncate + write, rename + chmod) are debounced into one
// callback; whether the content really changed is decided by read() from a content hash.
import { createHash } from 'node:crypto'
import { watch, type FSWatcher } from 'node:fs'
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { stringify } from 'yaml'
import type { Logger } from 'pino'
import { loadConfigText, type LoadResult } from '../../config/load.js'
import type { Config } from '../../config/schema/index.js'
import { INSTALLED_CHECKS } from '../../snapshot/installed-checks.js'
import type { ConfigDoc } from '../ipc.js'
import { parseWritten, validateDocument, type ConfigSource, type SourceRead, type Trigger, type WriteResult } from './source.js'

type Obj = Record<string, unknown>

// Long enough to fold a truncate + write or a rename + chmod burst (microseconds apart) into one
// reload, short enough not to dominate one: it was 200 ms, a quarter of a 10,000-route reload.
export const WATCH_DEBOUNCE_MS = 100

export interface FileWatch {
  close(): void
}

export function watchConfigFile(file: string, onChange: () => void, logger: Logger): FileWatch {
  const name = basename(file)
  let timer: NodeJS.Timeout | null = null
  let watcher: FSWatcher | null = null
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, filename) => {
      // filename can be null on some platforms: then any event in the directory counts.
      if (filename !== null && filename.toString() !== name) return
      if (timer !== null) clearTimeout(timer)
      timer = setTimeout(() => {
        timer = null
        onChange()
      }, WATCH_DEBOUNCE_MS)
    })
    watcher.on('error', (err) => logger.warn({ err, file }, 'config file watch failed; use SIGHUP to reload'))
  } catch (err) {
    logger.warn({ err, file }, 'cannot watch the config file; use SIGHUP to reload')
  }
  return {
    close() {
      if (timer !== null) clearTimeout(timer)
      watcher?.close()
    },
  }
}

/**
 * The config file behind the ConfigSource seam: read() loads and validates the file (skipping a
 * watch event that left the bytes as they were), and an admin write is held in memory and served
 * until the file itself changes again.
 */
export class FileSource implements ConfigSource {
  readonly name = 'file' as const
  readonly #file: string
  readonly #displayFile: string
  readonly #logger: Logger
  #rawHash: string | null
  #first: { config: Config; hash: string }
  #watch: FileWatch | null = null
  /** An admin write waiting for the pipeline's next read(). */
  #pending: { doc: Obj; config: Config; hash: string } | null = null
  /** What the last read() returned, as written; `save`: an admin write to save to the file once it serves (admin.write_back). */
  #lastRead: Written | null = null
  /** Saves to the file, one at a time. */
  #saving: Promise<void> = Promise.resolve()
  /** The serving document as written (set once it serves). */
  #written: Written | null = null

  constructor(opts: { file: string; displayFile: string; logger: Logger; first: { config: Config; hash: string }; rawHash: string | null }) {
    this.#file = opts.file
    this.#displayFile = opts.displayFile
    this.#logger = opts.logger
    this.#first = opts.first
    this.#rawHash = opts.rawHash
  }

  /** The file read once more, so the document as written pairs with what serves from the start. */
  async initial(): Promise<{ config: Config; hash: string }> {
    // The same bytes as the checked first read: that validation stands (a second one of a
    // 10,000-route file was ~0.3 s of the primary's start).
    const text = await readFile(this.#file, 'utf8').catch(() => null)
    if (text !== null && this.#rawHash !== null && createHash('sha256').update(text).digest('hex') === this.#rawHash) {
      this.#lastRead = { doc: null, text, hash: this.#first.hash }
      this.#written = this.#lastRead
      return this.#first
    }
    const r = await this.read(true)
    if (r.kind !== 'document') return this.#first // changed into something invalid meanwhile: the checked first read serves
    this.#written = this.#lastRead
    return { config: r.config, hash: r.hash }
  }

  async read(force: boolean): Promise<SourceRead> {
    const pending = this.#pending
    if (pending !== null) {
      this.#pending = null
      this.#lastRead = { doc: pending.doc, text: null, hash: pending.hash, save: pending.config.admin?.write_back === true }
      return { kind: 'document', config: pending.config, hash: pending.hash }
    }
    // One read of the bytes for the hash, the validated document and the document as written, so
    // the three cannot come from two versions of the file.
    let text: string
    try {
      text = await readFile(this.#file, 'utf8')
    } catch (err) {
      this.#rawHash = null
      return { kind: 'invalid', errors: [{ file: this.#displayFile, path: '', line: 0, column: 0, message: (err as Error).message }] }
    }
    const raw = createHash('sha256').update(text).digest('hex')
    // Watch events also fire for writes that leave the bytes as they were (touch, chmod, editors' backups).
    if (!force && raw === this.#rawHash) return { kind: 'unchanged' }
    this.#rawHash = raw
    const result = loadConfigText(text, this.#displayFile, { checks: INSTALLED_CHECKS })
    if (!result.ok) return { kind: 'invalid', errors: result.errors }
    // Parsed when the admin API first asks for it, not on every reload (a second parse of the file).
    this.#lastRead = { doc: null, text, hash: result.hash }
    return { kind: 'document', config: result.config, hash: result.hash }
  }

  watch(changed: (trigger: Trigger) => void): void {
    this.#watch = watchConfigFile(this.#file, () => changed('file'), this.#logger)
  }

  /** Admin writes apply in memory, and are saved to the file once they serve with admin.write_back (else a later edit of the file wins). */
  write(doc: Obj): Promise<WriteResult> {
    const v = validateDocument(doc)
    if (!v.ok) return Promise.resolve({ ok: false, reason: 'invalid', errors: v.errors })
    this.#pending = { doc, config: v.config, hash: v.hash }
    return Promise.resolve({ ok: true })
  }

  served(hash: string): void {
    const last = this.#lastRead
    if (last?.hash !== hash) return
    this.#written = last
    if (last.save === true) {
      last.save = false
      const doc = asWritten(last)
      this.#saving = this.#saving.then(() => this.#save(doc))
    }
  }

  /**
   * Writes an admin write that serves to the config file: a temporary file beside it, then a
   * rename (a reader never sees half a file), with the file's mode. The raw hash is set first, so
   * the watch event of this rename reads as unchanged and reloads nothing.
   */
  async #save(doc: Obj): Promise<void> {
    const text = /\.json$/i.test(this.#file) ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc)
    const tmp = join(dirname(this.#file), `.${basename(this.#file)}.portico-${process.pid}.tmp`)
    const before = this.#rawHash
    this.#rawHash = createHash('sha256').update(text).digest('hex')
    try {
      const mode = (await stat(this.#file).catch(() => null))?.mode ?? 0o644
      await writeFile(tmp, text, { mode: mode & 0o777 })
      await rename(tmp, this.#file)
      this.#logger.info({ file: this.#displayFile }, 'admin write saved to the config file (admin.write_back)')
    } catch (err) {
      this.#rawHash = before
      await rm(tmp, { force: true })
      this.#logger.error({ err, file: this.#displayFile }, 'admin write not saved to the config file; it serves from memory until the file changes')
    }
  }

  written(serving: ConfigDoc): Promise<Obj | null> {
    const w = this.#written
    return Promise.resolve(w !== null && w.hash === serving.hash ? asWritten(w) : null)
  }

  close(): Promise<void> {
    this.#watch?.close()
    return this.#saving
  }
}

/** A document as written: an admin write's object, or a file's text parsed on first use. */
interface Written {
  doc: Obj | null
  text: string | null
  hash: string
  /** An admin write to save to the file once it serves (admin.write_back). */
  save?: boolean
}

function asWritten(w: Written): Obj {
  if (w.doc === null) {
    w.doc = parseWritten(w.text ?? '')
    w.text = null
  }
  return w.doc
}

/**
 * The config file's first read at start: its bytes validated, and their hash, so initial() and the
 * first watch event can tell the file is still what was checked.
 */
export async function loadFirst(file: string, displayFile: string): Promise<{ result: LoadResult; rawHash: string | null }> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    return { result: { ok: false, file: displayFile, errors: [{ file: displayFile, path: '', line: 0, column: 0, message: (err as Error).message }] }, rawHash: null }
  }
  return { result: loadConfigText(text, displayFile, { checks: INSTALLED_CHECKS }), rawHash: createHash('sha256').update(text).digest('hex') }
}
