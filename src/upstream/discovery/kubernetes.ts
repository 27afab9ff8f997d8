// Kubernetes discovery: the EndpointSlices of a Service (discovery.k8s.io/v1, label
// kubernetes.io/service-name=<service>), listed and then watched from the list's resourceVersion
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).
// The watch is a stream of JSON lines {type: ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, object}; it is
// re-opened from the last resourceVersion seen when the server ends it (timeoutSeconds), and the
// slices are listed again when that version is too old (410 Gone). Only endpoints whose
// conditions.ready is not false are used (the API: "a nil value should be interpreted as
// ready"; terminating endpoints are not ready), one target per endpoint on its first address and
// the slice's port named `port`. Zone, node and pod go into meta. While the API server is
// unreachable or refuses us, the last known targets keep serving.
// Credentials: in-cluster (the service account's token, re-read for every list and watch since
// projected tokens rotate, and CA at the standard paths, overridable), or a kubeconfig file
// (context → cluster server, CA, client certificate or token; exec plugins are not supported).
// A small client on undici, not @kubernetes/client-node: that package pulls in a dozen
// dependencies (its own HTTP and WebSocket stacks, openid-client, js-yaml, tar-fs, …) and wants
// a newer undici than ours; every worker would load it for two GET requests.
import { readFile } from 'node:fs/promises'
import { dirname, resolve as resolvePath } from 'node:path'
import { Agent, request } from 'undici'
import type { KubernetesDiscoveryConfig } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { once, type DiscoveredTarget, type DiscoverySink, type DiscoverySource } from './source.js'
import { backoff, badAnswer, byUrl, reasonOf, sleep, StatusError, Streak, targetUrl, validHost } from './watch.js'

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'
/** Server-side watch duration; the watch is then re-opened from the last resourceVersion. */
const WATCH_SECONDS = 290

export interface KubernetesPolicy {
  service: string
  namespace: string | undefined
  port: string | number | undefined
  kubeconfig: string | undefined
  context: string | undefined
  apiServer: string | undefined
  tokenFile: string
  caFile: string
  scheme: 'http' | 'https'
  timeoutMs: number
}

export function resolveKubernetesPolicy(c: KubernetesDiscoveryConfig): KubernetesPolicy {
  return {
    service: c.service,
    namespace: c.namespace,
    port: c.port,
    kubeconfig: c.kubeconfig,
    context: c.context,
    apiServer: c.api_server,
    tokenFile: c.token_file ?? `${SA_DIR}/token`,
    caFile: c.ca_file ?? `${SA_DIR}/ca.crt`,
    scheme: c.scheme ?? 'http',
    timeoutMs: Math.max(1, parseDuration(c.timeout ?? '5s')),
  }
}

/** Where the API server is and how to authenticate to it. */
export interface ApiAccess {
  server: string
  namespace: string
  tls: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized: boolean; servername?: string }
  /** The Authorization header value, fetched anew for each request (a token file may rotate). */
  auth(): Promise<string | undefined>
}

const b64 = (s: unknown): Buffer | undefined => (typeof s === 'string' ? Buffer.from(s, 'base64') : undefined)

