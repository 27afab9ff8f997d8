// Apollo as the config center (docs/config-center.md), read-only: resources are edited and
// released in the Apollo portal. The HTTP API of the config service
// (https://www.apolloconfig.com/#/en/client/other-language-client-user-guide):
// - GET /configs/{appId}/{cluster}/{namespace}?releaseKey=… → 200 {configurations, releaseKey},
//   304 when the release we hold is still current, 404 for an unknown app/cluster/namespace;
// - GET /notifications/v2?appId=…&cluster=…&notifications=[{namespaceName, notificationId}] → held
//   by the server up to 60 s: 304 when nothing was released, 200 with the new notificationIds (then
//   the config is fetched again). A first poll with notificationId -1 answers at once.
// - with an access key, each request is signed: Authorization: Apollo <appId>:<Base64(HMAC-SHA1(
//   secret, timestamp + "\n" + path-with-query))> and a Timestamp header (ms).
// What the namespace holds (docs/config-center.md, "Apollo"):
// - a namespace named *.yaml, *.yml or *.json (Apollo's non-properties formats, content in the
//   `content` item): a document with routes / upstreams / consumers / plugins, as in the file;
// - any other (properties) namespace: one item per resource, key <kind>.<name>, value its JSON
//   (the etcd layout with Apollo items for keys).
// Either way each resource is validated and isolated on its own; a YAML namespace that cannot be
// parsed, or that holds settings, is refused as a whole (the current config keeps serving).
// Plain HTTP with undici: Apollo has no maintained Node client, and the two endpoints are a few lines.
import { createHmac } from 'node:crypto'
import type { Logger } from 'pino'
import { Agent, request } from 'undici'
import { LineCounter, parseDocument } from 'yaml'
import type { Config } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { KINDS, type Kind } from '../admin/resources.js'
import { backoff, badAnswer as badAnswerFrom, HttpStatusError, httpFailureReason, KeyedSource, sleep, type Entry, type KeyedChange } from './keyed.js'
import type { SourceError, WriteResult } from './source.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
export type ApolloCenterConfig = NonNullable<NonNullable<Config['config_center']>['apollo']>

/** The config service holds a notifications poll up to 60 s (Apollo's fixed server-side timeout). */
const LONG_POLL_MS = 60_000
const MIN_GAP_MS = 50

const badAnswer = (message: string): Error => badAnswerFrom('Apollo', message)

/** Apollo's signature: Base64(HMAC-SHA1(secret, timestamp + "\n" + path-with-query)). */
export function apolloSignature(timestamp: string, pathWithQuery: string, secret: string): string {
  return createHmac('sha1', secret).update(`${timestamp}\n${pathWithQuery}`).digest('base64')
}

/** The namespace's items as stored entries, or the errors that make it unusable as a whole. */
export function namespaceEntries(namespace: string, configurations: Obj): { entries: Map<string, Entry> } | { errors: SourceError[] } {
  const entries = new Map<string, Entry>()
  if (!/\.(ya?ml|json)$/.test(namespace)) {
    let order = 0
    for (const [key, value] of Object.entries(configurations)) {
      const dot = key.indexOf('.')
      if (dot < 0 || !KINDS.includes(key.slice(0, dot) as Kind)) continue // other items of a shared namespace
      entries.set(key, { value: typeof value === 'string' ? value : JSON.stringify(value), version: '', order: order++ })
    }
    return { entries }
  }
  const content = configurations.content
  if (typeof content !== 'string') return { errors: [{ file: namespace, path: '', message: 'the namespace has no `content` item (a yaml/json namespace keeps its text there)' }] }
  const lines = new LineCounter()
  const doc = parseDocument(content, { lineCounter: lines, merge: true })
  if (doc.errors.length > 0) {
    return { errors: doc.errors.map((e) => ({ file: namespace, path: '', ...(e.linePos?.[0] !== undefined ? { line: e.linePos[0].line, column: e.linePos[0].col } : {}), message: e.message.split('\n')[0]! })) }
  }
  const v: unknown = doc.toJS({ maxAliasCount: 100 })
  if (v === null || v === undefined) return { entries }
  if (!isObj(v)) return { errors: [{ file: namespace, path: '', message: 'the content is not a mapping of routes, upstreams, consumers and plugins' }] }
  const errors: SourceError[] = []
  const at = (path: Array<string | number>): { line?: number; column?: number } => {
    const node = doc.getIn(path, true) as { range?: [number, number] } | undefined
    const pos = node?.range !== undefined ? lines.linePos(node.range[0]) : undefined
    return pos === undefined ? {} : { line: pos.line, column: pos.col }
  }
  let order = 0
  for (const [section, items] of Object.entries(v)) {
    if (!KINDS.includes(section as Kind)) {
      errors.push({ file: namespace, path: section, ...at([section]), message: 'only routes, upstreams, consumers and plugins come from Apollo; settings stay in the bootstrap file' })
      continue
    }
    const kind = section as Kind
    if (kind === 'upstreams') {
      if (!isObj(items)) {
        errors.push({ file: namespace, path: kind, ...at([kind]), message: 'upstreams is a mapping of name → upstream' })
        continue
      }
      for (const [name, u] of Object.entries(items)) entries.set(`${kind}.${name}`, { value: JSON.stringify(u), version: '', order: order++ })
      continue
    }
    if (items === null) continue
    if (!Array.isArray(items)) {
      errors.push({ file: namespace, path: kind, ...at([kind]), message: `${kind} is a list` })
      continue
    }
    items.forEach((item, i) => {
      const name = isObj(item) ? item.name : undefined
      if (typeof name !== 'string' || name === '') errors.push({ file: namespace, path: `${kind}[${i}]`, ...at([kind, i]), message: 'needs a name (each resource is validated and isolated by name)' })
      else if (entries.has(`${kind}.${name}`)) errors.push({ file: namespace, path: `${kind}[${i}].name`, ...at([kind, i, 'name']), message: `duplicate name "${name}"` })
      else entries.set(`${kind}.${name}`, { value: JSON.stringify(item), version: '', order: order++ })
    })
  }
  return errors.length > 0 ? { errors } : { entries }
}

