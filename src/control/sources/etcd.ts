// etcd as the config center (docs/config-center.md). The bootstrap file keeps the settings
// (server, admin, log, store, …); routes, upstreams, consumers and global plugins live in etcd, one
// key per resource: <prefix><kind>/<name>, value = the resource as JSON. Every instance's primary
// lists the prefix, then watches it from the listed revision on; each change rebuilds the document,
// validates it and swaps it in through the reload pipeline. A resource that fails validation is
// isolated (left out, reported by log, /status and a metric) and the rest serves. Admin writes are
// one etcd transaction comparing each changed key's mod_revision with the one this instance holds,
// so a concurrent write from another instance fails instead of being overwritten. The last valid
// resources are kept in a local file, so a restart while etcd is down serves them. It is a
// ConfigSource (sources/source.ts): the primary's one reload pipeline reads, versions and loads.
import { createHash } from 'node:crypto'
import { rename, readFile, writeFile } from 'node:fs/promises'
import type { Etcd3, Watcher } from 'etcd3'
import type { Logger } from 'pino'
import { Gauge } from 'prom-client'
import type { Config } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { registry } from '../../observability/metrics.js'
import { Envelope } from '../../core/envelope.js'
import { parseEncryptionKey } from '../../config/tls-checks.js'
import { openSecrets, sealSecrets, SealedValueError } from './sealed.js'
import { KINDS, changes, list, put, remove, type Kind } from '../admin/resources.js'
import { validateDocument, type ConfigSource, type SourceError, type SourceRead, type Trigger, type WriteResult, settingsRefusal } from './source.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

export const isolatedResources = new Gauge({
  name: 'portico_config_isolated_resources',
  help: 'Resources in the config center that fail validation and are left out (the rest serves), by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
})

interface Kv {
  value: string
  mod: string
}

export interface Isolated {
  kind: Kind
  name: string
  key: string
  errors: SourceError[]
}

interface Built {
  doc: Obj
  config: Config
  hash: string
  isolated: Isolated[]
}

/** Where a document stands in etcd: the revision its resources were read at, and their hash. */
export interface ConfigPosition {
  revision: string
  resources: string
}

export type EtcdCenterConfig = NonNullable<NonNullable<Config['config_center']>['etcd']>

/** Watch-reconnect backoff in the shape etcd3 expects (cockatiel's IBackoff): 100 ms doubling to 2 s. */
class WatchBackoff {
  constructor(readonly duration: number) {}
  next(): WatchBackoff {
    return new WatchBackoff(Math.min(2000, this.duration * 2))
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms)
    }),
  ])
}

/** Which resource a validation path belongs to: "routes[3].paths[0]" → the 4th route of the document. */
export function owner(path: string, doc: Obj): { kind: Kind; name: string } | undefined {
  const m = /^(routes|consumers|plugins)\[(\d+)\]|^upstreams(?:\.([A-Za-z0-9_.-]+)|\["([^"]+)"\])/.exec(path)
  if (m === null) return undefined
  if (m[1] !== undefined) {
    const item = (doc[m[1]] as unknown[] | undefined)?.[Number(m[2])]
    return isObj(item) && typeof item.name === 'string' ? { kind: m[1] as Kind, name: item.name } : undefined
  }
  return { kind: 'upstreams', name: (m[3] ?? m[4])! }
}

/** What EtcdSource.seed did: resources per kind in the file, how many were written in how many transactions. */
export interface SeedResult {
  ok: boolean
  counts: Record<Kind, number>
  written: number
  transactions: number
  /** Resources the prefix held before. */
  existing: number
  errors: Array<{ path: string; message: string }>
}

