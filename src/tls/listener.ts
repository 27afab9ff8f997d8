// Everything an https listener needs from src/tls, behind one small surface:
//   createTlsListener(config, deps) → { serverOptions, attach(server), checkHost, forwardIdentity,
//                                        hsts, update(config), status(), close() }
// The listener code passes serverOptions to https.createServer, calls attach() once, and asks
// checkHost()/forward() per request. Certificates are re-read when their files change and the
// next handshake is served from the new set (one reference swap; open connections keep theirs).
import { watch, type FSWatcher } from 'node:fs'
import { dirname, basename } from 'node:path'
import { isIP } from 'node:net'
import type { IncomingMessage } from 'node:http'
import { createSecureContext, type Server as TlsServer, type TlsOptions, type TLSSocket, type SecureContext, type SecureContextOptions } from 'node:tls'
import type { Logger } from 'pino'
import type { ListenerTlsConfig, ClientAuthConfig } from '../config/schema/tls.js'
import { parseDuration } from '../config/units.js'
import { loadCertificate, parseCertificate, summarize, type CertificateSummary, type LoadedCertificate } from './certificate.js'
import { CertificateSet, covers, type Served } from './cert-set.js'
import { clientIdentity, forwardIdentity } from './identity.js'
import type { ClientIdentity } from '../core/client-identity.js'
import { rotateTicketKeys, ticketSeed } from './tickets.js'
import { OcspStapler } from './ocsp.js'
import { trackListener, untrackListener } from './metrics.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AcmeDirectory, ChallengeReader } from './acme/storage.js'

export interface TlsDeps {
  logger: Logger
  /** ACME storage whose certificates a listener with `acme: true` serves (watched like files). */
  acme?: AcmeDirectory
  /** acme.challenge is tls-alpn-01: listeners with `acme: true` answer validation handshakes. */
  alpnChallenges?: boolean
  /** Where pending TLS-ALPN-01 certificates are read (fleet mode: the shared Store); default `acme`. */
  challenges?: ChallengeReader
  /** acme.on_demand: a handshake for an uncovered name on an `acme: true` listener asks for one. */
  onDemand?: { waitMs: number; perNameMs: number }
  /** ALPN protocols the listener serves, in the server's order of preference (default: http/1.1 only). */
  alpn?: readonly string[]
}

/** Names an on-demand demand may carry: lower-case DNS names, never a wildcard (IPs are refused apart). */
const DEMANDABLE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/
/** Names waiting for an on-demand certificate at once, per listener: more are not demanded. */
const MAX_WAITING = 100

type SniCb = (err: Error | null, ctx?: SecureContext) => void
interface Waiting {
  cbs: SniCb[]
  timer: NodeJS.Timeout
}

/** RFC 8737: the ALPN protocol of a TLS-ALPN-01 validation handshake. */
const ACME_TLS = 'acme-tls/1'
type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void
/** Node's per-socket SNI callback (node:_tls_wrap), the one hook that picks a context per handshake. */
type SniSocket = TLSSocket & { _SNICallback?: SniCallback }

type Mode = 'none' | 'optional' | 'required'

const kServed = Symbol('portico.tlsServed')
type ServedSocket = TLSSocket & { [kServed]?: Served | null }

export interface TlsListener {
  /** For https.createServer (SNI callback, default certificate, versions, client certificates, ALPN). */
  readonly serverOptions: TlsOptions
  /** Wire the server: ticket keys, OCSP stapling, per-SNI client-certificate enforcement. Once. */
  attach(server: TlsServer): void
  /** false when the request's Host is not covered by the certificate its connection was served (→ 421). */
  checkHost(req: IncomingMessage, host: string): boolean
  /** The verified (or not) client certificate of the request's connection; null when none was sent. */
  identity(req: IncomingMessage): ClientIdentity | null
  /** Sets x-client-cert-* on the upstream headers when this listener asks for client certificates. */
  forward(req: IncomingMessage, out: Record<string, unknown>): void
  /** The Strict-Transport-Security value, or null. */
  readonly hsts: string | null
  /** Apply a reloaded config (same listen address): certificates, policies, HSTS. Keeps the old on failure. */
  update(config: ListenerTlsConfig): Promise<void>
  /** Re-read certificate files and extra certificates now (the file watcher and ACME call this). */
  reload(): Promise<void>
  status(): CertificateSummary[]
  /** Certificates currently served (expiry metric). */
  certificates(): readonly LoadedCertificate[]
  close(): void
}