export class ApolloSource extends KeyedSource {
  readonly name = 'apollo' as const
  protected readonly label = 'Apollo'
  protected readonly location: string
  readonly #server: string
  readonly #appId: string
  readonly #cluster: string
  readonly #namespace: string
  readonly #secret: string | undefined
  readonly #ip: string | undefined
  readonly #label: string | undefined
  readonly #timeoutMs: number
  readonly #agent: Agent
  readonly #abort = new AbortController()
  #releaseKey = ''
  #notificationId = -1
  #failures = 0

  constructor(opts: { settings: Obj; policy: ApolloCenterConfig; cacheFile: string; logger: Logger }) {
    super(opts)
    const p = opts.policy
    this.#server = p.server.replace(/\/+$/, '')
    this.#appId = p.app_id
    this.#cluster = p.cluster ?? 'default'
    this.#namespace = p.namespace ?? 'portico.yaml'
    this.#secret = p.secret
    this.#ip = p.ip
    this.#label = p.label
    this.#timeoutMs = Math.max(1, parseDuration(p.timeout ?? '2s'))
    this.location = `${this.#appId}/${this.#cluster}/${this.#namespace}`
    this.#agent = new Agent({ connect: { timeout: this.#timeoutMs }, headersTimeout: LONG_POLL_MS + 30_000, bodyTimeout: this.#timeoutMs * 2, keepAliveTimeout: LONG_POLL_MS + 10_000 })
  }

  keyOf(kind: Kind, name: string): string {
    return `${kind}.${name}`
  }

  protected resourceOf(key: string): { kind: Kind; name: string } | undefined {
    const dot = key.indexOf('.')
    const kind = key.slice(0, dot) as Kind
    const name = key.slice(dot + 1)
    return dot > 0 && KINDS.includes(kind) && name !== '' ? { kind, name } : undefined
  }

  protected override readOnly(): string | undefined {
    return `Apollo is read-only for the gateway: edit and release namespace ${this.#namespace} of app ${this.#appId} in the Apollo portal`
  }

  protected commit(_changes: KeyedChange[]): Promise<WriteResult> {
    return Promise.resolve({ ok: false, reason: 'rejected', errors: [{ path: '', message: this.readOnly()! }] })
  }

