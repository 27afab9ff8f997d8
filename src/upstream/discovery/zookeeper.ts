// ZooKeeper discovery, in the two layouts services register with:
// - curator (Apache Curator's ServiceDiscovery, also Spring Cloud Zookeeper): one ephemeral znode
//   per instance at <root>/<service>/<id>, its data a JSON ServiceInstance
//   {"name","id","address","port","sslPort","payload","enabled",…}; `enabled: false` leaves it out;
//   payload.metadata (Spring Cloud's ZookeeperInstance) goes into meta, metadata.weight is the weight.
// - dubbo: one ephemeral znode per provider at <root>/<interface>/providers/<URL-encoded URL>,
//   e.g. rest://10.0.0.5:8080/com.acme.Users?weight=100&enabled=true&version=1.0.0; `enabled=false`
//   or `disabled=true` leaves it out, `weight` (Dubbo's default 100) is the weight, `protocol`
//   selects one protocol.
// An instance that dies loses its ZooKeeper session and so its ephemeral node: it leaves by itself.
// We read the children with a watch (and each Curator node's data with a watch); any watch event
// re-reads the service (watches are one-shot). While ZooKeeper is unreachable the last known
// targets keep serving and the client reconnects by itself; on reconnect (and after a session
// expiry, with a new session) the service is read again.
// Client: node-zookeeper-client (pure JavaScript, no native build; watches and digest auth are
// all this needs). The `zookeeper` npm package binds the C client, needs a compiler at install
// and loads a native addon into every worker. Imported only when an upstream uses ZooKeeper.
import type { Client, Event as ZkEvent, State as ZkState } from 'node-zookeeper-client'
import type { ZookeeperDiscoveryConfig } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { once, type DiscoveredTarget, type DiscoverySink, type DiscoverySource } from './source.js'
import { backoff, byUrl, reasonOf, Streak, targetUrl, validHost, validPort } from './watch.js'
import { loadZookeeperClient, stallDeadlineMs, type Zk } from './zk-client.js'

export interface ZookeeperPolicy {
  servers: readonly string[]
  layout: 'curator' | 'dubbo'
  /** The znode whose children are the instances. */
  dir: string
  service: string
  protocol: string | undefined
  username: string | undefined
  password: string | undefined
  scheme: 'http' | 'https'
  sessionTimeoutMs: number
  timeoutMs: number
}

export function resolveZookeeperPolicy(c: ZookeeperDiscoveryConfig): ZookeeperPolicy {
  const layout = c.layout ?? 'curator'
  const root = c.root ?? (layout === 'dubbo' ? '/dubbo' : '/services')
  return {
    servers: c.servers ?? ['127.0.0.1:2181'],
    layout,
    dir: layout === 'dubbo' ? `${root}/${c.service}/providers` : `${root}/${c.service}`,
    service: c.service,
    protocol: c.protocol,
    username: c.username,
    password: c.password,
    scheme: c.scheme ?? 'http',
    sessionTimeoutMs: Math.max(1000, parseDuration(c.session_timeout ?? '10s')),
    timeoutMs: Math.max(1, parseDuration(c.timeout ?? '2s')),
  }
}

const toInt = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN
  return Number.isInteger(n) && n >= 0 ? Math.min(n, 10000) : undefined
}

