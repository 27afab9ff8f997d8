// ACME issuance and renewal (RFC 8555, through acme-client), run by the primary only. For each
// configured certificate: serve what the storage holds while it is fresh; when it is missing,
// covers other names, or is due (two thirds of its lifetime, or `renew_before`), order one, answer
// HTTP-01 or TLS-ALPN-01 through the storage (every worker's cleartext listener reads the token,
// every acme https listener the validation certificate, from there), and
// write the result back, where the workers' https listeners pick it up (they watch the storage).
// One order per name set at a time, never a second while one runs; failures back off
// exponentially (1 min doubling to 6 h, with jitter) and the old certificate keeps serving.
//
// Fleet mode (acme.storage.backend: redis): the state is in the shared Store, encrypted
// (store-storage.ts), and each order runs under the certificate's lock there, so of all the
// instances one orders and the others wait for its publication. Every primary mirrors the Store's
// certificates into its local storage_dir, where its workers pick them up as before; so an
// instance keeps serving what it has when Redis is down (and after a restart), and only issuance
// and renewal wait for Redis (with the same backoff).
import { X509Certificate } from 'node:crypto'
import https from 'node:https'
import { Agent as UndiciAgent, request as undiciRequest } from 'undici'
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { AcmeConfig } from '../../config/schema/tls.js'
import { parseDuration } from '../../config/units.js'
import { watch, type FSWatcher } from 'node:fs'
import { AcmeDirectory, FencedOutError, type AcmeLock, type AcmeStorage, type StoredCertificate } from './storage.js'
import { OnDemandGate } from './on-demand.js'
import { directoryUrl } from './directory.js'
import { dnsProvider, dnsRecord, type DnsProvider } from './dns01.js'
import { ariCertId, parseRenewalInfo, pickRenewalTime } from './ari.js'
import { acmeOrders } from '../metrics.js'

type AcmeModule = typeof import('acme-client')


const MIN_BACKOFF_MS = 60_000
const MAX_BACKOFF_MS = 6 * 3600_000
/** Lock held by another instance: look again after a third of the lock's lifetime, within these bounds. */
const BUSY_MIN_MS = 500
const BUSY_MAX_MS = 10_000
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
  /** The time drawn in the CA's ARI window for the current certificate (kept while the window is). */
  ari?: { certId: string; start: number; end: number; at: number }
  /** When the timer set by #schedule fires (the next look: renewal, retry or a busy peer's order). */
  nextAt?: number
  /** The last failed order, kept until one succeeds (what /status and the console show). */
  lastError?: { at: number; message: string }
}

/** What a check of one certificate came to: it is fresh until `due`, or another instance orders it. */
type IssueResult = { kind: 'fresh'; due: number } | { kind: 'busy' }

/** One managed certificate's renewal state, as /status lists it (`acme`). */
export interface AcmeRenewalStatus {
  name: string
  names: string[]
  on_demand: boolean
  /** An order or check runs now. */
  ordering: boolean
  /** When this instance looks at it next (renewal when due, or the retry after a failure), ISO 8601. */
  next_check: string | null
  /** Orders this instance placed for it since it started. */
  orders: number
  /** Failed orders in a row (0 once one succeeds). */
  failures: number
  last_error: { at: string; message: string } | null
  /** The renewal window the CA suggested (ARI, RFC 9773) for the current certificate. */
  ari_window: { start: string; end: string } | null
}

export { directoryUrl }

/** When a certificate is due: renew_before before not-after, else at two thirds of its lifetime. */
export function renewalTime(cert: X509Certificate, renewBeforeMs: number | undefined): number {
  const from = new Date(cert.validFrom).getTime()
  const to = new Date(cert.validTo).getTime()
  return renewBeforeMs === undefined ? from + ((to - from) * 2) / 3 : to - renewBeforeMs
}

export interface AcmeManagerDeps {
  /** The shared storage (fleet mode); omitted = the local directory is the storage. */
  storage?: AcmeStorage
}