export class EtcdSource implements ConfigSource {
  readonly name = 'etcd' as const
  readonly #policy: EtcdCenterConfig & { prefix: string }
  /** config_center.etcd.secrets: seals secret fields on write, opens them on read (sealed.ts). */
  readonly #envelope: Envelope | null
  readonly #settings: Obj
  readonly #cacheFile: string
  readonly #logger: Logger
  readonly #timeoutMs: number
  #client: Etcd3 | null = null
  #watcher: Watcher | null = null
  #kvs = new Map<string, Kv>()
  #revision = '0'
  /** The primary's reload request, set by watch(). */
  #changed: ((trigger: Trigger) => void) | null = null
  /** The kvs and hash of the last read(), persisted by served() once it serves. */
  #lastRead: { hash: string; revision: string; resources: string; kvs: Array<[string, Kv]> } | null = null
  /** The etcd revision and resources hash of the document that serves (the fleet record). */
  #served: ConfigPosition | null = null
  #isolated: Isolated[] = []
  #servingCache: string | null = null
  #connected = false
  #retryMs = 250
  #timer: NodeJS.Timeout | null = null
  #signalQueued = false
  #closed = false
  #lastError: string | null = null

  constructor(opts: { settings: Obj; policy: EtcdCenterConfig; cacheFile: string; logger: Logger }) {
    this.#settings = Object.fromEntries(Object.entries(opts.settings).filter(([k]) => !(KINDS as readonly string[]).includes(k)))
    this.#policy = { ...opts.policy, prefix: opts.policy.prefix ?? '/portico/' }
    const sealing = opts.policy.secrets
    this.#envelope = sealing === undefined ? null : new Envelope(parseEncryptionKey(sealing.encryption_key), (sealing.previous_encryption_keys ?? []).map(parseEncryptionKey))
    this.#cacheFile = opts.cacheFile
    this.#logger = opts.logger
    this.#timeoutMs = Math.max(1, parseDuration(opts.policy.timeout ?? '2s'))
  }

  get prefix(): string {
    return this.#policy.prefix
  }

  /** The etcd client this source uses (the fleet view shares its connection). */
  client(): Promise<Etcd3> {
    return this.#connect()
  }

  /** A key that holds a resource (<prefix><kind>/<name>); anything else under the prefix (the fleet's records) changes nothing. */
  #isResource(key: string): boolean {
    if (!key.startsWith(this.#policy.prefix)) return false
    const rest = key.slice(this.#policy.prefix.length)
    const slash = rest.indexOf('/')
    return slash > 0 && (KINDS as readonly string[]).includes(rest.slice(0, slash))
  }

  /** What serves now: the etcd revision its resources were read at and their hash (same resources = same hash on every instance). */
  servedPosition(): ConfigPosition | null {
    return this.#served
  }

  /** The newest resources this source has read (the watch's latest), served or not. */
  heldPosition(): ConfigPosition | null {
    const l = this.#lastRead
    return l === null ? null : { revision: l.revision, resources: l.resources }
  }

  keyOf(kind: Kind, name: string): string {
    return `${this.#policy.prefix}${kind}/${name}`
  }

  async #connect(): Promise<Etcd3> {
    if (this.#client !== null) return this.#client
    const { Etcd3 } = await import('etcd3')
    const p = this.#policy
    this.#client = new Etcd3({
      hosts: [...(p.endpoints ?? ['http://127.0.0.1:2379'])],
      dialTimeout: this.#timeoutMs,
      ...(p.username !== undefined ? { auth: { username: p.username, password: p.password ?? '' } } : {}),
      faultHandling: { watchBackoff: new WatchBackoff(100) as never },
    })
    return this.#client
  }

  // --- ConfigSource ---

  /** The resources from etcd, or (etcd unreachable) from the local cache of the last valid ones. */
  async #load(): Promise<void> {
    try {
      await this.#list()
      this.#connected = true
    } catch (err) {
      this.#lastError = (err as Error).message
      const cached = await readFile(this.#cacheFile, 'utf8').catch(() => null)
      if (cached === null) throw new Error(`etcd is unreachable (${this.#lastError}) and there is no cached config at ${this.#cacheFile}`)
      const c = JSON.parse(cached) as { revision: string; kvs: Array<[string, Kv]> }
      this.#kvs = new Map(c.kvs)
      this.#revision = c.revision
      this.#servingCache = this.#cacheFile
      this.#logger.warn({ err: this.#lastError, cache: this.#cacheFile, revision: c.revision }, 'etcd unreachable at start: serving the cached config; reconnecting')
    }
  }

