// Consul KV as the config center (docs/config-center.md). The etcd source's layout: one key per
// resource, <prefix><kind>/<name>, value = the resource as JSON. The prefix is read with
// GET /v1/kv/<prefix>?recurse and followed with blocking queries
// (https://developer.hashicorp.com/consul/api-docs/features/blocking): each answer carries
// X-Consul-Index; the next query sends index=<it>&wait=<wait> and Consul holds it until something
// under the prefix changes or the wait runs out (then the same index comes back and nothing is
// reloaded). The docs' index rules: an index that goes backwards (a restored or replaced cluster)
// resets to 0, so the next query is a plain read; an index of 0 is clamped to 1 so a query never
// spins; answers are spaced by MIN_GAP_MS. A prefix that goes empty together with the index going
// backwards looks like a wiped or different cluster, not an edit: it is not applied (the current
// config keeps serving) until the prefix holds resources again or SIGHUP forces a read.
// Admin writes are compare-and-set on each key's ModifyIndex: one change is
// PUT/DELETE /v1/kv/<key>?cas=<ModifyIndex> (cas=0: only if the key does not exist yet), several
// are one /v1/txn with `cas` / `delete-cas` verbs (all or none, as etcd's transaction).
// Plain HTTP with undici, not the `consul` npm client: a handful of endpoints and one header, and
// the same client stack (timeouts, pools) as the rest of the gateway; the discovery source does the same.
import { Agent, request } from 'undici'
import type { Config } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { KINDS, type Kind } from '../admin/resources.js'
import { backoff, badAnswer as badAnswerFrom, HttpStatusError, httpFailureReason, errText, KeyedSource, sleep, type Entry, type KeyedChange } from './keyed.js'
import type { WriteResult } from './source.js'

type Obj = Record<string, unknown>
export type ConsulCenterConfig = NonNullable<NonNullable<Config['config_center']>['consul']>

const MIN_GAP_MS = 50
/** Consul's limit on operations in one transaction. */
const TXN_MAX_OPS = 64

const badAnswer = (message: string): Error => badAnswerFrom('Consul', message)

/**
 * The next index to block on, by the blocking-query docs: backwards → 0 (read everything again
 * without blocking), otherwise the answer's index, at least 1.
 */
export function nextIndex(held: number, answered: number): number {
  if (answered < held) return 0
  return Math.max(1, answered)
}

interface KvEntry {
  Key?: string
  Value?: string | null
  ModifyIndex?: number
  CreateIndex?: number
}

export class ConsulSource extends KeyedSource {
  readonly name = 'consul' as const
  protected readonly label = 'Consul'
  protected readonly location: string
  readonly #servers: string[]
  readonly #prefix: string
  readonly #dc: string | undefined
  readonly #token: string | undefined
  readonly #waitMs: number
  readonly #timeoutMs: number
  readonly #agent: Agent
  readonly #abort = new AbortController()
  #server = 0
  #index = 0
  /** The highest index this cluster answered with; an answer below it means the cluster went backwards. */
  #seen = 0
  #failures = 0
  /** An empty answer after the index went backwards was not applied. */
  #suspect = false
  /** Blocking queries answered (a wait that ran out counts too). */
  answers = 0