  async #get(path: string, q: URLSearchParams, signal: AbortSignal): Promise<{ status: number; text: string }> {
    const qs = q.toString()
    const pathWithQuery = `${path}${qs === '' ? '' : `?${qs}`}`
    const headers: Record<string, string> = {}
    if (this.#secret !== undefined) {
      const ts = String(Date.now())
      headers.authorization = `Apollo ${this.#appId}:${apolloSignature(ts, pathWithQuery, this.#secret)}`
      headers.timestamp = ts
    }
    const res = await request(`${this.#server}${pathWithQuery}`, { dispatcher: this.#agent, signal, headers })
    const text = await res.body.text()
    return { status: res.statusCode, text }
  }

  /** The namespace's release; null when the one held is current (304). */
  async #fetch(signal: AbortSignal, releaseKey: string): Promise<{ configurations: Obj; releaseKey: string } | null> {
    const q = new URLSearchParams()
    if (releaseKey !== '') q.set('releaseKey', releaseKey)
    if (this.#ip !== undefined) q.set('ip', this.#ip)
    if (this.#label !== undefined) q.set('label', this.#label)
    const r = await this.#get(`/configs/${encodeURIComponent(this.#appId)}/${encodeURIComponent(this.#cluster)}/${encodeURIComponent(this.#namespace)}`, q, signal)
    if (r.status === 304) return null
    if (r.status === 404) throw new HttpStatusError(404, `Apollo has no namespace ${this.#namespace} for app ${this.#appId}, cluster ${this.#cluster} (HTTP 404)`)
    if (r.status !== 200) throw new HttpStatusError(r.status, `HTTP ${r.status} from Apollo: ${r.text.slice(0, 200)}`)
    const body = JSON.parse(r.text) as { configurations?: unknown; releaseKey?: unknown }
    if (!isObj(body.configurations)) throw badAnswer('no configurations object')
    return { configurations: body.configurations, releaseKey: typeof body.releaseKey === 'string' ? body.releaseKey : '' }
  }

  /** Fetches the namespace and hands what it holds over (entries, or errors refusing it as a whole). */
  async #load(signal: AbortSignal, apply: boolean): Promise<{ entries: Map<string, Entry>; position: string } | null> {
    const got = await this.#fetch(signal, apply ? this.#releaseKey : '')
    if (got === null) return null
    const parsed = namespaceEntries(this.#namespace, got.configurations)
    this.#releaseKey = got.releaseKey
    if ('errors' in parsed) {
      this.refuse(parsed.errors, got.releaseKey)
      return null
    }
    return { entries: parsed.entries, position: got.releaseKey }
  }

  protected async fetchAll(): Promise<{ entries: Map<string, Entry>; position: string }> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#timeoutMs)])
    const r = await this.#load(signal, false)
    // A namespace refused as a whole at start: initial() reports its errors.
    return r ?? { entries: new Map(this.entries), position: this.#releaseKey }
  }

  protected follow(): void {
    void this.#run()
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    while (!signal.aborted) {
      const t0 = performance.now()
      try {
        // Started from the cache: fetch the release first (the notifications may not move).
        if (this.servingCache) {
          const r = await this.#load(AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]), false)
          if (r !== null) this.replace(r.entries, r.position)
          this.ok()
        }
        const q = new URLSearchParams({ appId: this.#appId, cluster: this.#cluster, notifications: JSON.stringify([{ namespaceName: this.#namespace, notificationId: this.#notificationId }]) })
        if (this.#ip !== undefined) q.set('ip', this.#ip)
        const r = await this.#get('/notifications/v2', q, signal)
        if (signal.aborted) return
        if (r.status === 200) {
          const list = JSON.parse(r.text) as unknown
          if (!Array.isArray(list)) throw badAnswer('notifications: expected a JSON array')
          const mine = (list as Array<{ namespaceName?: unknown; notificationId?: unknown }>).find((n) => n?.namespaceName === this.#namespace)
          if (mine !== undefined && typeof mine.notificationId === 'number') {
            const fresh = await this.#load(AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]), true)
            // Only once the release is in hand: a failed fetch polls with the old id and gets it again.
            this.#notificationId = mine.notificationId
            if (fresh !== null) this.replace(fresh.entries, fresh.position)
          }
        } else if (r.status !== 304) {
          throw new HttpStatusError(r.status, `HTTP ${r.status} from Apollo notifications: ${r.text.slice(0, 200)}`)
        }
        this.#failures = 0
        this.ok()
        const gap = MIN_GAP_MS - (performance.now() - t0)
        if (gap > 0) await sleep(gap, signal)
      } catch (err) {
        if (signal.aborted) return
        this.fail(httpFailureReason(err), err)
        await sleep(backoff(++this.#failures, 200, 5_000), signal)
      }
    }
  }

  protected override statusExtra(): Record<string, unknown> {
    return { release_key: this.#releaseKey, notification_id: this.#notificationId }
  }

  protected async stop(): Promise<void> {
    this.#abort.abort()
    await this.#agent.destroy().catch(() => undefined)
  }
}
