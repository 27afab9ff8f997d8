// ACME issuance and renewal (RFC 8555, through acme-client), run by the primary only. For each
// configured certificate: serve what the storage holds while it is fresh; when it is missing,
// covers other names, or is due (two thirds of its lifetime, or `renew_before`), order one, answer
// HTTP-01 or TLS-ALPN-01 through the storage (every worker's cleartext listener reads the token,
// every acme https listener the validation certificate, from there), and
// write the result back, where the workers' https listeners pick it up (they watch the storage).
// One order per name set at a time, never a second while one runs; failures back off
// exponentially (1 min doubling to 6 h, with jitter) and the old certificate keeps serving.
import { X509Certificate } from 'node:crypto'
import https from 'node:https'
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { AcmeConfig } from '../../config/schema/tls.js'
import { parseDuration } from '../../config/units.js'
import { watch, type FSWatcher } from 'node:fs'
import { AcmeDirectory } from './storage.js'
import { OnDemandGate } from './on-demand.js'

type AcmeModule = typeof import('acme-client')

const DIRECTORIES: Record<string, string> = {
  production: 'https://acme-v02.api.letsencrypt.org/directory',
  staging: 'https://acme-staging-v02.api.letsencrypt.org/directory',
}

const MIN_BACKOFF_MS = 60_000
const MAX_BACKOFF_MS = 6 * 3600_000
/** Longest single timer (Node caps at 2^31-1 ms); a longer wait is re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1

export interface IssuedEvent {
  name: string
  names: string[]
  notAfter: Date
}

interface Managed {
  name: string
  names: string[]
  timer: NodeJS.Timeout | undefined
  failures: number
  running: Promise<void> | null
  /** Issued for a handshake (on-demand TLS), not listed in the config: kept across reloads. */
  onDemand: boolean
}

export function directoryUrl(d: string | undefined): string {
  const v = d ?? 'production'
  return DIRECTORIES[v] ?? v
}

/** When a certificate is due: renew_before before not-after, else at two thirds of its lifetime. */
export function renewalTime(cert: X509Certificate, renewBeforeMs: number | undefined): number {
  const from = new Date(cert.validFrom).getTime()
  const to = new Date(cert.validTo).getTime()
  return renewBeforeMs === undefined ? from + ((to - from) * 2) / 3 : to - renewBeforeMs
}

export class AcmeManager {
  readonly storage: AcmeDirectory
  /** Orders placed by this manager, by certificate name (tests and /status). */
  readonly orders = new Map<string, number>()
  #config: AcmeConfig
  readonly #log: Logger
  readonly #managed = new Map<string, Managed>()
  #client: InstanceType<AcmeModule['Client']> | null = null
  #acme: AcmeModule | null = null
  #stopped = false
  readonly #onIssued: (e: IssuedEvent) => void
  #gate: OnDemandGate | null = null
  #gateKey = ''
  #demandWatch: FSWatcher | null = null
  #scanning: Promise<void> | null = null
  #rescan = false

  constructor(config: AcmeConfig, log: Logger, onIssued: (e: IssuedEvent) => void = () => {}) {
    this.#config = config
    this.#log = log.child({ component: 'acme' })
    this.storage = new AcmeDirectory(config.storage_dir ?? './portico-acme')
    this.#onIssued = onIssued
  }