  /** The first validated document. Throws when not even that validates. */
  async initial(): Promise<{ config: Config; hash: string }> {
    await this.#load()
    const b = this.#build()
    this.#report(b)
    this.#remember(b.hash)
    this.#served = this.heldPosition()
    if (this.#servingCache === null) await this.#saveCache()
    return { config: b.config, hash: b.hash }
  }

  /** The document from the resources held now; `force` (SIGHUP) lists the prefix again first. */
  async read(force: boolean): Promise<SourceRead> {
    if (force) {
      try {
        await this.#list()
      } catch (err) {
        this.#logger.warn({ err: (err as Error).message }, 'etcd resync failed; the current config keeps serving')
        return { kind: 'unchanged' }
      }
    }
    let b: Built
    try {
      b = this.#build()
    } catch (err) {
      return { kind: 'invalid', errors: [{ file: 'etcd', path: '', message: (err as Error).message }] }
    }
    this.#report(b)
    this.#remember(b.hash)
    return { kind: 'document', config: b.config, hash: b.hash }
  }

  #remember(hash: string): void {
    const kvs = [...this.#kvs.entries()]
    // The resources' own hash: the document's hash also covers this instance's bootstrap settings
    // (its listen addresses), so it differs between instances serving the same etcd state.
    const h = createHash('sha256')
    for (const [key, kv] of [...kvs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) h.update(key).update('\0').update(kv.value).update('\0')
    this.#lastRead = { hash, revision: this.#revision, resources: h.digest('hex').slice(0, 16), kvs }
  }

  served(hash: string): void {
    if (this.#lastRead?.hash !== hash) return
    this.#served = { revision: this.#lastRead.revision, resources: this.#lastRead.resources }
    void this.#saveCache()
  }

  watch(changed: (trigger: Trigger) => void): void {
    this.#changed = changed
    if (this.#servingCache !== null) this.#retry()
    else void this.#watch()
  }

  /** Events of one watch response (a transaction) arrive together: one reload request for them. */
  #signal(): void {
    if (this.#signalQueued || this.#changed === null) return
    this.#signalQueued = true
    setImmediate(() => {
      this.#signalQueued = false
      if (!this.#closed) this.#changed?.('etcd')
    })
  }

  async #list(): Promise<void> {
    const client = await this.#connect()
    const res = await withTimeout(client.getAll().prefix(this.#policy.prefix).exec(), this.#timeoutMs, 'etcd list')
    const kvs = new Map<string, Kv>()
    for (const kv of res.kvs) {
      const key = kv.key.toString()
      if (this.#isResource(key)) kvs.set(key, { value: kv.value.toString(), mod: String(kv.mod_revision) })
    }
    this.#kvs = kvs
    this.#revision = String(res.header.revision)
  }

  async #watch(): Promise<void> {
    if (this.#closed) return
    const client = await this.#connect()
    const watcher = await client.watch().prefix(this.#policy.prefix).startRevision(String(BigInt(this.#revision) + 1n)).create()
    if (this.#closed) {
      await watcher.cancel().catch(() => undefined)
      return
    }
    this.#watcher = watcher
    watcher.on('put', (kv) => {
      if (!this.#isResource(kv.key.toString())) return
      this.#kvs.set(kv.key.toString(), { value: kv.value.toString(), mod: String(kv.mod_revision) })
      this.#revision = String(kv.mod_revision)
      this.#signal()
    })
    watcher.on('delete', (kv) => {
      if (!this.#isResource(kv.key.toString())) return
      this.#kvs.delete(kv.key.toString())
      this.#revision = String(kv.mod_revision)
      this.#signal()
    })
    watcher.on('disconnected', () => {
      if (!this.#connected) return
      this.#connected = false
      this.#logger.warn({ prefix: this.#policy.prefix }, 'etcd config watch disconnected; the current config keeps serving')
    })
    watcher.on('connected', () => {
      if (this.#connected) return
      this.#connected = true
      this.#logger.info({ prefix: this.#policy.prefix, revision: this.#revision }, 'etcd config watch resumed')
    })
    // Cancelled by etcd (the revision we resume from was compacted): list everything again.
    watcher.on('error', (err) => {
      if (this.#watcher !== watcher || this.#closed) return
      this.#logger.warn({ err: String(err.message) }, 'etcd config watch lost; full reload')
      this.#watcher = null
      this.#connected = false
      void watcher.cancel().catch(() => undefined)
      this.#retry()
    })
  }

  /** List + watch again, with backoff while etcd is unreachable. */
  #retry(): void {
    if (this.#closed || this.#timer !== null) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#list()
        .then(async () => {
          this.#connected = true
          this.#retryMs = 250
          if (this.#servingCache !== null) this.#logger.info({ revision: this.#revision }, 'etcd reachable again: following it instead of the cache')
          this.#servingCache = null
          this.#signal()
          await this.#watch()
        })
        .catch((err: unknown) => {
          this.#lastError = (err as Error).message
          this.#retry()
        })
    }, this.#retryMs)
    this.#timer.unref()
    this.#retryMs = Math.min(5000, this.#retryMs * 2)
  }

  // --- document ---

  /** Settings from the file + resources from etcd (as stored; unparsable values are isolated). */
  #assemble(): { doc: Obj; unparsable: Isolated[] } {
    let doc: Obj = { ...this.#settings, upstreams: {}, routes: [], consumers: [], plugins: [] }
    const unparsable: Isolated[] = []
    const entries = [...this.#kvs.entries()].sort(([, a], [, b]) => Number(a.mod) - Number(b.mod))
    for (const [key, kv] of entries) {
      const rest = key.slice(this.#policy.prefix.length)
      const slash = rest.indexOf('/')
      const kind = rest.slice(0, slash) as Kind
      const name = rest.slice(slash + 1)
      if (slash < 0 || !KINDS.includes(kind)) continue // not a resource (list and watch keep only resources)
      let value: unknown
      try {
        value = JSON.parse(kv.value)
      } catch {
        unparsable.push({ kind, name, key, errors: [{ path: '', message: 'the value is not JSON' }] })
        continue
      }
      if (!isObj(value)) {
        unparsable.push({ kind, name, key, errors: [{ path: '', message: 'the value is not a JSON object' }] })
        continue
      }
      try {
        value = openSecrets(value, this.#envelope, `${kind}/${name}`)
      } catch (err) {
        if (!(err instanceof SealedValueError)) throw err
        unparsable.push({ kind, name, key, errors: [{ path: err.path, message: `sealed value does not open: ${err.message}` }] })
        continue
      }
      doc = put(doc, kind, name, value as Obj)
    }
    return { doc, unparsable }
  }

  /** The document with every resource that fails validation left out (and listed). */
  #build(): Built {
    const { doc: all, unparsable } = this.#assemble()
    let doc = all
    const isolated = [...unparsable]
    for (let round = 0; round < 10; round++) {
      const v = validateDocument(doc, 'etcd')
      if (v.ok) return { doc, config: v.config, hash: v.hash, isolated }
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
        isolated.push(b)
        doc = remove(doc, b.kind, b.name)
      }
    }
    throw new Error('the config center document does not validate after isolating resources')
  }

  #report(b: Built): void {
    const before = new Set(this.#isolated.map((i) => i.key))
    this.#isolated = b.isolated
    for (const kind of KINDS) isolatedResources.set({ kind }, b.isolated.filter((i) => i.kind === kind).length)
    for (const i of b.isolated) {
      if (!before.has(i.key)) this.#logger.error({ key: i.key, kind: i.kind, name: i.name, errors: i.errors }, `etcd: ${i.kind}/${i.name} fails validation; left out, the rest serves`)
    }
  }

  async #saveCache(): Promise<void> {
    if (this.#servingCache !== null) return
    const tmp = `${this.#cacheFile}.${process.pid}.tmp`
    try {
      const last = this.#lastRead
      if (last === null) return
      await writeFile(tmp, JSON.stringify({ revision: last.revision, saved_at: new Date().toISOString(), kvs: last.kvs }), { mode: 0o600 })
      await rename(tmp, this.#cacheFile)
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message, file: this.#cacheFile }, 'could not save the etcd config cache')
    }
  }

  // --- admin writes ---

  /** The resources as stored (isolated ones included), with the file's settings. */
  written(): Promise<Obj> {
    return Promise.resolve(this.#assemble().doc)
  }

  /**
   * One etcd transaction for the resources `doc` changes, each compared with the mod_revision this
   * instance holds: a concurrent write through another instance fails it (conflict). The watch
   * delivers the same keys again; the pipeline's read() then finds nothing new.
   */
  async write(doc: Obj): Promise<WriteResult> {
    const current = this.#assemble().doc
    const diff = changes(current, doc)
    const refused = settingsRefusal(diff, 'etcd')
    if (refused !== undefined) return refused
    if (diff.length === 0) return { ok: true }
    // Resources isolated before this write and not touched by it stay isolated; they do not fail it.
    const touched = new Set(diff.map((c) => `${c.kind}/${c.name}`))
    let candidate = doc
    for (const i of this.#isolated) if (!touched.has(`${i.kind}/${i.name}`)) candidate = remove(candidate, i.kind, i.name)
    const v = validateDocument(candidate)
    if (!v.ok) return { ok: false, reason: 'invalid', errors: v.errors }
    if (this.#servingCache !== null || !this.#connected) return { ok: false, reason: 'rejected', errors: [{ path: '', message: 'etcd is unreachable; nothing was written' }] }
    const client = await this.#connect()
    const keys = diff.map((c) => this.keyOf(c.kind as Kind, c.name))
    let txn = client.if(keys[0]!, 'Mod', '==', this.#kvs.get(keys[0]!)?.mod ?? 0)
    for (const key of keys.slice(1)) txn = txn.and(key, 'Mod', '==', this.#kvs.get(key)?.mod ?? 0)
    // Secret fields go to etcd sealed (with secrets configured); the document held here stays open.
    const stored = diff.map((c) => (c.op === 'delete' ? '' : JSON.stringify(this.#envelope === null ? c.after : sealSecrets(c.after, this.#envelope, `${c.kind}/${c.name}`))))
    const ops = diff.map((c, i) => (c.op === 'delete' ? client.delete().key(keys[i]!) : client.put(keys[i]!).value(stored[i]!)))
    let res
    try {
      res = await withTimeout(txn.then(...ops).commit(), this.#timeoutMs, 'etcd write')
    } catch (err) {
      const message = (err as Error).message
      // etcd validates the request's size before applying anything: a refusal here wrote nothing.
      if (/too many operations in txn request/.test(message)) {
        return {
          ok: false,
          reason: 'rejected',
          errors: [{ path: '', message: `etcd refused the write: ${diff.length} changed resources are ${diff.length} operations in one transaction, over its --max-txn-ops (128 unless the server sets more); nothing was written. Start etcd with a larger --max-txn-ops, or apply the change in parts` }],
        }
      }
      return { ok: false, reason: 'rejected', errors: [{ path: '', message: `etcd write failed: ${message}; it may or may not have been applied, read again` }] }
    }
    if (!res.succeeded) return { ok: false, reason: 'conflict', errors: [] }
    // Hold the written values at once, so the read() that follows serves them without waiting for the watch.
    const rev = String(res.header.revision)
    diff.forEach((c, i) => {
      if (c.op === 'delete') this.#kvs.delete(keys[i]!)
      else this.#kvs.set(keys[i]!, { value: stored[i]!, mod: rev })
    })
    return { ok: true }
  }

  /**
   * Seeds the prefix with the resources of `doc` (`portico migrate file-to-etcd`): the document is
   * validated whole with this instance's settings first, then written in transactions of at most
   * `batch` puts (etcd refuses more than --max-txn-ops, 128 by default, in one), global plugins and
   * upstreams first, routes last, so every state a watching instance sees in between is valid (a
   * route never arrives before its upstream). Each put compares the key's mod_revision with the
   * one listed now: a key written meanwhile by someone else stops the seed. A prefix that already
   * holds resources is refused unless `force` (then those keys are overwritten, others kept).
   * Nothing is deleted.
   */
  async seed(doc: Obj, opts: { force: boolean; dryRun: boolean; batch?: number }): Promise<SeedResult> {
    const batch = Math.max(1, Math.min(opts.batch ?? 100, 128))
    await this.#list()
    const existing = [...this.#kvs.keys()].filter((k) => this.#isResource(k))
    const resources = (['plugins', 'upstreams', 'consumers', 'routes'] as const).flatMap((kind) => list(doc, kind).map((r) => ({ kind, name: String(r.name), value: r })))
    const counts = Object.fromEntries(KINDS.map((k) => [k, resources.filter((r) => r.kind === k).length])) as Record<Kind, number>
    const result: SeedResult = { ok: false, counts, written: 0, transactions: 0, existing: existing.length, errors: [] }
    const candidate: Obj = { ...this.#settings }
    for (const kind of KINDS) candidate[kind] = doc[kind] ?? (kind === 'upstreams' ? {} : [])
    const v = validateDocument(candidate, 'file')
    if (!v.ok) return { ...result, errors: v.errors.map((e) => ({ path: e.path, message: e.message })) }
    if (existing.length > 0 && !opts.force) {
      return { ...result, errors: [{ path: '', message: `${this.#policy.prefix} already holds ${existing.length} resource(s); nothing was written. Change them with the admin API or \`portico config apply\`, or pass --force to overwrite the keys this file names` }] }
    }
    if (opts.dryRun) return { ...result, ok: true }
    const client = await this.#connect()
    for (let i = 0; i < resources.length; i += batch) {
      const part = resources.slice(i, i + batch)
      const keys = part.map((r) => this.keyOf(r.kind, r.name))
      let txn = client.if(keys[0]!, 'Mod', '==', this.#kvs.get(keys[0]!)?.mod ?? 0)
      for (const key of keys.slice(1)) txn = txn.and(key, 'Mod', '==', this.#kvs.get(key)?.mod ?? 0)
      const stored = part.map((r) => JSON.stringify(this.#envelope === null ? r.value : sealSecrets(r.value, this.#envelope, `${r.kind}/${r.name}`)))
      let res
      try {
        res = await withTimeout(txn.then(...part.map((_, k) => client.put(keys[k]!).value(stored[k]!))).commit(), this.#timeoutMs, 'etcd write')
      } catch (err) {
        return { ...result, errors: [{ path: '', message: `etcd write failed after ${result.written} of ${resources.length} resources: ${(err as Error).message}` }] }
      }
      if (!res.succeeded) {
        return { ...result, errors: [{ path: '', message: `a key of the next ${part.length} resources was written by someone else meanwhile; stopped after ${result.written} of ${resources.length}` }] }
      }
      result.written += part.length
      result.transactions++
    }
    return { ...result, ok: true }
  }

  // --- status ---

  /** For /status and /readyz. */
  status(): Obj {
    return {
      kind: 'etcd',
      prefix: this.#policy.prefix,
      connected: this.#connected,
      revision: this.#revision,
      serving_cache: this.#servingCache,
      last_error: this.#connected ? null : this.#lastError,
      isolated: this.#isolated.map((i) => ({ kind: i.kind, name: i.name, key: i.key, errors: i.errors })),
    }
  }

  readinessDetail(): string | undefined {
    if (this.#servingCache !== null) return `serving the cached config from ${this.#servingCache} (etcd unreachable at start; revision ${this.#revision})`
    if (!this.#connected) return `etcd disconnected; serving revision ${this.#revision}`
    if (this.#isolated.length > 0) return `${this.#isolated.length} resource(s) isolated: ${this.#isolated.map((i) => `${i.kind}/${i.name}`).join(', ')}`
    return undefined
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    const w = this.#watcher
    this.#watcher = null
    if (w !== null) await withTimeout(w.cancel(), 1000, 'watch cancel').catch(() => undefined)
    this.#client?.close()
    this.#client = null
  }
}