/** A Curator ServiceInstance (JSON); undefined when it is not one or is disabled. */
export function parseCurator(data: string, scheme: 'http' | 'https'): DiscoveredTarget | undefined {
  let o: Record<string, unknown>
  try {
    o = JSON.parse(data) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (o === null || typeof o !== 'object' || o.enabled === false) return undefined
  const port = scheme === 'https' && validPort(o.sslPort) ? o.sslPort : o.port
  if (!validHost(o.address) || !validPort(port)) return undefined
  const meta: Record<string, string> = {}
  const md = (o.payload as { metadata?: Record<string, unknown> } | null | undefined)?.metadata
  if (md !== null && typeof md === 'object') for (const [k, v] of Object.entries(md)) if (typeof v === 'string') meta[k] = v
  if (typeof o.id === 'string') meta.id = o.id
  return { url: targetUrl(scheme, o.address, port), weight: toInt(md?.weight) ?? 1, meta }
}

/** A Dubbo provider URL (the child's name, URL-encoded); undefined when not one, disabled or of another protocol. */
export function parseDubbo(child: string, scheme: 'http' | 'https', protocol: string | undefined): DiscoveredTarget | undefined {
  let u: URL
  try {
    u = new URL(decodeURIComponent(child))
  } catch {
    return undefined
  }
  const proto = u.protocol.replace(/:$/, '')
  if (protocol !== undefined && proto !== protocol) return undefined
  const q = u.searchParams
  if (q.get('enabled') === 'false' || q.get('disabled') === 'true') return undefined
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const port = Number(u.port)
  if (!validHost(host) || !validPort(port)) return undefined
  const meta: Record<string, string> = { protocol: proto }
  for (const k of ['application', 'version', 'group', 'side', 'dubbo.tag', 'release']) {
    const v = q.get(k)
    if (v !== null) meta[k] = v
  }
  return { url: targetUrl(scheme, host, port), weight: toInt(q.get('weight') ?? undefined) ?? 100, meta }
}


export class ZookeeperDiscovery implements DiscoverySource {
  readonly kind = 'zookeeper'
  readonly policy: ZookeeperPolicy
  readonly #sink: DiscoverySink
  readonly #first = once()
  readonly #streak: Streak
  #zk: Zk | null = null
  #client: Client | null = null
  #connected = false
  #started = false
  #closed = false
  /** A read of the service is running / another one was asked for meanwhile. */
  #reading = false
  #again = false
  #retry: NodeJS.Timeout | null = null
  /** Connection attempts in a row that got no session before their deadline. */
  #stalls = 0
  #firstTimer: NodeJS.Timeout | null = null
  /** Armed while disconnected: past the session timeout, the session is gone server-side. */
  #lost: NodeJS.Timeout | null = null
  /** Reads of the service completed (for tests). */
  reads = 0

  constructor(policy: ZookeeperPolicy, sink: DiscoverySink) {
    this.policy = policy
    this.#sink = sink
    this.#streak = new Streak(sink, 'zookeeper', { path: policy.dir })
  }

  get firstAttempt(): Promise<void> {
    return this.#first.promise
  }

  healthy(): boolean {
    return this.#connected && this.#streak.failures === 0
  }

  start(): void {
    if (this.#started || this.#closed) return
    this.#started = true
    // The client retries its connection forever; the first attempt "fails" after the connect deadline.
    this.#firstTimer = setTimeout(() => {
      if (!this.#connected) this.#streak.fail('unreachable', new Error(`no connection to ${this.policy.servers.join(',')} within ${this.policy.timeoutMs} ms`))
      this.#first.resolve()
    }, this.policy.timeoutMs)
    this.#firstTimer.unref()
    void loadZookeeperClient().then((zk) => {
      this.#zk = zk
      this.#connect()
    })
  }

  #connect(): void {
    if (this.#closed || this.#zk === null) return
    const p = this.policy
    const client = this.#zk.createClient(p.servers.join(','), { sessionTimeout: p.sessionTimeoutMs, spinDelay: 500, retries: 0 })
    this.#client = client
    if (p.username !== undefined) client.addAuthInfo('digest', Buffer.from(`${p.username}:${p.password ?? ''}`))
    client.on('state', (s: ZkState) => this.#onState(client, s))
    client.connect()
    // A first connection can stall the same way (seen after a server restart): try a new client.
    this.#armLost(client, stallDeadlineMs(this.#stalls, p.timeoutMs, p.sessionTimeoutMs), 'no ZooKeeper session established')
  }

  #armLost(client: Client, ms: number, why: string): void {
    if (this.#lost !== null) return
    this.#lost = setTimeout(() => {
      this.#lost = null
      if (!this.#connected && client === this.#client) {
        this.#stalls++
        this.#renew(client, 'watch_lost', why)
      }
    }, ms)
    this.#lost.unref()
  }

  #onState(client: Client, s: ZkState): void {
    if (this.#closed || client !== this.#client) return
    const S = this.#zk!.State
    if (s === S.SYNC_CONNECTED || s === S.CONNECTED_READ_ONLY) {
      this.#connected = true
      this.#stalls = 0
      if (this.#lost !== null) clearTimeout(this.#lost)
      this.#lost = null
      this.#read() // first connect, or reconnect: the watches may have missed changes
    } else if (s === S.DISCONNECTED) {
      this.#connected = false
      this.#streak.fail('unreachable', new Error('disconnected from ZooKeeper'))
      // node-zookeeper-client keeps offering the old session forever; a server that restarted
      // meanwhile may never take it back (measured: after ~7 s down it did not reconnect). Past
      // the session timeout the session is expired anyway: start a new one.
      this.#armLost(client, this.policy.sessionTimeoutMs, 'ZooKeeper session lost (disconnected past its timeout)')
    } else if (s === S.EXPIRED || s === S.AUTH_FAILED) {
      this.#connected = false
      this.#renew(client, s === S.AUTH_FAILED ? 'auth' : 'watch_lost', `ZooKeeper session ${s.name}`)
    }
  }

  /** Our session is gone (its watches too): a new client, a new session, a fresh read. */
  #renew(client: Client, reason: 'auth' | 'watch_lost', why: string): void {
    this.#streak.fail(reason, new Error(why))
    client.close()
    this.#client = null
    if (this.#lost !== null) clearTimeout(this.#lost)
    this.#lost = null
    if (this.#retry !== null) clearTimeout(this.#retry)
    this.#retry = setTimeout(() => {
      this.#retry = null
      this.#connect()
    }, backoff(this.#streak.failures, 200, 5000))
    this.#retry.unref()
  }

  /** Watch events re-read the whole service; bursts fold into one read. */
  readonly #onWatch = (_e: ZkEvent): void => this.#read()

  #read(): void {
    if (this.#closed) return
    if (this.#reading) {
      this.#again = true
      return
    }
    this.#reading = true
    void this.#readOnce()
      .then((list) => {
        if (this.#closed || list === undefined) return
        this.reads++
        this.#streak.ok()
        this.#sink.setTargets(list)
        this.#first.resolve()
      })
      .catch((err: unknown) => {
        if (this.#closed) return
        this.#streak.fail(reasonOf(err), err)
        // Connection loss: the reconnect reads again. Anything else: retry with backoff.
        if (this.#connected && this.#retry === null) {
          this.#retry = setTimeout(() => {
            this.#retry = null
            this.#read()
          }, backoff(this.#streak.failures, 200, 5000))
          this.#retry.unref()
        }
      })
      .finally(() => {
        this.#reading = false
        if (this.#again) {
          this.#again = false
          this.#read()
        }
      })
  }

  /** The service's current instances; undefined when the client changed meanwhile. */
  async #readOnce(): Promise<DiscoveredTarget[] | undefined> {
    const client = this.#client
    if (client === null || !this.#connected) return undefined
    const zk = this.#zk!
    const p = this.policy
    const NO_NODE = zk.Exception.NO_NODE
    const code = (err: unknown) => (err as { getCode?: () => number }).getCode?.()
    const children = await new Promise<string[] | null>((resolve, reject) => {
      client.getChildren(p.dir, this.#onWatch, (err, list) => {
        if (err === null || err === undefined) return resolve(list)
        if (code(err) !== NO_NODE) return reject(err)
        // No such service (yet): watch for its creation. Its having no instances is the truth.
        client.exists(p.dir, this.#onWatch, (e2) => (e2 ? reject(e2) : resolve(null)))
      })
    })
    if (client !== this.#client) return undefined
    const out: DiscoveredTarget[] = []
    let skipped = 0
    if (children !== null && p.layout === 'dubbo') {
      for (const c of children) {
        const t = parseDubbo(c, p.scheme, p.protocol)
        if (t !== undefined) out.push(t)
        else skipped++
      }
    } else if (children !== null) {
      const datas = await Promise.all(
        children.map(
          (c) =>
            new Promise<string | null>((resolve, reject) => {
              client.getData(`${p.dir}/${c}`, this.#onWatch, (err, data) => {
                if (err === null || err === undefined) return resolve(data === null || data === undefined ? '' : data.toString('utf8'))
                // Removed between the listing and this read: the children watch brings the next read.
                return code(err) === NO_NODE ? resolve(null) : reject(err)
              })
            }),
        ),
      )
      for (const d of datas) {
        if (d === null) continue
        const t = parseCurator(d, p.scheme)
        if (t !== undefined) out.push(t)
        else skipped++
      }
    }
    if (skipped > 0) this.#sink.logger?.debug({ upstream: this.#sink.name, path: p.dir, skipped }, 'zookeeper discovery: skipped disabled or unparsable instances')
    const seen = new Map<string, DiscoveredTarget>()
    for (const t of out) if (!seen.has(t.url)) seen.set(t.url, t)
    return byUrl([...seen.values()])
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#first.resolve()
    if (this.#retry !== null) clearTimeout(this.#retry)
    if (this.#firstTimer !== null) clearTimeout(this.#firstTimer)
    if (this.#lost !== null) clearTimeout(this.#lost)
    this.#client?.close()
    this.#client = null
  }
}