export class AcmeManager {
  /** Where the state lives: the local directory, or the shared Store (fleet mode). */
  readonly storage: AcmeStorage
  /** storage_dir: what this instance's workers serve, and on-demand demands/refusals. */
  readonly local: AcmeDirectory
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
  #unwatch: (() => Promise<void>) | null = null
  #mirroring: Promise<void> | null = null
  #remirror = false

  constructor(config: AcmeConfig, log: Logger, onIssued: (e: IssuedEvent) => void = () => {}, deps: AcmeManagerDeps = {}) {
    this.#config = config
    this.#log = log.child({ component: 'acme' })
    this.local = new AcmeDirectory(config.storage_dir ?? './portico-acme')
    this.storage = deps.storage ?? this.local
    this.#onIssued = onIssued
  }

  get #fleet(): boolean {
    return this.storage !== this.local
  }

  #lockTtlMs(): number {
    return parseDuration(this.#config.storage?.lock_ttl ?? '30s')
  }

  async start(): Promise<void> {
    await this.local.init()
    await this.storage.init()
    if (this.#fleet) {
      // Publications of any instance (this one's included) are mirrored for the workers; the
      // first mirror runs now, so a restarted instance serves what the fleet has at once.
      // Not awaited: with Redis down the subscription waits for it (and is restored after each
      // reconnect), while this instance serves what storage_dir has.
      this.storage.watch(() => this.#mirror()).then(
        (unwatch) => {
          if (this.#stopped) void unwatch()
          else this.#unwatch = unwatch
        },
        (err: Error) => this.#log.warn({ err: err.message }, 'acme: cannot subscribe to certificate publications; checks still mirror them'),
      )
      await this.#mirrorNow()
    }
    this.#sync()
    // On-demand certificates issued before (a restart).
    await this.#adoptOnDemand(await this.storage.certificateNames().catch(() => this.local.certificateNames()))
    this.#onDemand()
  }

  /**
   * On-demand certificates in the storage that this instance does not renew yet: renewed from now
   * on like configured ones. At start (issued before a restart) and, in fleet mode, at each mirror
   * (issued by another instance for its own handshake): otherwise only the instance that ordered
   * one renewed it, and it expired once that instance was gone (scaled down) unless another
   * restarted meanwhile. The renewals then share the lock as configured certificates do.
   */
  async #adoptOnDemand(names: string[]): Promise<void> {
    for (const name of names) {
      if (this.#managed.has(name) || this.#stopped) continue
      // A certificate of a name no longer configured is read again at each mirror: one GET.
      const meta = await this.storage.certificateMeta(name).catch(() => null)
      if (meta?.on_demand !== true || !Array.isArray(meta.names) || this.#managed.has(name)) continue
      const m: Managed = { name, names: meta.names as string[], timer: undefined, failures: 0, running: null, onDemand: true }
      this.#managed.set(name, m)
      this.#schedule(m, 0)
    }
  }

  /** A reloaded config: certificates added start, removed ones stop being renewed (their files stay). */
  update(config: AcmeConfig): void {
    const clientKey = (c: AcmeConfig): string => JSON.stringify([c.directory, c.email, c.eab, c.ca_file])
    if (clientKey(config) !== clientKey(this.#config)) {
      this.#client = null
      this.#renewalInfoUrl = undefined
    }
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
    m.nextAt = Date.now() + Math.max(ms, 0)
    m.timer = setTimeout(() => void this.check(m.name), Math.min(Math.max(ms, 0), MAX_TIMER_MS))
    m.timer.unref()
  }

  /** Each managed certificate's renewal state (configured and on-demand), by name. */
  renewals(): AcmeRenewalStatus[] {
    const iso = (t: number | undefined): string | null => (t === undefined ? null : new Date(t).toISOString())
    return [...this.#managed.values()]
      .map((m) => ({
        name: m.name,
        names: [...m.names],
        on_demand: m.onDemand,
        ordering: m.running !== null,
        next_check: m.running !== null || this.#stopped ? null : iso(m.nextAt),
        orders: this.orders.get(m.name) ?? 0,
        failures: m.failures,
        last_error: m.lastError === undefined ? null : { at: iso(m.lastError.at)!, message: m.lastError.message },
        ari_window: m.ari === undefined ? null : { start: iso(m.ari.start)!, end: iso(m.ari.end)! },
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  /** Checks one certificate now and orders it if it is missing or due. Settles when done. */
  check(name: string): Promise<void> {
    const m = this.#managed.get(name)
    if (m === undefined) return Promise.resolve()
    // Never two orders for the same names: a check while one runs joins it.
    m.running ??= this.#check(m).finally(() => (m.running = null))
    return m.running
  }

  #renewBefore(): number | undefined {
    return this.#config.renew_before === undefined ? undefined : parseDuration(this.#config.renew_before)
  }

  /** When `stored` is due for `m`, or null when it must be ordered now (missing, other names, due). */
  #dueAt(m: Managed, stored: StoredCertificate | null): number | null {
    if (stored === null) return null
    const sameNames = stored.names.length === m.names.length && m.names.every((n) => stored.names.includes(n))
    const due = renewalTime(new X509Certificate(stored.certPem), this.#renewBefore())
    return sameNames && Date.now() < due ? due : null
  }

  /** #issue, with portico_acme_orders_total counting the order it placed, if it placed one. */
  async #issueCounted(m: Managed): Promise<IssueResult> {
    const before = this.orders.get(m.name) ?? 0
    const certificate = m.onDemand ? 'on-demand' : m.name
    try {
      const r = await this.#issue(m)
      if ((this.orders.get(m.name) ?? 0) > before) acmeOrders.inc({ certificate, result: 'issued' })
      return r
    } catch (err) {
      if ((this.orders.get(m.name) ?? 0) > before) acmeOrders.inc({ certificate, result: 'failed' })
      throw err
    }
  }

  async #check(m: Managed): Promise<void> {
    try {
      const r = await this.#issueCounted(m)
      if (r.kind === 'busy') {
        // Another instance orders it: its publication is mirrored here; look again soon in case it dies.
        this.#schedule(m, Math.min(BUSY_MAX_MS, Math.max(BUSY_MIN_MS, this.#lockTtlMs() / 3)))
        return
      }
      m.failures = 0
      m.lastError = undefined
      this.#schedule(m, r.due - Date.now())
    } catch (err) {
      if (err instanceof FencedOutError) {
        // A newer holder exists (this one's lock expired while it ordered): its certificate wins.
        this.#log.warn({ certificate: m.name, err: err.message }, 'acme: lock lost during the order; the newer holder\'s certificate is kept')
        this.#schedule(m, BUSY_MIN_MS)
        return
      }
      m.failures++
      m.lastError = { at: Date.now(), message: (err as Error).message }
      const backoff = Math.min(MIN_BACKOFF_MS * 2 ** (m.failures - 1), MAX_BACKOFF_MS)
      const wait = backoff / 2 + Math.random() * (backoff / 2)
      this.#log.error({ certificate: m.name, names: m.names, err: (err as Error).message, retry_in_s: Math.round(wait / 1000), failures: m.failures }, 'acme order failed; the current certificate (if any) keeps serving')
      this.#schedule(m, wait)
    }
  }

  /**
   * Makes sure the storage holds a fresh certificate for `m`: the stored one when it is not due,
   * else one ordered under the certificate's lock (looked at again once the lock is held: the
   * previous holder may have just finished). busy = another instance holds the lock.
   */
  async #issue(m: Managed): Promise<IssueResult> {
    const stored = await this.storage.certificate(m.name)
    const due = this.#dueAt(m, stored)
    // A certificate the CA wants replaced early (ARI): ordered now although its lifetime says not.
    let replaces: string | null = null
    if (due !== null) {
      // Mirrored before the CA is asked: a CA that is down must not delay serving what is stored.
      await this.#mirrorOne(stored!)
      const ari = await this.#ari(m, stored!)
      if (ari === null || ari.at > Date.now()) {
        if (ari !== null) this.#log.info({ certificate: m.name, window_start: new Date(m.ari!.start).toISOString(), window_end: new Date(m.ari!.end).toISOString(), renew_at: new Date(ari.at).toISOString() }, 'acme: renewal window from the CA (ARI)')
        return { kind: 'fresh', due: Math.min(due, ari?.at ?? Infinity, ari?.next ?? Infinity) }
      }
      replaces = ari.certId
      this.#log.info({ certificate: m.name, names: m.names, window_start: new Date(m.ari!.start).toISOString() }, 'acme: the CA suggests renewing now (ARI)')
    }
    const lock = await this.storage.lock(m.name, this.#lockTtlMs())
    if (lock === null) return { kind: 'busy' }
    try {
      const again = this.#fleet ? await this.storage.certificate(m.name) : stored
      const dueAgain = this.#dueAt(m, again)
      // Fresh unless it is the very certificate ARI asked to replace (another instance may have
      // replaced it meanwhile: then the new one is kept).
      if (dueAgain !== null && !(replaces !== null && again?.certPem === stored?.certPem)) {
        await this.#mirrorOne(again!)
        return { kind: 'fresh', due: dueAgain }
      }
      const issued = await this.#order(m, lock, replaces)
      return { kind: 'fresh', due: renewalTime(new X509Certificate(issued.certPem), this.#renewBefore()) }
    } finally {
      await lock.release().catch((err: Error) => this.#log.warn({ certificate: m.name, err: err.message }, 'acme: lock not released (it expires by itself)'))
    }
  }

  // --- fleet mode: the Store's certificates mirrored into storage_dir for this instance's workers ---

  /** One mirror at a time; a publication during one asks for one more. */
  #mirror(): void {
    if (this.#mirroring !== null) {
      this.#remirror = true
      return
    }
    this.#mirroring = (async () => {
      do {
        this.#remirror = false
        await this.#mirrorNow()
      } while (this.#remirror && !this.#stopped)
    })().finally(() => (this.#mirroring = null))
  }

  async #mirrorNow(): Promise<void> {
    try {
      const names = await this.storage.certificateNames()
      for (const name of names) {
        const c = await this.storage.certificate(name)
        if (c !== null) await this.#mirrorOne(c)
      }
      await this.#adoptOnDemand(names)
    } catch (err) {
      // Redis down: what is mirrored keeps serving; the next publication or check mirrors again.
      this.#log.warn({ err: (err as Error).message }, 'acme: certificates not mirrored from the store; the local copies keep serving')
    }
  }

  /** Writes a certificate to storage_dir unless the copy there is the same. */
  async #mirrorOne(c: StoredCertificate): Promise<void> {
    if (!this.#fleet) return
    const have = await this.local.certificate(c.name)
    if (have !== null && have.certPem === c.certPem && have.keyPem === c.keyPem) return
    const meta = (await this.storage.certificateMeta(c.name)) ?? {}
    delete meta.names
    await this.local.saveCertificate(c, meta)
    this.#log.info({ certificate: c.name, names: c.names }, 'acme certificate from the store mirrored for the workers')
  }

  #dnsHook: { key: string; provider: DnsProvider } | null = null

  /** The DNS-01 provider of the current config (made again when acme.dns changes). */
  #dns(): DnsProvider {
    const cfg = this.#config.dns
    if (cfg === undefined) throw new Error('challenge dns-01 without acme.dns')
    const key = JSON.stringify(cfg)
    if (this.#dnsHook?.key !== key) this.#dnsHook = { key, provider: dnsProvider(cfg) }
    return this.#dnsHook.provider
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
    // In fleet mode another instance may save its key first: then that one is used (one account).
    key ??= await this.storage.saveAccountKey((await acme.crypto.createPrivateEcdsaKey()).toString())
    const accountUrl = (await this.storage.accountUrl()) ?? undefined
    const eab = this.#config.eab
    const client = new acme.Client({
      directoryUrl: directoryUrl(this.#config.directory),
      accountKey: key,
      ...(accountUrl === undefined ? {} : { accountUrl }),
      ...(eab === undefined ? {} : { externalAccountBinding: { kid: eab.kid, hmacKey: eab.hmac_key } }),
      // Polls of a pending challenge/order: 1 s, doubling to 30 s, 12 tries (~3.5 min in all, as
      // acme-client's default 5 s × 2ⁿ, 10 tries). Its first poll at 5 s made every issuance wait
      // 5 s for a validation a CA usually finishes in under one; certbot polls every 1-3 s.
      backoffMin: 1000,
      backoffMax: 30_000,
      backoffAttempts: 12,
    })
    this.#client = client
    return client
  }

  /** The CA's renewalInfo URL (RFC 9773), from its directory; null when it offers none. */
  #renewalInfoUrl: string | null | undefined = undefined

  /**
   * The ARI verdict for `stored`: when to renew (drawn once per window) and when to ask again.
   * Null without ARI, or when the CA cannot be asked now (the lifetime schedule then applies).
   */
  async #ari(m: Managed, stored: StoredCertificate): Promise<{ at: number; next: number; certId: string } | null> {
    try {
      if (this.#renewalInfoUrl === undefined) {
        const dir = (await this.#caGet(directoryUrl(this.#config.directory))).body as Record<string, unknown> | null
        const url = dir?.renewalInfo
        this.#renewalInfoUrl = typeof url === 'string' && url !== '' ? url : null
      }
      if (this.#renewalInfoUrl === null) return null
      const certId = ariCertId(stored.certPem)
      if (certId === null) return null
      const res = await this.#caGet(`${this.#renewalInfoUrl.replace(/\/$/, '')}/${certId}`)
      const w = parseRenewalInfo(res.body, res.retryAfter)
      if (w === null) throw new Error('the renewalInfo answer has no valid suggestedWindow')
      if (m.ari?.certId !== certId || m.ari.start !== w.start || m.ari.end !== w.end) m.ari = { certId, start: w.start, end: w.end, at: pickRenewalTime(w) }
      return { at: m.ari.at, next: Date.now() + w.retryAfterMs, certId }
    } catch (err) {
      this.#log.warn({ certificate: m.name, err: (err as Error).message }, 'acme: renewal information (ARI) not available; renewing on the lifetime schedule')
      return null
    }
  }

  /**
   * A GET of the CA's JSON (directory, renewalInfo) with a 10 s deadline and no retries: not through
   * acme-client's axios, whose retries of a CA that is down (5, with 5-25 s pauses) would hold a
   * certificate's check for minutes over what is only advice.
   */
  async #caGet(url: string): Promise<{ body: unknown; retryAfter: string | undefined }> {
    const ca = this.#config.ca_file
    if (this.#caAgent?.key !== (ca ?? '')) {
      void this.#caAgent?.agent.close()
      this.#caAgent = { key: ca ?? '', agent: new UndiciAgent({ headersTimeout: 10_000, bodyTimeout: 10_000, connect: { timeout: 10_000, ...(ca === undefined ? {} : { ca: readFileSync(ca, 'utf8') }) } }) }
    }
    const res = await undiciRequest(url, { dispatcher: this.#caAgent.agent, headers: { accept: 'application/json' } })
    if (res.statusCode !== 200) {
      await res.body.dump()
      throw new Error(`GET ${url} answered ${res.statusCode}`)
    }
    const retryAfter = res.headers['retry-after']
    return { body: await res.body.json(), retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter }
  }

  #caAgent: { key: string; agent: UndiciAgent } | null = null

  async #order(m: Managed, lock: AcmeLock, replaces: string | null = null): Promise<StoredCertificate> {
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
    const identifiers = m.names.map((value) => ({ type: 'dns', value }))
    // `replaces` (RFC 9773 §5) tells the CA which certificate this one succeeds; a CA that refuses
    // it (the old one was replaced already) still gets the order, without it.
    const order =
      replaces === null
        ? await client.createOrder({ identifiers })
        : await client.createOrder({ identifiers, replaces } as Parameters<typeof client.createOrder>[0]).catch((err: Error) => {
            this.#log.warn({ certificate: m.name, err: err.message }, 'acme: order with replaces refused; ordering without it')
            return client.createOrder({ identifiers })
          })
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
      // DNS-01: the TXT record through the configured hook (only the lock holder does this).
      const record = type === 'dns-01' ? dnsRecord(name, keyAuthorization) : null
      if (record !== null) {
        await this.#dns().present(record)
        const delay = parseDuration(this.#config.dns?.propagation_delay ?? '0s')
        if (delay > 0) await new Promise((r) => setTimeout(r, delay))
      } else if (type === 'tls-alpn-01') {
        const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization)
        await this.storage.putAlpnChallenge(name, { cert: cert.toString(), key: key.toString() })
      } else {
        await this.storage.putChallenge(challenge.token, keyAuthorization)
      }
      try {
        await client.completeChallenge(challenge)
        await client.waitForValidStatus(challenge)
      } finally {
        if (record !== null) {
          await this.#dns()
            .cleanup(record)
            .catch((err: Error) => this.#log.warn({ certificate: m.name, record: record.name, err: err.message }, 'dns-01 record not removed'))
        } else if (type === 'tls-alpn-01') await this.storage.removeAlpnChallenge(name)
        else await this.storage.removeChallenge(challenge.token)
      }
    }
    // A holder whose lock expired (another instance may be ordering now) stops before the CA
    // issues: never two certificates for the same names. The fenced write below covers the rest.
    if (lock.lost) throw new FencedOutError(`certificate ${m.name}: the issuance lock expired during the order; not finalized`)
    this.#log.info({ certificate: m.name, names: m.names, fence: lock.fence }, 'acme finalize')
    const finalized = await client.finalizeOrder(order, csr)
    const chain = await client.getCertificate(finalized)
    const x = new X509Certificate(chain)
    const issued: StoredCertificate = { name: m.name, certPem: chain, keyPem: privateKey.toString(), names: m.names }
    const meta = { order_url: order.url, issued_at: new Date().toISOString(), ...(m.onDemand ? { on_demand: true } : {}) }
    await this.storage.saveCertificate(issued, meta, lock)
    if (this.#fleet) await this.local.saveCertificate(issued, meta)
    this.#log.info({ certificate: m.name, names: m.names, not_after: x.validTo, serial: x.serialNumber }, 'acme certificate issued')
    this.#onIssued({ name: m.name, names: m.names, notAfter: new Date(x.validTo) })
    return issued
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
        this.#demandWatch = watch(this.local.demandsDir, { persistent: false }, () => this.#scanDemands())
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
        for (const name of await this.local.demands()) {
          await this.local.removeDemand(name)
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
    // Taken over from the Store while the ask URL answered (another instance issued it): renewed as such.
    if (this.#managed.has(name)) return
    if (reason !== null) {
      this.#log.info({ name, reason }, 'on-demand certificate refused')
      await this.local.refuse(name, reason)
      return
    }
    await this.local.clearRefusal(name)
    const m: Managed = { name, names: [name], timer: undefined, failures: 0, running: null, onDemand: true }
    this.#managed.set(name, m)
    // The first order is not retried with backoff like a configured certificate's: a failure is a
    // refusal (the handshake waiting gives up), and the next demand after per_name_interval tries again.
    // In fleet mode another instance may be ordering it (its own handshake): then its publication
    // lands in storage_dir, which settles the waiting handshake, and this one only looks again.
    m.running = this.#issueCounted(m)
      .then((r) => this.#schedule(m, r.kind === 'busy' ? Math.min(BUSY_MAX_MS, Math.max(BUSY_MIN_MS, this.#lockTtlMs() / 3)) : r.due - Date.now()))
      .catch(async (err: Error) => {
        this.#managed.delete(name)
        const why = gate.refused(name, `order failed: ${err.message}`)
        this.#log.error({ name, err: err.message }, 'on-demand order failed')
        await this.local.refuse(name, why)
      })
      .finally(() => (m.running = null))
    await m.running
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#demandWatch?.close()
    this.#demandWatch = null
    for (const m of this.#managed.values()) clearTimeout(m.timer)
    await this.#unwatch?.().catch(() => undefined)
    this.#unwatch = null
    await this.#caAgent?.agent.close()
    this.#caAgent = null
    await this.storage.close()
  }
}