function hstsValue(h: ListenerTlsConfig['hsts']): string | null {
  if (h === undefined) return null
  let v = `max-age=${Math.floor(parseDuration(h.max_age ?? '8760h') / 1000)}`
  if (h.include_subdomains === true) v += '; includeSubDomains'
  if (h.preload === true) v += '; preload'
  return v
}

function readCa(c: ClientAuthConfig | undefined): string | undefined {
  if (c === undefined || c.mode === 'none') return undefined
  return c.ca ?? (c.ca_file === undefined ? undefined : readFileSync(c.ca_file, 'utf8'))
}

interface Built {
  config: ListenerTlsConfig
  certs: LoadedCertificate[]
  set: CertificateSet
  modeBySni: Map<string, Mode>
  mode: Mode
  hsts: string | null
  base: SecureContextOptions
}

class PorticoTlsListener implements TlsListener {
  serverOptions: TlsOptions = {}
  hsts: string | null = null
  #b!: Built
  #server: TlsServer | null = null
  #watchers: FSWatcher[] = []
  #watchedKey = ''
  #reloadTimer: NodeJS.Timeout | undefined
  #stopTickets: (() => void) | null = null
  #ticketKey: Buffer | null = null
  #ticketsKey = ''
  #ocsp: OcspStapler | null = null
  #closed = false
  /** On-demand handshakes waiting for their name's certificate, by name. */
  readonly #waiting = new Map<string, Waiting>()
  /** Names the primary refused lately (no demand again until perNameMs has passed). */
  readonly #refusedAt = new Map<string, number>()
  #refusedWatch: FSWatcher | null = null
  readonly #deps: TlsDeps
  readonly #log: Logger

  constructor(deps: TlsDeps) {
    this.#deps = deps
    this.#log = deps.logger
  }

