// Nacos discovery over the v2 open API (https://nacos.io/en/docs/v2/guide/user/open-api/):
// GET <ctx>/v2/ns/instance/list?serviceName&groupName&namespaceId&clusterName&healthyOnly=true,
// polled every `interval`. Nacos 2 pushes changes only over its gRPC port (and Nacos 1's UDP push
// needs an inbound UDP port per worker); over HTTP the documented model is to poll the list, as
// APISIX's module does. Only instances that are healthy, enabled and of weight > 0 are used (the
// server filters with healthyOnly, and each host is checked again, also when Nacos's protection
// threshold makes it return unhealthy ones). Nacos weights are decimals: a target's weight is
// round(weight × 100), so shares are kept to 0.01. Metadata, cluster and ephemeral go into meta.
// Auth: username/password log in at <ctx>/v1/auth/login and the accessToken is sent with each
// request, renewed at 90% of its TTL or when Nacos answers 401/403; or access_key/secret_key
// sign each request (data=<ms>@@<group>@@<service>, signature=base64 HMAC-SHA1), as Nacos's
// Java client does for naming requests.
// Plain HTTP with undici, not the `nacos` npm client: that client is built around its own
// long-running SDK (and the config-centre half) for two endpoints we use.
import { createHmac } from 'node:crypto'
import { Agent, request } from 'undici'
import type { NacosDiscoveryConfig } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { once, type DiscoveredTarget, type DiscoverySink, type DiscoverySource } from './source.js'
import { backoff, badAnswer, byUrl, reasonOf, sleep, StatusError, Streak, targetUrl, validHost, validPort } from './watch.js'

export interface NacosPolicy {
  servers: readonly string[]
  contextPath: string
  service: string
  group: string
  namespace: string
  clusters: readonly string[]
  ephemeral: boolean | undefined
  username: string | undefined
  password: string | undefined
  accessKey: string | undefined
  secretKey: string | undefined
  scheme: 'http' | 'https'
  intervalMs: number
  timeoutMs: number
}

export function resolveNacosPolicy(c: NacosDiscoveryConfig): NacosPolicy {
  return {
    servers: (c.servers ?? ['http://127.0.0.1:8848']).map((s) => s.replace(/\/+$/, '')),
    contextPath: c.context_path ?? '/nacos',
    service: c.service,
    group: c.group ?? 'DEFAULT_GROUP',
    namespace: c.namespace ?? '',
    clusters: c.clusters ?? [],
    ephemeral: c.ephemeral,
    username: c.username,
    password: c.password,
    accessKey: c.access_key,
    secretKey: c.secret_key,
    scheme: c.scheme ?? 'http',
    intervalMs: Math.max(100, parseDuration(c.interval ?? '5s')),
    timeoutMs: Math.max(1, parseDuration(c.timeout ?? '2s')),
  }
}

interface NacosHost {
  ip?: string
  port?: number
  weight?: number
  healthy?: boolean
  enabled?: boolean
  ephemeral?: boolean
  clusterName?: string
  instanceId?: string
  metadata?: Record<string, unknown> | null
}

/** The targets of one instance-list answer (`{code: 0, data: {hosts: […]}}`). */
export function parseInstances(body: unknown, p: Pick<NacosPolicy, 'scheme' | 'ephemeral' | 'clusters'>): DiscoveredTarget[] {
  const b = body as { code?: unknown; message?: unknown; data?: { hosts?: unknown } }
  if (b === null || typeof b !== 'object' || b.code !== 0) throw badAnswer(`code ${String(b?.code)}: ${String(b?.message ?? '')}`.slice(0, 200))
  const hosts = b.data?.hosts
  if (!Array.isArray(hosts)) throw badAnswer('no data.hosts in the instance list')
  const out = new Map<string, DiscoveredTarget>()
  for (const h of hosts as NacosHost[]) {
    if (h?.healthy !== true || h.enabled === false) continue
    if (p.ephemeral !== undefined && h.ephemeral !== p.ephemeral) continue
    if (p.clusters.length > 0 && !p.clusters.includes(h.clusterName ?? '')) continue
    if (!validHost(h.ip) || !validPort(h.port)) continue
    const w = typeof h.weight === 'number' && Number.isFinite(h.weight) ? h.weight : 1
    if (w <= 0) continue
    const meta: Record<string, string> = {}
    for (const [k, v] of Object.entries(h.metadata ?? {})) if (typeof v === 'string') meta[k] = v
    if (typeof h.clusterName === 'string') meta.cluster = h.clusterName
    if (typeof h.ephemeral === 'boolean') meta.ephemeral = String(h.ephemeral)
    if (typeof h.instanceId === 'string') meta.id = h.instanceId
    const url = targetUrl(p.scheme, h.ip, h.port)
    if (!out.has(url)) out.set(url, { url, weight: Math.min(1_000_000, Math.max(1, Math.round(w * 100))), meta })
  }
  return byUrl([...out.values()])
}

