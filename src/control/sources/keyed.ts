// What the key-per-resource config centers (Consul KV, ZooKeeper, Apollo) share behind the
// ConfigSource seam: the bootstrap file keeps the settings; the store holds one entry per resource
// (routes, upstreams, consumers, global plugins), its value the resource as JSON. A backend only
// fetches entries, follows changes and stores compare-and-set writes; this class turns entries into
// the document, validates it through the one loader, isolates what fails, keeps the last valid
// entries in a local file for a restart while the store is down, and counts and logs outages.
//
// The failure policy, for every backend:
// - a failed request, a dropped watch, an auth failure or an unparsable answer never changes the
//   document: the serving one stays; portico_config_source_up{source} drops to 0, each failure
//   counts in portico_config_source_errors_total{source,reason}, one warning per outage and one info
//   line when the store answers again;
// - a resource whose stored value fails validation is isolated: a resource that served before keeps
//   serving its last valid version (the bad change is refused), a new one is left out; either way
//   it is logged once, listed in /status and counted in portico_config_isolated_resources{kind};
// - the backend decides what looks like the store blinking (Consul's index going backwards onto an
//   empty prefix, ZooKeeper's root znode vanishing) and does not apply it.
// The etcd source (etcd.ts) predates this class and keeps its own copy of the same steps.
import { rename, readFile, writeFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { Counter, Gauge } from 'prom-client'
import type { Config } from '../../config/schema/index.js'
import { registry } from '../../observability/metrics.js'
import { KINDS, changes, list, put, remove, type Kind } from '../admin/resources.js'
import { isolatedResources, owner, type Isolated } from './etcd.js'
// The discovery's retry helpers (jittered doubling backoff, an abortable sleep): one copy for both.
export { backoff, sleep } from '../../upstream/discovery/watch.js'
import { settingsRefusal, validateDocument, type ConfigSource, type SourceError, type SourceRead, type Trigger, type WriteResult } from './source.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

export type KeyedKind = 'consul' | 'zookeeper' | 'apollo'
export type FailureReason = 'unreachable' | 'http_status' | 'auth' | 'bad_answer' | 'watch_lost' | 'timeout'

export const configSourceUp = new Gauge({
  name: 'portico_config_source_up',
  help: 'Whether the config center answers (1) or not (0); while 0 the last valid config keeps serving.',
  labelNames: ['source'] as const,
  registers: [registry],
})

export const configSourceErrors = new Counter({
  name: 'portico_config_source_errors_total',
  help: 'Failed config-center requests or watches (unreachable, http_status, auth, bad_answer, watch_lost, timeout); the serving config stays.',
  labelNames: ['source', 'reason'] as const,
  registers: [registry],
})

/** One stored resource: its value as text, the store's version of it (for compare-and-set) and its place. */
export interface Entry {
  value: string
  /** ModifyIndex (Consul), znode version (ZooKeeper); '' where writes are not supported. */
  version: string
  /** Document order: entries sort by it, then by key, so every instance builds the same document. */
  order: number
}

export interface KeyedChange {
  key: string
  kind: Kind
  name: string
  op: 'put' | 'delete'
  /** The new value (put). */
  value?: string
  /** The version this instance holds; undefined = the key should not exist yet. */
  version: string | undefined
}

interface Built {
  config: Config
  hash: string
  isolated: Isolated[]
  /** The value each resource serves with, by key (for the last-valid-version rule). */
  resources: Map<string, Obj>
}

interface Cache {
  source?: string
  location?: string
  position: string
  entries: Array<[string, Entry]>
}

/** A config center's HTTP answer other than the one expected (Consul, Apollo). */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** The failure reason of an HTTP config center's request (metrics label and log). */
export function httpFailureReason(err: unknown): FailureReason {
  if (err instanceof HttpStatusError) return err.status === 401 || err.status === 403 ? 'auth' : 'http_status'
  const code = (err as { code?: string }).code
  if (err instanceof SyntaxError || code === 'bad_answer') return 'bad_answer'
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || (err as Error).name === 'TimeoutError') return 'timeout'
  return 'unreachable'
}