  async start(): Promise<void> {
    await this.storage.init()
    this.#sync()
    // On-demand certificates issued before (a restart): renewed like configured ones.
    for (const name of await this.storage.certificateNames()) {
      if (this.#managed.has(name)) continue
      const meta = await this.storage.certificateMeta(name).catch(() => null)
      if (meta?.on_demand !== true || !Array.isArray(meta.names)) continue
      const m: Managed = { name, names: meta.names as string[], timer: undefined, failures: 0, running: null, onDemand: true }
      this.#managed.set(name, m)
      this.#schedule(m, 0)
    }
    this.#onDemand()
  }

  /** A reloaded config: certificates added start, removed ones stop being renewed (their files stay). */
  update(config: AcmeConfig): void {
    const clientKey = (c: AcmeConfig): string => JSON.stringify([c.directory, c.email, c.eab, c.ca_file])
    if (clientKey(config) !== clientKey(this.#config)) this.#client = null
    this.#config = config
    this.#sync()
    this.#onDemand()
  }

  #sync(): void {
    const want = new Map((this.#config.certificates ?? []).map((c) => [c.name ?? c.names[0]!, c.names.map((n) => n.toLowerCase())]))
    for (const [name, m] of this.#managed) {
      if (!want.has(name) && !m.onDemand) {
        clearTimeout(m.timer)
        this.#managed.delete(name)
      }
    }
    for (const [name, names] of want) {
      const m = this.#managed.get(name)
      if (m !== undefined && m.names.join() === names.join()) continue
      if (m !== undefined) clearTimeout(m.timer)
      const fresh: Managed = { name, names, timer: undefined, failures: 0, running: m?.running ?? null, onDemand: false }
      this.#managed.set(name, fresh)
      this.#schedule(fresh, 0)
    }
  }

  #schedule(m: Managed, ms: number): void {
    clearTimeout(m.timer)
    if (this.#stopped) return
    m.timer = setTimeout(() => void this.check(m.name), Math.min(Math.max(ms, 0), MAX_TIMER_MS))
    m.timer.unref()
  }

  /** Checks one certificate now and orders it if it is missing or due. Settles when done. */
  check(name: string): Promise<void> {
    const m = this.#managed.get(name)
    if (m === undefined) return Promise.resolve()
    // Never two orders for the same names: a check while one runs joins it.
    m.running ??= this.#check(m).finally(() => (m.running = null))
    return m.running
  }

  async #check(m: Managed): Promise<void> {
    const renewBefore = this.#config.renew_before === undefined ? undefined : parseDuration(this.#config.renew_before)
    const stored = await this.storage.certificate(m.name)
    if (stored !== null) {
      const x = new X509Certificate(stored.certPem)
      const sameNames = stored.names.length === m.names.length && m.names.every((n) => stored.names.includes(n))
      const due = renewalTime(x, renewBefore)
      if (sameNames && Date.now() < due) {
        this.#schedule(m, due - Date.now())
        return
      }
    }
    try {
      await this.#order(m)
      m.failures = 0
      const fresh = await this.storage.certificate(m.name)
      this.#schedule(m, fresh === null ? MIN_BACKOFF_MS : renewalTime(new X509Certificate(fresh.certPem), renewBefore) - Date.now())
    } catch (err) {
      m.failures++
      const backoff = Math.min(MIN_BACKOFF_MS * 2 ** (m.failures - 1), MAX_BACKOFF_MS)
      const wait = backoff / 2 + Math.random() * (backoff / 2)
      this.#log.error({ certificate: m.name, names: m.names, err: (err as Error).message, retry_in_s: Math.round(wait / 1000), failures: m.failures }, 'acme order failed; the current certificate (if any) keeps serving')
      this.#schedule(m, wait)
    }
  }

  async #clientFor(): Promise<InstanceType<AcmeModule['Client']>> {
    if (this.#client !== null) return this.#client
    const acme = (this.#acme ??= (await import('acme-client')).default as unknown as AcmeModule)
    // axios has no timeout of its own: a CA that hangs must not hold an order (and its lock) forever.
    acme.axios.defaults.timeout = 30_000
    if (this.#config.ca_file !== undefined) {
      // acme-client talks through its own axios instance: trust the private CA there only.
      acme.axios.defaults.httpsAgent = new https.Agent({ ca: readFileSync(this.#config.ca_file, 'utf8'), keepAlive: true })
    }
    let key = await this.storage.accountKey()
    if (key === null) {
      key = (await acme.crypto.createPrivateEcdsaKey()).toString()
      await this.storage.saveAccountKey(key)
    }
    const accountUrl = (await this.storage.accountUrl()) ?? undefined
    const eab = this.#config.eab
    const client = new acme.Client({
      directoryUrl: directoryUrl(this.#config.directory),
      accountKey: key,
      ...(accountUrl === undefined ? {} : { accountUrl }),
      ...(eab === undefined ? {} : { externalAccountBinding: { kid: eab.kid, hmacKey: eab.hmac_key } }),
    })
    this.#client = client
    return client
  }

  async #order(m: Managed): Promise<void> {
    const client = await this.#clientFor()
    const acme = this.#acme!
    if ((await this.storage.accountUrl()) === null) {
      await client.createAccount({ termsOfServiceAgreed: this.#config.terms_of_service_agreed, ...(this.#config.email === undefined ? {} : { contact: [`mailto:${this.#config.email}`] }) })
      await this.storage.saveAccountUrl(client.getAccountUrl())
    }
    const privateKey = this.#config.key_type === 'rsa' ? await acme.crypto.createPrivateRsaKey(2048) : await acme.crypto.createPrivateEcdsaKey('P-256')
    const [, csr] = await acme.crypto.createCsr({ commonName: m.names[0]!, altNames: m.names }, privateKey)
    this.#log.info({ certificate: m.name, names: m.names }, 'acme order')
    this.orders.set(m.name, (this.orders.get(m.name) ?? 0) + 1)
    const order = await client.createOrder({ identifiers: m.names.map((value) => ({ type: 'dns', value })) })
    const authorizations = await client.getAuthorizations(order)
    const type = this.#config.challenge ?? 'http-01'
    for (const authz of authorizations) {
      if (authz.status === 'valid') continue
      const challenge = authz.challenges.find((c) => c.type === type)
      if (challenge === undefined) throw new Error(`the CA offers no ${type} challenge for ${authz.identifier.value}`)
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge)
      const name = authz.identifier.value
      // Published where every worker reads it: HTTP-01 tokens for the cleartext listeners, the
      // validation certificate (acmeIdentifier extension, RFC 8737 §3) for the https listeners.
      if (type === 'tls-alpn-01') {
        const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization)
        await this.storage.putAlpnChallenge(name, { cert: cert.toString(), key: key.toString() })
      } else {
        await this.storage.putChallenge(challenge.token, keyAuthorization)
      }
      try {
        await client.completeChallenge(challenge)
        await client.waitForValidStatus(challenge)
      } finally {
        if (type === 'tls-alpn-01') await this.storage.removeAlpnChallenge(name)
        else await this.storage.removeChallenge(challenge.token)
      }
    }
    const finalized = await client.finalizeOrder(order, csr)
    const chain = await client.getCertificate(finalized)
    const x = new X509Certificate(chain)
    await this.storage.saveCertificate(
      { name: m.name, certPem: chain, keyPem: privateKey.toString(), names: m.names },
      { order_url: order.url, issued_at: new Date().toISOString(), ...(m.onDemand ? { on_demand: true } : {}) },
    )
    this.#log.info({ certificate: m.name, names: m.names, not_after: x.validTo }, 'acme certificate issued')
    this.#onIssued({ name: m.name, names: m.names, notAfter: new Date(x.validTo) })
  }

  // --- on-demand TLS: workers write demands/<name>; the gate decides; refusals go to refused/<name> ---

  #onDemand(): void {
    const od = this.#config.on_demand
    if (od === undefined) {
      this.#gate = null
      this.#demandWatch?.close()
      this.#demandWatch = null
      return
    }
    const key = JSON.stringify(od)
    if (key !== this.#gateKey) {
      this.#gateKey = key
      this.#gate = new OnDemandGate(od)
    }
    if (this.#demandWatch === null) {
      try {
        this.#demandWatch = watch(this.storage.demandsDir, { persistent: false }, () => this.#scanDemands())
        this.#demandWatch.on('error', (err) => this.#log.warn({ err: err.message }, 'on-demand: demands directory watch failed'))
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'on-demand: demands directory cannot be watched; no on-demand certificates')
      }
    }
    this.#scanDemands()
  }

  /** One scan at a time; an event during a scan asks for one more. */
  #scanDemands(): void {
    if (this.#scanning !== null) {
      this.#rescan = true
      return
    }
    this.#scanning = (async () => {
      do {
        this.#rescan = false
        for (const name of await this.storage.demands()) {
          await this.storage.removeDemand(name)
          void this.#demand(name)
        }
      } while (this.#rescan && !this.#stopped)
    })()
      .catch((err: Error) => this.#log.warn({ err: err.message }, 'on-demand: demands scan failed'))
      .finally(() => (this.#scanning = null))
  }

  async #demand(name: string): Promise<void> {
    const gate = this.#gate
    if (gate === null || this.#stopped) return
    // Already issued, or an order runs: the worker's watch on the storage serves it when it lands.
    for (const m of this.#managed.values()) if (m.names.includes(name)) return
    const reason = await gate.decide(name)
    if (reason !== null) {
      this.#log.info({ name, reason }, 'on-demand certificate refused')
      await this.storage.refuse(name, reason)
      return
    }
    await this.storage.clearRefusal(name)
    const m: Managed = { name, names: [name], timer: undefined, failures: 0, running: null, onDemand: true }
    this.#managed.set(name, m)
    // The first order is not retried with backoff like a configured certificate's: a failure is a
    // refusal (the handshake waiting gives up), and the next demand after per_name_interval tries again.
    m.running = this.#order(m)
      .then(async () => {
        const fresh = await this.storage.certificate(name)
        const renewBefore = this.#config.renew_before === undefined ? undefined : parseDuration(this.#config.renew_before)
        this.#schedule(m, fresh === null ? MIN_BACKOFF_MS : renewalTime(new X509Certificate(fresh.certPem), renewBefore) - Date.now())
      })
      .catch(async (err: Error) => {
        this.#managed.delete(name)
        const why = gate.refused(name, `order failed: ${err.message}`)
        this.#log.error({ name, err: err.message }, 'on-demand order failed')
        await this.storage.refuse(name, why)
      })
      .finally(() => (m.running = null))
    await m.running
  }

  stop(): Promise<void> {
    this.#stopped = true
    this.#demandWatch?.close()
    this.#demandWatch = null
    for (const m of this.#managed.values()) clearTimeout(m.timer)
    return Promise.resolve()
  }
}
