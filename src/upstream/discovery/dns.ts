// DNS discovery: A / AAAA (one target per address, on the configured port) or SRV (one target per
// record of the lowest priority, on its port, weighted by its weight). The name is re-resolved
// when the answer's TTL runs out, clamped to [min_ttl, max_ttl]; node:dns returns no TTL for SRV,
// so SRV uses default_ttl. A failed or empty resolution keeps the last known targets (a DNS hiccup
// must not empty a pool) and is retried after min_ttl, doubling up to max_ttl. Queries go through
// node:dns (c-ares), i.e. real DNS: /etc/hosts is not consulted.
import { promises as dns } from 'node:dns'
import type { DnsDiscoveryConfig } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { once, type DiscoveredTarget, type DiscoverySink, type DiscoverySource } from './source.js'

export interface DnsPolicy {
  name: string
  record: 'A' | 'AAAA' | 'A+AAAA' | 'SRV'
  port: number
  scheme: 'http' | 'https'
  weight: number
  servers: readonly string[]
  minTtlMs: number
  maxTtlMs: number
  defaultTtlMs: number
  timeoutMs: number
}

export function resolveDnsPolicy(c: DnsDiscoveryConfig): DnsPolicy {
  const minTtlMs = Math.max(100, parseDuration(c.min_ttl ?? '1s'))
  return {
    name: c.name,
    record: c.record ?? 'A',
    port: c.port ?? 0,
    scheme: c.scheme ?? 'http',
    weight: c.weight ?? 1,
    servers: c.servers ?? [],
    minTtlMs,
    maxTtlMs: Math.max(minTtlMs, parseDuration(c.max_ttl ?? '5m')),
    defaultTtlMs: parseDuration(c.default_ttl ?? '30s'),
    timeoutMs: Math.max(1, parseDuration(c.timeout ?? '2s')),
  }
}

/** The part of node:dns's promise Resolver we use; tests may pass their own. */
export interface DnsResolver {
  resolve4(name: string, opts: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>
  resolve6(name: string, opts: { ttl: true }): Promise<Array<{ address: string; ttl: number }>>
  resolveSrv(name: string): Promise<Array<{ name: string; port: number; priority: number; weight: number }>>
}

export interface Resolution {
  targets: DiscoveredTarget[]
  /** Seconds from the answer, or undefined when it carries none (SRV). */
  ttl: number | undefined
}

export function clampTtl(p: DnsPolicy, ttlSeconds: number | undefined): number {
  const ms = ttlSeconds === undefined ? p.defaultTtlMs : ttlSeconds * 1000
  return Math.min(p.maxTtlMs, Math.max(p.minTtlMs, ms))
}

/** One resolution of the policy's name. Rejects when nothing could be resolved or the answer is empty. */
export async function resolveOnce(p: DnsPolicy, r: DnsResolver): Promise<Resolution> {
  if (p.record === 'SRV') {
    const recs = await r.resolveSrv(p.name)
    if (recs.length === 0) throw Object.assign(new Error('empty SRV answer'), { code: 'ENODATA' })
    const best = Math.min(...recs.map((x) => x.priority))
    const targets = recs
      .filter((x) => x.priority === best)
      .map((x) => ({ url: `${p.scheme}://${x.name.replace(/\.$/, '')}:${x.port}`, weight: x.weight > 0 ? Math.min(x.weight, 10000) : 1 }))
    return { targets: dedupe(targets), ttl: undefined }
  }
  const answers: Array<{ address: string; ttl: number; v6: boolean }> = []
  let firstErr: unknown
  const ask = async (v6: boolean) => {
    try {
      const recs = v6 ? await r.resolve6(p.name, { ttl: true }) : await r.resolve4(p.name, { ttl: true })
      for (const x of recs) answers.push({ ...x, v6 })
    } catch (err) {
      firstErr ??= err
    }
  }
  if (p.record === 'A+AAAA') await Promise.all([ask(false), ask(true)])
  else await ask(p.record === 'AAAA')
  if (answers.length === 0) throw firstErr ?? Object.assign(new Error('empty answer'), { code: 'ENODATA' })
  const targets = answers.map((a) => ({ url: `${p.scheme}://${a.v6 ? `[${a.address}]` : a.address}:${p.port}`, weight: p.weight }))
  return { targets: dedupe(targets), ttl: Math.min(...answers.map((a) => a.ttl)) }
}

function dedupe(list: DiscoveredTarget[]): DiscoveredTarget[] {
  const seen = new Map<string, DiscoveredTarget>()
  for (const t of list) if (!seen.has(t.url)) seen.set(t.url, t)
  return [...seen.values()].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0))
}

export function systemResolver(p: DnsPolicy): DnsResolver {
  const r = new dns.Resolver({ timeout: p.timeoutMs, tries: 2 })
  if (p.servers.length > 0) r.setServers([...p.servers])
  return r as unknown as DnsResolver
}

export class DnsDiscovery implements DiscoverySource {
  readonly kind = 'dns'
  readonly policy: DnsPolicy
  readonly #sink: DiscoverySink
  readonly #resolver: DnsResolver
  readonly #first = once()
  #timer: NodeJS.Timeout | null = null
  #started = false
  #closed = false
  /** Failures in a row (for the retry backoff and to log a failure streak once). */
  #failures = 0
  /** Last delay chosen (ms), for tests and /status. */
  nextDelayMs = 0

  constructor(policy: DnsPolicy, sink: DiscoverySink, resolver?: DnsResolver) {
    this.policy = policy
    this.#sink = sink
    this.#resolver = resolver ?? systemResolver(policy)
  }

  get firstAttempt(): Promise<void> {
    return this.#first.promise
  }

  start(): void {
    if (this.#started || this.#closed) return
    this.#started = true
    void this.#run()
  }

  async #run(): Promise<void> {
    this.#timer = null
    let delay: number
    try {
      const res = await resolveOnce(this.policy, this.#resolver)
      if (this.#closed) return
      if (this.#failures > 0) this.#sink.logger?.info({ upstream: this.#sink.name, name: this.policy.name }, 'dns discovery recovered')
      this.#failures = 0
      this.#sink.setTargets(res.targets)
      delay = clampTtl(this.policy, res.ttl)
    } catch (err) {
      if (this.#closed) return
      if (this.#failures++ === 0) {
        this.#sink.logger?.warn(
          { upstream: this.#sink.name, name: this.policy.name, code: (err as { code?: string }).code, err: String((err as Error).message ?? err) },
          'dns discovery failed; keeping the last known targets',
        )
      }
      delay = Math.min(this.policy.maxTtlMs, this.policy.minTtlMs * 2 ** Math.min(this.#failures - 1, 20))
    }
    this.#first.resolve()
    this.nextDelayMs = delay
    this.#timer = setTimeout(() => void this.#run(), delay)
    this.#timer.unref()
  }

  healthy(): boolean {
    return this.#failures === 0
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#first.resolve()
  }
}