export async function loadAccess(p: KubernetesPolicy, env: NodeJS.ProcessEnv = process.env): Promise<ApiAccess> {
  if (p.kubeconfig === undefined) {
    let server = p.apiServer
    if (server === undefined) {
      const host = env.KUBERNETES_SERVICE_HOST
      const port = env.KUBERNETES_SERVICE_PORT ?? '443'
      if (host === undefined || host === '') throw new Error('not in a cluster (no KUBERNETES_SERVICE_HOST); set api_server or kubeconfig')
      server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`
    }
    const ca = server.startsWith('https:') ? await readFile(p.caFile) : undefined
    const ns = p.namespace ?? (await readFile(`${dirname(p.tokenFile)}/namespace`, 'utf8').then((s) => s.trim(), () => 'default'))
    return {
      server: server.replace(/\/+$/, ''),
      namespace: ns,
      tls: { ...(ca !== undefined ? { ca } : {}), rejectUnauthorized: true },
      auth: async () => `Bearer ${(await readFile(p.tokenFile, 'utf8')).trim()}`,
    }
  }
  const { parse } = await import('yaml')
  const file = p.kubeconfig
  const base = dirname(file)
  const doc = parse(await readFile(file, 'utf8')) as Record<string, unknown> | null
  const named = (list: unknown, name: unknown, what: string): Record<string, unknown> => {
    const e = Array.isArray(list) ? (list as Array<Record<string, unknown>>).find((x) => x?.name === name) : undefined
    const v = e?.[what]
    if (v === null || typeof v !== 'object') throw new Error(`kubeconfig ${file}: no ${what} named ${String(name)}`)
    return v as Record<string, unknown>
  }
  const ctxName = p.context ?? doc?.['current-context']
  const ctx = named(doc?.contexts, ctxName, 'context')
  const cluster = named(doc?.clusters, ctx.cluster, 'cluster')
  const user = ctx.user === undefined ? {} : named(doc?.users, ctx.user, 'user')
  if (user.exec !== undefined || user['auth-provider'] !== undefined) throw new Error(`kubeconfig ${file}: exec and auth-provider credentials are not supported; use a token, tokenFile or client certificate`)
  const fileOr = async (data: unknown, path: unknown): Promise<Buffer | undefined> =>
    b64(data) ?? (typeof path === 'string' ? await readFile(resolvePath(base, path)) : undefined)
  if (typeof cluster.server !== 'string' || !/^https?:\/\//.test(cluster.server)) throw new Error(`kubeconfig ${file}: cluster without an http(s) server`)
  const ca = await fileOr(cluster['certificate-authority-data'], cluster['certificate-authority'])
  const cert = await fileOr(user['client-certificate-data'], user['client-certificate'])
  const key = await fileOr(user['client-key-data'], user['client-key'])
  const token = typeof user.token === 'string' ? user.token : undefined
  const tokenFile = typeof user.tokenFile === 'string' ? resolvePath(base, user.tokenFile) : undefined
  const basic = typeof user.username === 'string' ? `Basic ${Buffer.from(`${user.username}:${String(user.password ?? '')}`).toString('base64')}` : undefined
  return {
    server: cluster.server.replace(/\/+$/, ''),
    namespace: p.namespace ?? (typeof ctx.namespace === 'string' ? ctx.namespace : 'default'),
    tls: {
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
      ...(typeof cluster['tls-server-name'] === 'string' ? { servername: cluster['tls-server-name'] } : {}),
    },
    auth: async () => (token !== undefined ? `Bearer ${token}` : tokenFile !== undefined ? `Bearer ${(await readFile(tokenFile, 'utf8')).trim()}` : basic),
  }
}

interface Slice {
  metadata?: { name?: string; resourceVersion?: string }
  addressType?: string
  ports?: Array<{ name?: string; port?: number }> | null
  endpoints?: Array<{
    addresses?: string[]
    conditions?: { ready?: boolean | null }
    nodeName?: string
    zone?: string
    targetRef?: { kind?: string; name?: string }
  }> | null
}

/** The targets of a set of slices: ready endpoints, on the chosen port. */
export function sliceTargets(slices: Iterable<Slice>, port: string | number | undefined, scheme: string): DiscoveredTarget[] {
  const out = new Map<string, DiscoveredTarget>()
  for (const s of slices) {
    const ports = s.ports ?? []
    const sp =
      port === undefined ? (ports.length === 1 ? ports[0] : undefined) : typeof port === 'number' ? ports.find((x) => x.port === port) : ports.find((x) => x.name === port)
    const num = sp?.port
    if (typeof num !== 'number' || num < 1 || num > 65535) continue
    for (const e of s.endpoints ?? []) {
      if (e?.conditions?.ready === false) continue
      const addr = e.addresses?.[0]
      if (!validHost(addr)) continue
      const meta: Record<string, string> = {}
      if (typeof e.zone === 'string') meta.zone = e.zone
      if (typeof e.nodeName === 'string') meta.node = e.nodeName
      if (e.targetRef?.kind === 'Pod' && typeof e.targetRef.name === 'string') meta.pod = e.targetRef.name
      const url = targetUrl(scheme, addr, num)
      if (!out.has(url)) out.set(url, { url, weight: 1, meta })
    }
  }
  return byUrl([...out.values()])
}

class Gone extends Error {}

export class KubernetesDiscovery implements DiscoverySource {
  readonly kind = 'kubernetes'
  readonly policy: KubernetesPolicy
  readonly #sink: DiscoverySink
  readonly #first = once()
  readonly #abort = new AbortController()
  readonly #streak: Streak
  readonly #slices = new Map<string, Slice>()
  #access: ApiAccess | null = null
  #agent: Agent | null = null
  #rv = ''
  #started = false
  #watching = false
  /** Lists and watch (re)opens (for tests). */
  lists = 0
  watches = 0

  constructor(policy: KubernetesPolicy, sink: DiscoverySink, readonly env: NodeJS.ProcessEnv = process.env) {
    this.policy = policy
    this.#sink = sink
    this.#streak = new Streak(sink, 'kubernetes', { service: policy.service, namespace: policy.namespace })
  }

  get firstAttempt(): Promise<void> {
    return this.#first.promise
  }

  healthy(): boolean {
    return this.#watching
  }

  start(): void {
    if (this.#started || this.#abort.signal.aborted) return
    this.#started = true
    void this.#run()
  }

  #path(watch: boolean): string {
    const q = new URLSearchParams({ labelSelector: `kubernetes.io/service-name=${this.policy.service}` })
    if (watch) {
      q.set('watch', 'true')
      q.set('resourceVersion', this.#rv)
      q.set('allowWatchBookmarks', 'true')
      q.set('timeoutSeconds', String(WATCH_SECONDS))
    }
    return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(this.#access!.namespace)}/endpointslices?${q.toString()}`
  }

  async #get(watch: boolean) {
    const auth = await this.#access!.auth()
    const res = await request(`${this.#access!.server}${this.#path(watch)}`, {
      dispatcher: this.#agent!,
      signal: this.#abort.signal,
      headers: { accept: 'application/json', ...(auth !== undefined ? { authorization: auth } : {}) },
    })
    if (res.statusCode === 410) {
      await res.body.dump()
      throw new Gone('resourceVersion too old')
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text()
      throw new StatusError(res.statusCode, `HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
    }
    return res
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    const p = this.policy
    let needList = true
    while (!signal.aborted) {
      try {
        if (this.#access === null) {
          this.#access = await loadAccess(p, this.env)
          this.#agent = new Agent({ connect: { timeout: p.timeoutMs, ...this.#access.tls }, headersTimeout: p.timeoutMs, bodyTimeout: (WATCH_SECONDS + 30) * 1000 })
        }
        if (needList) {
          const res = await this.#get(false)
          const list = JSON.parse(await res.body.text()) as { metadata?: { resourceVersion?: string }; items?: Slice[] }
          if (!Array.isArray(list.items) || typeof list.metadata?.resourceVersion !== 'string') throw badAnswer('not an EndpointSliceList')
          if (signal.aborted) return
          this.#slices.clear()
          for (const s of list.items) this.#slices.set(s.metadata?.name ?? '', s)
          this.#rv = list.metadata.resourceVersion
          this.lists++
          needList = false
          this.#publish()
          this.#streak.ok()
          this.#first.resolve()
        }
        const t0 = performance.now()
        await this.#watch()
        // The server ended the watch (timeoutSeconds): open it again from where we are; one that
        // keeps ending at once (a proxy cutting streams) is not re-opened in a tight loop.
        if (performance.now() - t0 < 1000) await sleep(500, signal)
      } catch (err) {
        if (signal.aborted) return
        this.#watching = false
        if (err instanceof Gone) {
          needList = true
          continue
        }
        this.#streak.fail(this.#access === null ? 'unreachable' : reasonOf(err), err)
        this.#first.resolve()
        if (err instanceof StatusError && err.reason === 'auth') needList = true
        await sleep(backoff(this.#streak.failures, 200, 10_000), signal)
      }
    }
  }

  async #watch(): Promise<void> {
    const res = await this.#get(true)
    this.#watching = true
    this.watches++
    this.#streak.ok()
    let buf = ''
    for await (const chunk of res.body) {
      buf += (chunk as Buffer).toString('utf8')
      let nl: number
      let changed = false
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim()
        buf = buf.slice(nl + 1)
        if (line === '') continue
        const ev = JSON.parse(line) as { type?: string; object?: Slice & { code?: number; message?: string } }
        const obj = ev.object
        if (ev.type === 'ERROR') {
          if (obj?.code === 410) throw new Gone(obj.message ?? 'expired')
          throw new StatusError(obj?.code ?? 500, `watch error: ${obj?.message ?? ''}`)
        }
        const rv = obj?.metadata?.resourceVersion
        if (typeof rv === 'string') this.#rv = rv
        const name = obj?.metadata?.name ?? ''
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED') {
          this.#slices.set(name, obj!)
          changed = true
        } else if (ev.type === 'DELETED') {
          changed = this.#slices.delete(name) || changed
        }
      }
      if (changed) this.#publish()
    }
    this.#watching = false
  }

  #publish(): void {
    if (this.#abort.signal.aborted) return
    this.#sink.setTargets(sliceTargets(this.#slices.values(), this.policy.port, this.policy.scheme))
  }

  async close(): Promise<void> {
    this.#abort.abort()
    this.#first.resolve()
    await this.#agent?.destroy().catch(() => undefined)
    this.#agent = null
  }
}