/** An answer the center's API does not give: counted as bad_answer. */
export function badAnswer(center: string, message: string): Error {
  return Object.assign(new Error(`unexpected answer from ${center}: ${message}`), { code: 'bad_answer' })
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export abstract class KeyedSource implements ConfigSource {
  abstract readonly name: KeyedKind
  /** For messages: "Consul", "ZooKeeper", "Apollo". */
  protected abstract readonly label: string
  /** Where the resources live (prefix, root znode, app/cluster/namespace), for logs, /status and the cache. */
  protected abstract readonly location: string
  protected readonly logger: Logger
  protected closed = false
  readonly #settings: Obj
  readonly #cacheFile: string
  #entries = new Map<string, Entry>()
  #position = '0'
  #changed: ((trigger: Trigger) => void) | null = null
  #lastRead: { hash: string; position: string; entries: Map<string, Entry>; resources: Map<string, Obj> } | null = null
  /** What each resource served with last: an invalid change to it keeps this version. */
  #lastGood = new Map<string, Obj>()
  #isolated: Isolated[] = []
  /** Problems with the stored data as a whole (an unparsable Apollo namespace): nothing applies. */
  #documentErrors: SourceError[] | null = null
  #servingCache: string | null = null
  #up = false
  #failures = 0
  #lastError: string | null = null
  #signalQueued = false

  constructor(opts: { settings: Obj; cacheFile: string; logger: Logger }) {
    this.#settings = Object.fromEntries(Object.entries(opts.settings).filter(([k]) => !(KINDS as readonly string[]).includes(k)))
    this.#cacheFile = opts.cacheFile
    this.logger = opts.logger
  }

  // --- what a backend provides ---

  /** The store key of a resource (also how /status and logs name it). */
  abstract keyOf(kind: Kind, name: string): string
  /** The resource a stored key holds; undefined for keys that are not resources. */
  protected abstract resourceOf(key: string): { kind: Kind; name: string } | undefined
  /** Everything under the location, now, within the backend's deadline. Throws when it cannot be read. */
  protected abstract fetchAll(): Promise<{ entries: Map<string, Entry>; position: string }>
  /** Starts following the store: replace()/fail()/ok() as it goes. */
  protected abstract follow(): void
  /** Stores the changes with compare-and-set on each key's version, all or none. */
  protected abstract commit(changes: KeyedChange[]): Promise<WriteResult>
  /** Stops following and closes connections. */
  protected abstract stop(): Promise<void>
  /** Backend-specific /status fields. */
  protected statusExtra(): Obj {
    return {}
  }

  // --- for backends ---

  protected get entries(): ReadonlyMap<string, Entry> {
    return this.#entries
  }

  protected get position(): string {
    return this.#position
  }

  protected get servingCache(): boolean {
    return this.#servingCache !== null
  }

  protected get up(): boolean {
    return this.#up
  }

  /** New entries from the store; asks for a reload when they differ from the held ones. */
  protected replace(entries: Map<string, Entry>, position: string, opts: { signal?: boolean } = {}): void {
    this.#position = position
    const docErrors = this.#documentErrors !== null
    this.#documentErrors = null
    if (!docErrors && sameEntries(this.#entries, entries)) return
    this.#entries = entries
    if (opts.signal !== false) this.signal()
  }

  /** The stored data as a whole cannot become a document (reported as a rejected reload; the serving one stays). */
  protected refuse(errors: SourceError[], position: string): void {
    this.#position = position
    const before = JSON.stringify(this.#documentErrors)
    this.#documentErrors = errors
    if (before !== JSON.stringify(errors)) {
      this.logger.error({ source: this.name, location: this.location, errors }, `${this.label}: the stored config cannot be read; the current config keeps serving`)
      this.signal()
    }
  }

  /** One failure: metric each time, one warning per outage. */
  protected fail(reason: FailureReason, err: unknown): void {
    this.#lastError = errText(err)
    configSourceErrors.inc({ source: this.name, reason })
    configSourceUp.set({ source: this.name }, 0)
    const wasUp = this.#up
    this.#up = false
    if (this.#failures++ > 0 && !wasUp) return
    this.logger.warn({ source: this.name, location: this.location, reason, err: this.#lastError }, `${this.label} config center failed; the current config keeps serving`)
  }

  /** The store answered. After serving the cache, the store's entries take over. */
  protected ok(): void {
    configSourceUp.set({ source: this.name }, 1)
    if (!this.#up && this.#failures > 0) this.logger.info({ source: this.name, location: this.location, failures: this.#failures }, `${this.label} config center answers again`)
    this.#up = true
    this.#failures = 0
    if (this.#servingCache !== null) {
      this.logger.info({ source: this.name, position: this.#position }, `${this.label} reachable again: following it instead of the cache`)
      this.#servingCache = null
      this.signal()
    }
  }

  /** Changes arriving together (one answer, one watch burst) ask for one reload. */
  protected signal(): void {
    if (this.#signalQueued || this.#changed === null) return
    this.#signalQueued = true
    setImmediate(() => {
      this.#signalQueued = false
      if (!this.closed) this.#changed?.(this.name)
    })
  }

  // --- ConfigSource ---

  async initial(): Promise<{ config: Config; hash: string }> {
    try {
      const r = await this.fetchAll()
      this.#entries = r.entries
      this.#position = r.position
      this.ok()
    } catch (err) {
      this.fail('unreachable', err)
      const cached = await this.#readCache()
      if (cached === null) throw new Error(`${this.label} is unreachable (${this.#lastError}) and there is no cached config at ${this.#cacheFile}`)
      this.#entries = new Map(cached.entries)
      this.#position = cached.position
      this.#servingCache = this.#cacheFile
      this.logger.warn({ err: this.#lastError, cache: this.#cacheFile, position: cached.position }, `${this.label} unreachable at start: serving the cached config; reconnecting`)
    }
    if (this.#documentErrors !== null) throw new Error(`${this.label}: ${this.#documentErrors.map((e) => `${e.path}: ${e.message}`).join('; ')}`)
    const b = this.#build()
    this.#report(b)
    this.#remember(b)
    this.#lastGood = b.resources
    if (this.#servingCache === null) await this.#saveCache()
    return { config: b.config, hash: b.hash }
  }

  async read(force: boolean): Promise<SourceRead> {
    if (force && this.#servingCache === null) {
      try {
        const r = await this.fetchAll()
        this.replace(r.entries, r.position, { signal: false })
      } catch (err) {
        this.logger.warn({ err: errText(err) }, `${this.label} resync failed; the current config keeps serving`)
        return { kind: 'unchanged' }
      }
    }
    if (this.#documentErrors !== null) return { kind: 'invalid', errors: this.#documentErrors }
    let b: Built
    try {
      b = this.#build()
    } catch (err) {
      return { kind: 'invalid', errors: [{ file: this.name, path: '', message: errText(err) }] }
    }
    this.#report(b)
    this.#remember(b)
    return { kind: 'document', config: b.config, hash: b.hash }
  }

  #remember(b: Built): void {
    this.#lastRead = { hash: b.hash, position: this.#position, entries: this.#entries, resources: b.resources }
  }

  served(hash: string): void {
    if (this.#lastRead?.hash !== hash) return
    this.#lastGood = this.#lastRead.resources
    void this.#saveCache()
  }

  watch(changed: (trigger: Trigger) => void): void {
    this.#changed = changed
    this.follow()
  }

  // --- document ---

  /** Settings from the file + the stored resources, in store order; unparsable values are isolated. */
  #assemble(): { doc: Obj; unparsable: Isolated[] } {
    let doc: Obj = { ...this.#settings, upstreams: {}, routes: [], consumers: [], plugins: [] }
    const unparsable: Isolated[] = []
    const entries = [...this.#entries.entries()].sort(([ka, a], [kb, b]) => a.order - b.order || (ka < kb ? -1 : ka > kb ? 1 : 0))
    for (const [key, e] of entries) {
      const r = this.resourceOf(key)
      if (r === undefined) continue
      let value: unknown
      try {
        value = JSON.parse(e.value)
      } catch {
        unparsable.push({ ...r, key, errors: [{ path: '', message: 'the value is not JSON' }] })
        continue
      }
      if (!isObj(value)) {
        unparsable.push({ ...r, key, errors: [{ path: '', message: 'the value is not a JSON object' }] })
        continue
      }
      doc = put(doc, r.kind, r.name, value)
    }
    return { doc, unparsable }
  }

  /**
   * The document with every resource that fails validation isolated: one that served before is put
   * back at its last valid version (checked again with the rest), a new one is left out.
   */
  #build(): Built {
    const { doc: all, unparsable } = this.#assemble()
    let doc = all
    const isolated: Isolated[] = []
    const restored = new Set<string>()
    const isolate = (i: Isolated): void => {
      isolated.push(i)
      const good = this.#lastGood.get(i.key)
      if (good !== undefined && !restored.has(i.key)) {
        restored.add(i.key)
        doc = put(doc, i.kind, i.name, good)
      } else doc = remove(doc, i.kind, i.name)
    }
    for (const u of unparsable) isolate(u)
    for (let round = 0; round < 10; round++) {
      const v = validateDocument(doc, this.name)
      if (v.ok) {
        const resources = new Map<string, Obj>()
        for (const kind of KINDS) for (const r of list(doc, kind)) resources.set(this.keyOf(kind, String(r.name)), r)
        const held = isolated.filter((i) => resources.has(i.key)).map((i) => i.key)
        return { config: v.config, hash: v.hash, isolated: isolated.map((i) => ({ ...i, ...(held.includes(i.key) ? { serving: 'last valid version' } : {}) })), resources }
      }
      const bad = new Map<string, Isolated>()
      for (const e of v.errors) {
        const o = owner(e.path, doc)
        if (o === undefined) throw new Error(`the config fails validation outside any resource: ${e.path}: ${e.message}`)
        const id = `${o.kind}/${o.name}`
        const entry = bad.get(id) ?? { ...o, key: this.keyOf(o.kind, o.name), errors: [] }
        entry.errors.push(e)
        bad.set(id, entry)
      }
      for (const b of bad.values()) {
        // A restored version that fails too (what it needs is gone) is left out, its errors kept.
        const earlier = isolated.findIndex((i) => i.key === b.key)
        if (earlier >= 0) {
          isolated[earlier]!.errors.push(...b.errors)
          doc = remove(doc, b.kind, b.name)
        } else isolate(b)
      }
    }
    throw new Error('the config center document does not validate after isolating resources')
  }

  #report(b: Built): void {
    const before = new Set(this.#isolated.map((i) => `${i.key}\n${JSON.stringify(i.errors)}`))
    this.#isolated = b.isolated
    for (const kind of KINDS) isolatedResources.set({ kind }, b.isolated.filter((i) => i.kind === kind).length)
    for (const i of b.isolated) {
      if (before.has(`${i.key}\n${JSON.stringify(i.errors)}`)) continue
      const kept = (i as Isolated & { serving?: string }).serving !== undefined
      this.logger.error(
        { source: this.name, key: i.key, kind: i.kind, name: i.name, errors: i.errors },
        `${this.label}: ${i.key} fails validation; ${kept ? 'its last valid version keeps serving' : 'left out'}, the rest serves`,
      )
    }
  }

  // --- cache (last-known-good across restarts) ---

  async #readCache(): Promise<Cache | null> {
    const text = await readFile(this.#cacheFile, 'utf8').catch(() => null)
    if (text === null) return null
    try {
      const c = JSON.parse(text) as Cache
      if (c.source !== this.name || c.location !== this.location) {
        this.logger.warn({ cache: this.#cacheFile, source: c.source, location: c.location }, `the config cache is for another config center; not using it`)
        return null
      }
      return Array.isArray(c.entries) ? c : null
    } catch {
      this.logger.warn({ cache: this.#cacheFile }, 'the config cache is not JSON; not using it')
      return null
    }
  }

  /**
   * The entries of the document that serves, atomically (write + rename), mode 0600 (values may
   * hold secrets written inline). An isolated resource kept at its last valid version is saved at
   * that version, so a restart from the cache serves what served.
   */
  async #saveCache(): Promise<void> {
    if (this.#servingCache !== null) return
    const last = this.#lastRead
    if (last === null) return
    const entries = new Map(last.entries)
    for (const i of this.#isolated) {
      const good = last.resources.get(i.key)
      const e = entries.get(i.key)
      if (good !== undefined) entries.set(i.key, { value: JSON.stringify(withoutName(i.kind, good)), version: e?.version ?? '', order: e?.order ?? 0 })
      else entries.delete(i.key)
    }
    const tmp = `${this.#cacheFile}.${process.pid}.tmp`
    try {
      const body: Cache & { saved_at: string } = { source: this.name, location: this.location, position: last.position, saved_at: new Date().toISOString(), entries: [...entries.entries()] }
      await writeFile(tmp, JSON.stringify(body), { mode: 0o600 })
      await rename(tmp, this.#cacheFile)
    } catch (err) {
      this.logger.warn({ err: errText(err), file: this.#cacheFile }, `could not save the ${this.label} config cache`)
    }
  }

  // --- admin writes ---

  /** The resources as stored (isolated ones included), with the file's settings. */
  written(): Promise<Obj> {
    return Promise.resolve(this.#assemble().doc)
  }

  async write(doc: Obj): Promise<WriteResult> {
    const current = this.#assemble().doc
    const diff = changes(current, doc)
    const refused = settingsRefusal(diff, this.name)
    if (refused !== undefined) return refused
    if (diff.length === 0) return { ok: true }
    const readOnly = this.readOnly()
    if (readOnly !== undefined) return { ok: false, reason: 'rejected', errors: [{ path: '', message: readOnly }] }
    // Resources isolated before this write and not touched by it stay as they are; they do not fail it.
    const touched = new Set(diff.map((c) => `${c.kind}/${c.name}`))
    let candidate = doc
    for (const i of this.#isolated) {
      if (touched.has(`${i.kind}/${i.name}`)) continue
      const good = this.#lastGood.get(i.key)
      candidate = good !== undefined ? put(candidate, i.kind, i.name, good) : remove(candidate, i.kind, i.name)
    }
    const v = validateDocument(candidate)
    if (!v.ok) return { ok: false, reason: 'invalid', errors: v.errors }
    if (this.#servingCache !== null || !this.#up) return { ok: false, reason: 'rejected', errors: [{ path: '', message: `${this.label} is unreachable; nothing was written` }] }
    const ops: KeyedChange[] = diff.map((c) => {
      const kind = c.kind as Kind
      const key = this.keyOf(kind, c.name)
      const version = this.#entries.get(key)?.version
      return c.op === 'delete' ? { key, kind, name: c.name, op: 'delete', version } : { key, kind, name: c.name, op: 'put', value: JSON.stringify(c.after), version }
    })
    return this.commit(ops)
  }

  /** Why admin writes are refused, for a read-only store; undefined when it takes writes. */
  protected readOnly(): string | undefined {
    return undefined
  }

  /** After a write: the entries as now stored, held at once so the pipeline's read() serves them. */
  protected hold(key: string, entry: Entry | undefined): void {
    const next = new Map(this.#entries)
    if (entry === undefined) next.delete(key)
    else next.set(key, entry)
    this.#entries = next
  }

  // --- status ---

  status(): Obj {
    return {
      kind: this.name,
      location: this.location,
      connected: this.#up,
      position: this.#position,
      serving_cache: this.#servingCache,
      last_error: this.#up ? null : this.#lastError,
      document_errors: this.#documentErrors,
      isolated: this.#isolated.map((i) => ({ kind: i.kind, name: i.name, key: i.key, errors: i.errors, ...((i as Isolated & { serving?: string }).serving !== undefined ? { serving: 'last valid version' } : {}) })),
      ...this.statusExtra(),
    }
  }

  readinessDetail(): string | undefined {
    if (this.#servingCache !== null) return `serving the cached config from ${this.#servingCache} (${this.label} unreachable at start; position ${this.#position})`
    if (!this.#up) return `${this.label} unreachable; serving position ${this.#position}`
    if (this.#documentErrors !== null) return `${this.label}: the stored config cannot be read; the previous one serves`
    if (this.#isolated.length > 0) return `${this.#isolated.length} resource(s) isolated: ${this.#isolated.map((i) => i.key).join(', ')}`
    return undefined
  }

  async close(): Promise<void> {
    this.closed = true
    await this.stop()
  }
}

function sameEntries(a: ReadonlyMap<string, Entry>, b: ReadonlyMap<string, Entry>): boolean {
  if (a.size !== b.size) return false
  for (const [k, e] of a) {
    const o = b.get(k)
    if (o === undefined || o.value !== e.value || o.version !== e.version || o.order !== e.order) return false
  }
  return true
}

/** A resource as stored: the name is the key's, not the value's (upstreams carry none in the document). */
function withoutName(kind: Kind, r: Obj): Obj {
  if (kind !== 'upstreams') return r
  const { name: _n, ...rest } = r
  return rest
}