  async init(config: ListenerTlsConfig): Promise<void> {
    this.#b = await this.#build(config)
    this.hsts = this.#b.hsts
    const b = this.#b
    const anyClientAuth = b.mode !== 'none' || [...b.modeBySni.values()].some((m) => m !== 'none')
    const allRequired = b.mode === 'required' && [...b.modeBySni.values()].every((m) => m === 'required')
    const fallback = b.set.fallback
    const acmeDir = config.acme === true && this.#deps.alpnChallenges === true ? (this.#deps.challenges ?? this.#deps.acme) : undefined
    const alpn = this.#deps.alpn ?? ['http/1.1']
    this.serverOptions = {
      ...b.base,
      ...(fallback === null ? {} : { cert: fallback.certs.map((c) => c.certPem), key: fallback.certs.map((c) => c.keyPem) }),
      SNICallback: (servername, cb) => this.#sni(servername, cb),
      // TLS-ALPN-01 needs the offered protocols before the certificate is chosen; Node gives them to
      // ALPNCallback only (it runs before SNICallback), and the two options exclude each other.
      ...(acmeDir === undefined ? { ALPNProtocols: [...alpn] } : { ALPNCallback: alpnSelector(acmeDir, alpn, this.#log) }),
      requestCert: anyClientAuth,
      // Refused in the handshake only when every name requires a certificate; otherwise the
      // per-name policy is enforced right after the handshake (attach()).
      rejectUnauthorized: allRequired,
    }
    this.#tickets(config)
    this.#watch()
    trackListener(this)
  }

  async #build(config: ListenerTlsConfig): Promise<Built> {
    const certs = await Promise.all((config.certificates ?? []).map((c) => loadCertificate(c)))
    const all = [...certs, ...(await this.#acmeCertificates(config))]
    const mode: Mode = config.client_auth === undefined ? 'none' : (config.client_auth.mode ?? 'required')
    const modeBySni = new Map<string, Mode>()
    const caBySni = new Map<string, string | undefined>()
    for (const [name, o] of Object.entries(config.sni ?? {})) {
      if (o.client_auth === undefined) continue
      modeBySni.set(name.toLowerCase(), o.client_auth.mode ?? 'required')
      caBySni.set(name.toLowerCase(), readCa(o.client_auth))
    }
    const ca = readCa(config.client_auth)
    const base: SecureContextOptions = {
      minVersion: config.min_version ?? 'TLSv1.2',
      maxVersion: config.max_version ?? 'TLSv1.3',
      ...(config.ciphers === undefined ? {} : { ciphers: config.ciphers }),
      ...(config.curves === undefined ? {} : { ecdhCurve: config.curves }),
      ...(ca === undefined ? {} : { ca }),
    }
    const set = new CertificateSet(all, {
      defaultName: config.default_certificate,
      strict: config.strict_sni ?? false,
      allowEmpty: config.acme === true,
      base,
      caBySni,
      onContext: (ctx) => this.#keyContext(ctx),
    })
    return { config, certs: all, set, modeBySni, mode, hsts: hstsValue(config.hsts), base }
  }

  async #acmeCertificates(config: ListenerTlsConfig): Promise<LoadedCertificate[]> {
    const dir = this.#deps.acme
    if (config.acme !== true || dir === undefined) return []
    const out: LoadedCertificate[] = []
    // undefined while the listener's first set is built.
    const served = (this.#b as Built | undefined)?.certs ?? []
    for (const name of await dir.certificateNames()) {
      const base = join(dir.certificatesDir, name)
      try {
        const c = await loadCertificate({ name, cert_file: join(base, 'cert.pem'), key_file: join(base, 'key.pem') })
        out.push({ ...c, source: 'acme' })
      } catch (err) {
        // A renewal replaces key.pem, then cert.pem: a reload between the two (the writer stalled
        // past the reload's 100 ms settle, as on a loaded host) finds the new key with the old
        // certificate. The pair served now keeps serving until the next change event completes the
        // new one; dropping it failed every handshake for its names in that gap. A first issuance
        // (nothing served yet) simply waits for that event.
        const previous = served.find((s) => s.source === 'acme' && s.name === name)
        if (previous !== undefined) out.push(previous)
        this.#log.debug({ certificate: name, err: (err as Error).message, kept_previous: previous !== undefined }, 'acme certificate not loadable yet')
      }
    }
    return out
  }

  #sni(servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    const b = this.#b
    const served = b.set.select(servername)
    if (served !== null) return cb(null, served.context)
    if (this.#deps.onDemand !== undefined && b.config.acme === true && this.#demand(servername, cb)) return
    this.#fallback(servername, cb)
  }

  #fallback(servername: string, cb: SniCb): void {
    const fb = this.#b.set.fallback
    if (fb === null) return cb(new Error(`no certificate for "${servername}"`))
    cb(null, fb.context)
  }

  /**
   * On-demand TLS: hold this handshake, ask the primary (a demand file in the ACME storage), and
   * answer when the certificate lands (the storage watch reloads the set), the primary refuses,
   * or the wait is over. false = not demandable here (the caller serves the fallback).
   */
  #demand(servername: string, cb: SniCb): boolean {
    const od = this.#deps.onDemand!
    const acme = this.#deps.acme
    const name = servername.toLowerCase()
    if (acme === undefined || name.length > 253 || !DEMANDABLE.test(name) || isIP(name) !== 0) return false
    const refused = this.#refusedAt.get(name)
    if (refused !== undefined && Date.now() - refused < od.perNameMs) return false
    let w = this.#waiting.get(name)
    if (w === undefined) {
      if (this.#waiting.size >= MAX_WAITING) return false
      this.#watchRefusals(acme)
      const timer = setTimeout(() => this.#settle(name, false), od.waitMs)
      timer.unref()
      w = { cbs: [], timer }
      this.#waiting.set(name, w)
      acme.putDemand(name).catch((err: Error) => {
        this.#log.warn({ name, err: err.message }, 'on-demand: demand not written')
        this.#settle(name, false)
      })
    }
    w.cbs.push(cb)
    return true
  }

  /** Ends the wait for `name`: serve its certificate when the set has one now, else the fallback. */
  #settle(name: string, arrived: boolean): void {
    const w = this.#waiting.get(name)
    if (w === undefined) return
    this.#waiting.delete(name)
    clearTimeout(w.timer)
    if (!arrived) this.#refusedAt.set(name, Date.now())
    const served = this.#b.set.select(name)
    for (const cb of w.cbs) {
      if (served !== null) cb(null, served.context)
      else this.#fallback(name, cb)
    }
  }

  #watchRefusals(acme: AcmeDirectory): void {
    if (this.#refusedWatch !== null || this.#closed) return
    try {
      this.#refusedWatch = watch(acme.refusedDir, { persistent: false }, (_event, file) => {
        if (file !== null && this.#waiting.has(String(file))) this.#settle(String(file), false)
      })
      this.#refusedWatch.on('error', (err) => this.#log.warn({ err: err.message }, 'on-demand: refusals watch failed'))
    } catch (err) {
      // Waiting handshakes then end at their wait's deadline instead.
      this.#log.warn({ err: (err as Error).message }, 'on-demand: refusals directory cannot be watched')
    }
  }

  attach(server: TlsServer): void {
    this.#server = server
    if (this.#ticketKey !== null) server.setTicketKeys(this.#ticketKey)
    server.on('secureConnection', (socket: TLSSocket) => {
      // A TLS-ALPN-01 validation ends with the handshake (RFC 8737 §3): no HTTP on it.
      if (socket.alpnProtocol === ACME_TLS) return void socket.end()
      const name = (socket as TLSSocket & { servername?: string | false }).servername
      const b = this.#b
      const served = typeof name === 'string' && name !== '' ? b.set.select(name) : null
      ;(socket as ServedSocket)[kServed] = served ?? (typeof name === 'string' && name !== '' ? b.set.fallback : null)
      const mode = (typeof name === 'string' ? b.modeBySni.get(name.toLowerCase()) : undefined) ?? b.mode
      if (mode === 'required' && !socket.authorized) {
        this.#log.debug({ servername: name, reason: socket.authorizationError }, 'client certificate required: connection closed')
        socket.destroy()
      }
    })
    server.on('tlsClientError', (err: Error) => this.#log.debug({ err: err.message }, 'tls handshake failed'))
    if (this.#b.config.ocsp_stapling !== false) {
      this.#ocsp = new OcspStapler(this.#log)
      this.#ocsp.track(this.#b.certs)
      server.on('OCSPRequest', (cert: Buffer, _issuer: Buffer, cb: (err: Error | null, resp: Buffer | null) => void) => cb(null, this.#ocsp?.response(cert) ?? null))
    }
  }

  checkHost(req: IncomingMessage, host: string): boolean {
    if (this.#b.config.check_host === false) return true
    const served = (req.socket as ServedSocket)[kServed]
    // No SNI (an IP-addressed client): nothing was promised, except that a name with its own
    // client-certificate policy is never reached around that policy by leaving SNI out.
    if (served === undefined || served === null) return !this.#b.modeBySni.has(host)
    return covers(served.exact, served.suffixes, host)
  }

  identity(req: IncomingMessage): ClientIdentity | null {
    return clientIdentity(req.socket as TLSSocket)
  }

  forward(req: IncomingMessage, out: Record<string, unknown>): void {
    if (this.serverOptions.requestCert !== true) return
    forwardIdentity(clientIdentity(req.socket as TLSSocket), out)
  }

  async update(config: ListenerTlsConfig): Promise<void> {
    // Every reload calls this: the same block only re-reads the files (a swap if they changed).
    if (JSON.stringify(config) === JSON.stringify(this.#b.config)) return this.reload()
    let next: Built
    try {
      next = await this.#build(config)
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'tls config not applied; the previous certificates keep serving')
      throw err
    }
    this.#swap(next)
    this.#tickets(config)
    this.#watch()
  }

  async reload(): Promise<void> {
    if (this.#closed) return
    let next: Built
    try {
      next = await this.#build(this.#b.config)
    } catch (err) {
      // Typically a half-written pair (new certificate, old key): the next file event retries.
      this.#log.warn({ err: (err as Error).message }, 'certificate reload failed; the previous certificates keep serving')
      return
    }
    const before = this.#b.certs.map((c) => c.fingerprint256 + c.keyPem.length).join()
    const after = next.certs.map((c) => c.fingerprint256 + c.keyPem.length).join()
    if (before === after) return
    this.#swap(next)
    this.#watch()
    for (const name of [...this.#waiting.keys()]) if (next.set.select(name) !== null) this.#settle(name, true)
    this.#log.info({ certificates: next.certs.map((c) => ({ name: c.name, not_after: c.notAfter.toISOString() })) }, 'certificates reloaded')
  }

  #swap(next: Built): void {
    this.#b = next
    this.hsts = next.hsts
    const fb = next.set.fallback
    const server = this.#server
    if (server !== null && fb !== null) {
      // The default context (no SNI) is the server's own; replace it, keeping the ticket key.
      server.setSecureContext({ ...next.base, cert: fb.certs.map((c) => c.certPem), key: fb.certs.map((c) => c.keyPem) })
      if (this.#ticketKey !== null) server.setTicketKeys(this.#ticketKey)
    }
    this.#ocsp?.track(next.certs)
  }

  #keyContext(ctx: SecureContext): void {
    const k = this.#ticketKey
    if (k !== null) (ctx as unknown as { context: { setTicketKeys(b: Buffer): void } }).context.setTicketKeys(k)
  }

  #tickets(config: ListenerTlsConfig): void {
    const t = config.session_tickets
    const key = JSON.stringify(t ?? null)
    if (key === this.#ticketsKey) return
    this.#ticketsKey = key
    this.#stopTickets?.()
    this.#stopTickets = null
    if (t?.enabled === false) {
      this.#ticketKey = null
      this.serverOptions.secureOptions = (this.serverOptions.secureOptions ?? 0) | 0x4000 /* SSL_OP_NO_TICKET */
      return
    }
    this.#stopTickets = rotateTicketKeys(ticketSeed(t?.secret), parseDuration(t?.rotate ?? '12h'), (k) => {
      this.#ticketKey = k
      this.#server?.setTicketKeys(k)
      for (const ctx of this.#b.set.contexts()) this.#keyContext(ctx)
    })
  }

  #watch(): void {
    const dirs = new Map<string, Set<string> | null>()
    // The ACME certificates directory itself: a new certificate arrives as a new subdirectory.
    if (this.#b.config.acme === true && this.#deps.acme !== undefined) dirs.set(this.#deps.acme.certificatesDir, null)
    for (const c of this.#b.certs) {
      for (const f of c.files) {
        const d = dirname(f)
        if (!dirs.has(d)) dirs.set(d, new Set())
        dirs.get(d)?.add(basename(f))
      }
    }
    const key = JSON.stringify([...dirs].map(([d, s]) => [d, s === null ? null : [...s]]))
    if (key === this.#watchedKey) return
    this.#watchedKey = key
    for (const w of this.#watchers) w.close()
    this.#watchers = []
    for (const [dir, names] of dirs) {
      try {
        // The directory, not the files: editors, cert-manager and ACME clients replace files by
        // rename (and Kubernetes swaps a ..data symlink), which a watch on the old inode never sees.
        const w = watch(dir, { persistent: false }, (_event, file) => {
          if (names === null || file === null || names.has(String(file)) || String(file).startsWith('..')) this.#scheduleReload()
        })
        w.on('error', (err) => this.#log.warn({ err: err.message, dir }, 'certificate watch failed'))
        this.#watchers.push(w)
      } catch (err) {
        this.#log.warn({ err: (err as Error).message, dir }, 'certificate directory cannot be watched; changes apply on config reload')
      }
    }
  }

  #scheduleReload(): void {
    clearTimeout(this.#reloadTimer)
    // Writers replace the certificate and the key one after the other: let both land.
    this.#reloadTimer = setTimeout(() => void this.reload(), 100)
    this.#reloadTimer.unref()
  }

  status(): CertificateSummary[] {
    const fb = this.#b.set.fallback
    return this.#b.certs.map((c) => ({ ...summarize(c), default: fb !== null && fb.certs.includes(c) }))
  }

  certificates(): readonly LoadedCertificate[] {
    return this.#b.certs
  }

  close(): void {
    this.#closed = true
    for (const name of [...this.#waiting.keys()]) this.#settle(name, false)
    this.#refusedWatch?.close()
    this.#refusedWatch = null
    for (const w of this.#watchers) w.close()
    this.#watchers = []
    clearTimeout(this.#reloadTimer)
    this.#stopTickets?.()
    this.#ocsp?.close()
    untrackListener(this)
  }
}

/**
 * ALPN for an https listener that answers TLS-ALPN-01: the first of `alpn` the client offers, as usual; for a handshake that
 * offers acme-tls/1 only (a CA's validator), the certificate of the name's pending challenge in the
 * ACME storage, swapped in for this one socket's SNI step. No pending challenge: the handshake fails.
 */
function alpnSelector(storage: ChallengeReader, alpn: readonly string[], log: Logger): (this: TLSSocket, info: { servername: string; protocols: string[] }) => string | undefined {
  let warned = false
  return function (this: TLSSocket, info) {
    const protocols = info.protocols
    if (protocols.includes(ACME_TLS) && typeof info.servername === 'string' && info.servername !== '') {
      const socket = this as SniSocket
      if (typeof socket._SNICallback !== 'function') {
        if (!warned) log.error('this Node.js has no per-socket SNI callback: TLS-ALPN-01 challenges cannot be answered')
        warned = true
        return undefined
      }
      socket._SNICallback = (name, cb) => {
        storage.alpnChallenge(name).then(
          (c) => (c === null ? cb(new Error(`no pending tls-alpn-01 challenge for ${name}`)) : cb(null, createSecureContext({ cert: c.cert, key: c.key }))),
          (err: Error) => cb(err),
        )
      }
      return ACME_TLS
    }
    // Server preference (h2 before http/1.1 when both are served), as Node's ALPNProtocols does.
    for (const p of alpn) if (protocols.includes(p)) return p
    return undefined
  }
}

/** Loads the listener's certificates (rejects with a message naming the bad one) and prepares its options. */
export async function createTlsListener(config: ListenerTlsConfig, deps: TlsDeps): Promise<TlsListener> {
  const l = new PorticoTlsListener(deps)
  await l.init(config)
  return l
}

export { parseCertificate }