  constructor(opts: { settings: Obj; policy: ConsulCenterConfig; cacheFile: string; logger: import('pino').Logger }) {
    super(opts)
    const p = opts.policy
    this.#servers = (p.servers ?? ['http://127.0.0.1:8500']).map((s) => s.replace(/\/+$/, ''))
    this.#prefix = p.prefix ?? 'portico/'
    this.#dc = p.dc
    this.#token = p.token
    this.#waitMs = Math.min(600_000, Math.max(1000, parseDuration(p.wait ?? '30s')))
    this.#timeoutMs = Math.max(1, parseDuration(p.timeout ?? '2s'))
    this.location = `${this.#prefix}${p.dc === undefined ? '' : ` (dc ${p.dc})`}`
    // A blocking query is held up to wait + wait/16 (Consul's jitter); past that (+ timeout) it is dead.
    this.#agent = new Agent({
      connect: { timeout: this.#timeoutMs },
      headersTimeout: this.#waitMs + Math.ceil(this.#waitMs / 16) + this.#timeoutMs,
      bodyTimeout: this.#timeoutMs * 2,
      keepAliveTimeout: this.#waitMs + 10_000,
    })
  }

  keyOf(kind: Kind, name: string): string {
    return `${this.#prefix}${kind}/${name}`
  }

  protected resourceOf(key: string): { kind: Kind; name: string } | undefined {
    if (!key.startsWith(this.#prefix)) return undefined
    const rest = key.slice(this.#prefix.length)
    const slash = rest.indexOf('/')
    const kind = rest.slice(0, slash) as Kind
    const name = rest.slice(slash + 1)
    // Folders (keys ending in /) and other keys under the prefix are not resources.
    if (slash < 0 || !KINDS.includes(kind) || name === '' || name.includes('/')) return undefined
    return { kind, name }
  }

  #headers(): Record<string, string> {
    return this.#token !== undefined ? { 'x-consul-token': this.#token } : {}
  }

  #kvUrl(path: string, q: URLSearchParams): string {
    if (this.#dc !== undefined) q.set('dc', this.#dc)
    const qs = q.toString()
    return `${this.#servers[this.#server]}/v1/${path}${qs === '' ? '' : `?${qs}`}`
  }

  /** One read of the prefix: blocking when `index` > 0. */
  async #list(index: number, signal: AbortSignal): Promise<{ entries: Map<string, Entry>; index: number }> {
    const q = new URLSearchParams({ recurse: 'true' })
    if (index > 0) {
      q.set('index', String(index))
      q.set('wait', `${Math.ceil(this.#waitMs / 1000)}s`)
    }
    const res = await request(this.#kvUrl(`kv/${encodeKey(this.#prefix)}`, q), { dispatcher: this.#agent, signal, headers: this.#headers() })
    const text = await res.body.text()
    // 404: nothing under the prefix (Consul's answer for an empty listing, with its index).
    if (res.statusCode !== 200 && res.statusCode !== 404) throw new HttpStatusError(res.statusCode, `HTTP ${res.statusCode} from Consul: ${text.slice(0, 200)}`)
    const answered = Number(res.headers['x-consul-index'])
    if (!Number.isSafeInteger(answered) || answered < 0) throw badAnswer('no X-Consul-Index header')
    const entries = new Map<string, Entry>()
    if (res.statusCode === 200) {
      const body = JSON.parse(text) as unknown
      if (!Array.isArray(body)) throw badAnswer('expected a JSON array of KV entries')
      for (const e of body as KvEntry[]) {
        if (typeof e?.Key !== 'string' || this.resourceOf(e.Key) === undefined) continue
        const value = typeof e.Value === 'string' ? Buffer.from(e.Value, 'base64').toString('utf8') : ''
        entries.set(e.Key, { value, version: String(e.ModifyIndex ?? 0), order: Number(e.CreateIndex ?? 0) })
      }
    }
    return { entries, index: answered }
  }

  protected async fetchAll(): Promise<{ entries: Map<string, Entry>; position: string }> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#timeoutMs)])
    const r = await this.#list(0, signal)
    if (r.index >= this.#index) this.#index = nextIndex(this.#index, r.index)
    this.#seen = Math.max(this.#seen, r.index)
    return { entries: r.entries, position: String(r.index) }
  }

  protected follow(): void {
    void this.#run()
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    // Started from the cache: its index is what this cluster was at.
    if (this.servingCache) this.#seen = Number(this.position) || 0
    while (!signal.aborted) {
      const t0 = performance.now()
      try {
        // While the cache serves (Consul was down at start), the first query is a plain read.
        const held = this.servingCache ? 0 : this.#index
        const r = await this.#list(held, signal)
        if (signal.aborted) return
        this.answers++
        this.#failures = 0
        // Against the highest index seen, not the one held: after an outage the held one is 0.
        const backwards = r.index < this.#seen
        const wiped = r.entries.size === 0 && this.entries.size > 0 && (backwards || this.#suspect)
        if (wiped) {
          if (!this.#suspect) this.logger.error({ prefix: this.#prefix, index: r.index, held }, 'Consul: the prefix is empty and the index went backwards (a wiped or different cluster?); the current config keeps serving until it holds resources again or SIGHUP')
          this.#suspect = true
        } else {
          this.#suspect = false
          if (r.index !== held || held === 0) this.replace(r.entries, String(r.index))
        }
        this.ok()
        this.#seen = r.index
        this.#index = wiped ? Math.max(1, r.index) : nextIndex(held, r.index)
        const gap = MIN_GAP_MS - (performance.now() - t0)
        if (gap > 0) await sleep(gap, signal)
      } catch (err) {
        if (signal.aborted) return
        this.#failures++
        this.fail(httpFailureReason(err), err)
        // Another agent has its own index sequence, and the one we held may be gone: read plainly.
        if (this.#servers.length > 1) this.#server = (this.#server + 1) % this.#servers.length
        this.#index = 0
        await sleep(backoff(this.#failures, 200, 5_000), signal)
      }
    }
  }

  protected override statusExtra(): Record<string, unknown> {
    return { server: this.#servers[this.#server], index: this.#index, ...(this.#suspect ? { suspect_empty: true } : {}) }
  }

  // --- writes ---

  protected async commit(changes: KeyedChange[]): Promise<WriteResult> {
    if (changes.length > TXN_MAX_OPS) {
      return { ok: false, reason: 'rejected', errors: [{ path: '', message: `${changes.length} resources in one write; a Consul transaction takes at most ${TXN_MAX_OPS}: apply them in parts` }] }
    }
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#timeoutMs)])
    let applied: boolean
    try {
      applied = changes.length === 1 ? await this.#casOne(changes[0]!, signal) : await this.#txn(changes, signal)
    } catch (err) {
      if (err instanceof HttpStatusError && (err.status === 401 || err.status === 403)) {
        return { ok: false, reason: 'rejected', errors: [{ path: '', message: `Consul refused the write (HTTP ${err.status}): the token needs key write on ${this.#prefix}` }] }
      }
      return { ok: false, reason: 'rejected', errors: [{ path: '', message: `Consul write failed: ${errText(err)}; it may or may not have been applied, read again` }] }
    }
    if (!applied) return { ok: false, reason: 'conflict', errors: [] }
    // Hold what was written at once (the pipeline's read() follows); the new ModifyIndexes come
    // from a read of the prefix, so a next write compares against them and not a stale one.
    try {
      const r = await this.fetchAll()
      this.replace(r.entries, r.position, { signal: false })
    } catch {
      for (const c of changes) this.hold(c.key, c.op === 'delete' ? undefined : { value: c.value!, version: '-1', order: Number.MAX_SAFE_INTEGER })
    }
    return { ok: true }
  }

  async #casOne(c: KeyedChange, signal: AbortSignal): Promise<boolean> {
    const q = new URLSearchParams({ cas: c.version ?? '0' })
    const res = await request(this.#kvUrl(`kv/${encodeKey(c.key)}`, q), {
      method: c.op === 'delete' ? 'DELETE' : 'PUT',
      dispatcher: this.#agent,
      signal,
      headers: { ...this.#headers(), 'content-type': 'application/json' },
      ...(c.op === 'put' ? { body: c.value } : {}),
    })
    const text = (await res.body.text()).trim()
    if (res.statusCode !== 200) throw new HttpStatusError(res.statusCode, `HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
    return text === 'true'
  }

  async #txn(changes: KeyedChange[], signal: AbortSignal): Promise<boolean> {
    const ops = changes.map((c) =>
      c.op === 'delete'
        ? { KV: { Verb: 'delete-cas', Key: c.key, Index: Number(c.version ?? 0) } }
        : { KV: { Verb: 'cas', Key: c.key, Value: Buffer.from(c.value!, 'utf8').toString('base64'), Index: Number(c.version ?? 0) } },
    )
    const res = await request(this.#kvUrl('txn', new URLSearchParams()), { method: 'PUT', dispatcher: this.#agent, signal, headers: { ...this.#headers(), 'content-type': 'application/json' }, body: JSON.stringify(ops) })
    const text = await res.body.text()
    // 409: rolled back, one of the compare-and-sets failed (the Errors list says which).
    if (res.statusCode === 409) return false
    if (res.statusCode !== 200) throw new HttpStatusError(res.statusCode, `HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
    return true
  }

  protected async stop(): Promise<void> {
    this.#abort.abort()
    await this.#agent.destroy().catch(() => undefined)
  }
}

/** A KV key in a URL path: each segment percent-encoded, the slashes kept. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/')
}
