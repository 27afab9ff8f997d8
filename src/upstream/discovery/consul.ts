// Consul discovery: GET /v1/health/service/<name>?passing, followed with blocking queries
// (https://developer.hashicorp.com/consul/api-docs/features/blocking): each answer carries
// X-Consul-Index; the next query sends index=<it>&wait=<wait> and Consul holds it open until the
// service's health changes or the wait runs out (then it answers the same index, and nothing is
// published). As the docs ask: an index that goes backwards resets to 0, an index of 0 is
// clamped to 1, and back-to-back answers are spaced by MIN_GAP_MS. Only instances whose checks
// all pass are used (`passing` asks Consul for that; each entry's checks are verified again, so
// an agent that ignores the filter cannot slip a failing instance in). Weights.Passing becomes the
// target's weight; Tags, Meta, node and datacenter go into the target's meta.
// Plain HTTP with undici, not the `consul` npm client: the one endpoint and header it needs are a
// few lines, and the client would add a dependency (and its own HTTP stack) to every worker.
import { Agent, request } from 'undici'
import type { ConsulDiscoveryConfig } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { once, type DiscoveredTarget, type DiscoverySink, type DiscoverySource } from './source.js'
import { backoff, badAnswer, byUrl, reasonOf, sleep, StatusError, Streak, targetUrl, validHost, validPort } from './watch.js'

export interface ConsulPolicy {
  servers: readonly string[]
  service: string
  dc: string | undefined
  tags: readonly string[]
  namespace: string | undefined
  token: string | undefined
  scheme: 'http' | 'https'
  waitMs: number
  timeoutMs: number
}

export function resolveConsulPolicy(c: ConsulDiscoveryConfig): ConsulPolicy {
  return {
    servers: (c.servers ?? ['http://127.0.0.1:8500']).map((s) => s.replace(/\/+$/, '')),
    service: c.service,
    dc: c.dc,
    tags: c.tags ?? [],
    namespace: c.namespace,
    token: c.token,
    scheme: c.scheme ?? 'http',
    waitMs: Math.min(600_000, Math.max(1000, parseDuration(c.wait ?? '30s'))),
    timeoutMs: Math.max(1, parseDuration(c.timeout ?? '2s')),
  }
}

const MIN_GAP_MS = 50

interface HealthEntry {
  Node?: { Node?: string; Address?: string; Datacenter?: string }
  Service?: { ID?: string; Address?: string; Port?: number; Tags?: string[] | null; Meta?: Record<string, unknown> | null; Weights?: { Passing?: number } }
  Checks?: Array<{ Status?: string }>
}

/** The targets of one /v1/health/service answer: instances whose checks all pass. */
export function parseHealth(body: unknown, scheme: string): DiscoveredTarget[] {
  if (!Array.isArray(body)) throw badAnswer('expected a JSON array of health entries')
  const out = new Map<string, DiscoveredTarget>()
  for (const e of body as HealthEntry[]) {
    const svc = e?.Service
    if (svc === undefined || svc === null) continue
    if (!Array.isArray(e.Checks) || !e.Checks.every((c) => c?.Status === 'passing')) continue
    const host = svc.Address !== undefined && svc.Address !== '' ? svc.Address : e.Node?.Address
    if (!validHost(host) || !validPort(svc.Port)) continue
    const w = svc.Weights?.Passing
    const weight = typeof w === 'number' && Number.isInteger(w) && w >= 0 ? Math.min(w, 10000) : 1
    const meta: Record<string, string> = {}
    for (const [k, v] of Object.entries(svc.Meta ?? {})) if (typeof v === 'string') meta[k] = v
    if (Array.isArray(svc.Tags) && svc.Tags.length > 0) meta.tags = svc.Tags.join(',')
    if (typeof svc.ID === 'string') meta.id = svc.ID
    if (typeof e.Node?.Node === 'string') meta.node = e.Node.Node
    if (typeof e.Node?.Datacenter === 'string') meta.dc = e.Node.Datacenter
    const url = targetUrl(scheme, host, svc.Port)
    if (!out.has(url)) out.set(url, { url, weight, meta })
  }
  return byUrl([...out.values()])
}

export class ConsulDiscovery implements DiscoverySource {
  readonly kind = 'consul'
  readonly policy: ConsulPolicy
  readonly #sink: DiscoverySink
  readonly #first = once()
  readonly #abort = new AbortController()
  readonly #streak: Streak
  #agent: Agent | null = null
  #server = 0
  #index = 0
  #started = false
  #up = false
  /** Queries answered (for tests: a blocking query returning on its wait counts too). */
  answers = 0

  constructor(policy: ConsulPolicy, sink: DiscoverySink) {
    this.policy = policy
    this.#sink = sink
    this.#streak = new Streak(sink, 'consul', { service: policy.service })
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
    const p = this.policy
    // A blocking query is held up to wait + wait/16 (Consul's jitter); past that (+ timeout) it is dead.
    this.#agent = new Agent({ connect: { timeout: p.timeoutMs }, headersTimeout: p.waitMs + Math.ceil(p.waitMs / 16) + p.timeoutMs, bodyTimeout: p.timeoutMs * 2, keepAliveTimeout: p.waitMs + 10_000 })
    void this.#run()
  }

  #url(): string {
    const p = this.policy
    const q = new URLSearchParams({ passing: 'true' })
    if (this.#index > 0) {
      q.set('index', String(this.#index))
      q.set('wait', `${Math.ceil(p.waitMs / 1000)}s`)
    }
    if (p.dc !== undefined) q.set('dc', p.dc)
    if (p.namespace !== undefined) q.set('ns', p.namespace)
    for (const t of p.tags) q.append('tag', t)
    return `${p.servers[this.#server]}/v1/health/service/${encodeURIComponent(p.service)}?${q.toString()}`
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    while (!signal.aborted) {
      const t0 = performance.now()
      try {
        const res = await request(this.#url(), { dispatcher: this.#agent!, signal, headers: this.policy.token !== undefined ? { 'x-consul-token': this.policy.token } : {} })
        const text = await res.body.text()
        if (res.statusCode !== 200) throw new StatusError(res.statusCode, `HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
        const index = Number(res.headers['x-consul-index'])
        if (!Number.isSafeInteger(index)) throw badAnswer('no X-Consul-Index header')
        const targets = parseHealth(JSON.parse(text), this.policy.scheme)
        if (signal.aborted) return
        this.answers++
        this.#up = true
        this.#streak.ok()
        const changed = index !== this.#index
        this.#index = index < this.#index ? 0 : Math.max(1, index)
        if (changed || this.answers === 1) this.#sink.setTargets(targets)
        this.#first.resolve()
        const gap = MIN_GAP_MS - (performance.now() - t0)
        if (gap > 0) await sleep(gap, signal)
      } catch (err) {
        if (signal.aborted) return
        this.#up = false
        this.#streak.fail(reasonOf(err), err)
        this.#first.resolve()
        // Another agent has its own index sequence: start over there with a plain query.
        if (this.policy.servers.length > 1) this.#server = (this.#server + 1) % this.policy.servers.length
        this.#index = 0
        await sleep(backoff(this.#streak.failures, 200, 10_000), signal)
      }
    }
  }

  async close(): Promise<void> {
    this.#abort.abort()
    this.#first.resolve()
    await this.#agent?.destroy().catch(() => undefined)
    this.#agent = null
  }
}
