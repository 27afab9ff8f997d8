// On-demand TLS (Caddy's feature): whether the primary may order a certificate for a name no
// config lists, because a handshake asked for it. Three gates, in this order, so that a flood of
// made-up SNI names costs neither the CA's rate limits nor the ask endpoint much:
//   1. per name: a name refused (or whose order failed) is not reconsidered for per_name_interval;
//   2. global: at most max_orders approvals per `per` window (sliding);
//   3. the ask URL: GET <ask>?domain=<name>, only a 200 approves (no answer in ask_timeout = no).
import { request } from 'undici'
import type { OnDemandConfig } from '../../config/schema/tls.js'
import { parseDuration } from '../../config/units.js'

export class OnDemandGate {
  readonly #ask: string
  readonly #askTimeoutMs: number
  readonly #perNameMs: number
  readonly #max: number
  readonly #windowMs: number
  /** name → when it was last refused. */
  readonly #refusedAt = new Map<string, number>()
  /** Times of the approvals inside the current window. */
  #approvals: number[] = []
  readonly #now: () => number

  constructor(cfg: OnDemandConfig, now: () => number = Date.now) {
    this.#ask = cfg.ask
    this.#askTimeoutMs = parseDuration(cfg.ask_timeout ?? '5s')
    this.#perNameMs = parseDuration(cfg.per_name_interval ?? '10m')
    this.#max = cfg.max_orders ?? 10
    this.#windowMs = parseDuration(cfg.per ?? '1h')
    this.#now = now
  }

  /** null = approved (counted against the global limit), else why not. */
  async decide(name: string): Promise<string | null> {
    const now = this.#now()
    const refused = this.#refusedAt.get(name)
    if (refused !== undefined && now - refused < this.#perNameMs) return 'refused recently (per_name_interval)'
    this.#approvals = this.#approvals.filter((t) => now - t < this.#windowMs)
    if (this.#approvals.length >= this.#max) return this.refused(name, 'global on-demand limit reached (max_orders per window)')
    const verdict = await this.#askUrl(name)
    if (verdict !== null) return this.refused(name, verdict)
    this.#approvals.push(this.#now())
    return null
  }

  /** Records a refusal (also a failed order), so the name rests for per_name_interval; returns the reason. */
  refused(name: string, reason: string): string {
    this.#refusedAt.set(name, this.#now())
    // Bounded: old refusals are forgotten once their interval is over.
    if (this.#refusedAt.size > 10_000) for (const [n, t] of this.#refusedAt) if (this.#now() - t >= this.#perNameMs) this.#refusedAt.delete(n)
    return reason
  }

  async #askUrl(name: string): Promise<string | null> {
    const url = new URL(this.#ask)
    url.searchParams.set('domain', name)
    try {
      const res = await request(url, { method: 'GET', headersTimeout: this.#askTimeoutMs, bodyTimeout: this.#askTimeoutMs })
      await res.body.dump()
      return res.statusCode === 200 ? null : `the ask URL answered ${res.statusCode}`
    } catch (err) {
      return `the ask URL did not answer (${(err as Error).message})`
    }
  }
}