export class NacosDiscovery implements DiscoverySource {
  readonly kind = 'nacos'
  readonly policy: NacosPolicy
  readonly #sink: DiscoverySink
  readonly #first = once()
  readonly #abort = new AbortController()
  readonly #streak: Streak
  #agent: Agent | null = null
  #server = 0
  #token: { value: string; renewAt: number } | null = null
  #started = false
  #up = false
  /** Lists fetched (for tests). */
  answers = 0

  constructor(policy: NacosPolicy, sink: DiscoverySink) {
    this.policy = policy
    this.#sink = sink
    this.#streak = new Streak(sink, 'nacos', { service: policy.service, group: policy.group, namespace: policy.namespace })
  }

  get firstAttempt(): Promise<void> {
    return this.#first.promise
  }

  healthy(): boolean {
    return this.#up
  }

  start(): void {
    if (this.#started || this.#abort.signal.aborted) return
    this.#started = true
    const t = this.policy.timeoutMs
    this.#agent = new Agent({ connect: { timeout: t }, headersTimeout: t, bodyTimeout: t })
    void this.#run()
  }

  get #base(): string {
    return `${this.policy.servers[this.#server]}${this.policy.contextPath}`
  }

  async #login(): Promise<string> {
    const p = this.policy
    if (this.#token !== null && performance.now() < this.#token.renewAt) return this.#token.value
    const res = await request(`${this.#base}/v1/auth/login`, {
      method: 'POST',
      dispatcher: this.#agent!,
      signal: this.#abort.signal,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: p.username!, password: p.password ?? '' }).toString(),
    })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new StatusError(res.statusCode === 400 || res.statusCode === 401 ? 403 : res.statusCode, `login: HTTP ${res.statusCode}`)
    const o = JSON.parse(text) as { accessToken?: unknown; tokenTtl?: unknown }
    if (typeof o.accessToken !== 'string' || o.accessToken === '') throw badAnswer('login answer without accessToken')
    const ttl = typeof o.tokenTtl === 'number' && o.tokenTtl > 0 ? o.tokenTtl : 18_000
    this.#token = { value: o.accessToken, renewAt: performance.now() + ttl * 900 }
    return o.accessToken
  }

  async #list(): Promise<DiscoveredTarget[]> {
    const p = this.policy
    const q = new URLSearchParams({ serviceName: p.service, groupName: p.group, namespaceId: p.namespace, healthyOnly: 'true' })
    if (p.clusters.length > 0) q.set('clusterName', p.clusters.join(','))
    if (p.username !== undefined) q.set('accessToken', await this.#login())
    if (p.accessKey !== undefined) {
      const data = `${Date.now()}@@${p.group}@@${p.service}`
      q.set('ak', p.accessKey)
      q.set('data', data)
      q.set('signature', createHmac('sha1', p.secretKey ?? '').update(data).digest('base64'))
    }
    const res = await request(`${this.#base}/v2/ns/instance/list?${q.toString()}`, { dispatcher: this.#agent!, signal: this.#abort.signal })
    const text = await res.body.text()
    if (res.statusCode !== 200) {
      if (res.statusCode === 401 || res.statusCode === 403) this.#token = null // log in again next time
      throw new StatusError(res.statusCode, `HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
    }
    return parseInstances(JSON.parse(text), p)
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    while (!signal.aborted) {
      let delay = this.policy.intervalMs
      try {
        let targets: DiscoveredTarget[]
        try {
          targets = await this.#list()
        } catch (err) {
          // An expired token: one fresh login and one more try before it counts as a failure.
          if (!(err instanceof StatusError && err.reason === 'auth' && this.policy.username !== undefined) || signal.aborted) throw err
          targets = await this.#list()
        }
        if (signal.aborted) return
        this.answers++
        this.#up = true
        this.#streak.ok()
        this.#sink.setTargets(targets)
        this.#first.resolve()
      } catch (err) {
        if (signal.aborted) return
        this.#up = false
        this.#streak.fail(reasonOf(err), err)
        this.#first.resolve()
        if (this.policy.servers.length > 1) this.#server = (this.#server + 1) % this.policy.servers.length
        this.#token = null
        delay = Math.min(this.policy.intervalMs, backoff(this.#streak.failures, 200, 10_000))
      }
      await sleep(delay, signal)
    }
  }

  async close(): Promise<void> {
    this.#abort.abort()
    this.#first.resolve()
    await this.#agent?.destroy().catch(() => undefined)
    this.#agent = null
  }
}
