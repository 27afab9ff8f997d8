// ZooKeeper as the config center (docs/config-center.md). One persistent znode per resource,
// <root>/<kind>/<name>, its data the resource as JSON (the etcd source's layout, with znodes for
// keys). The root is read with watches: getChildren on each <root>/<kind> (exists() while it is
// missing) and getData on each resource; watches are one-shot, so any event reads the root again
// (bursts fold into one read) and the read re-arms them. A root znode that vanishes while resources
// are held looks like a wiped ensemble or a wrong chroot, not an edit: it is not applied (the current
// config keeps serving) until the root is back, or SIGHUP forces a read.
// Admin writes are one ZooKeeper multi (transaction): create for a new resource (fails if someone
// created it meanwhile), setData / remove with the znode version this instance holds (fails if
// someone changed it meanwhile) — all or none, as etcd's transaction.
// Connection handling follows the ZooKeeper discovery's lessons (src/upstream/discovery/zookeeper.ts):
// node-zookeeper-client offers the old session forever after a disconnect, and a server that
// restarted may never take it back, so past the session timeout a new client (new session) is
// made; a connection attempt that gets no session before its deadline is abandoned for a new
// client, the deadline doubling with each stalled attempt in a row up to the session timeout (a
// just-started server on a busy disk can take over 3 s to grant one); EXPIRED and AUTH_FAILED
// renew the client at once. Every (re)connect reads the root again: the watches may have missed changes.
import type { ACL, Client, State as ZkState } from 'node-zookeeper-client'
import type { Logger } from 'pino'
import type { Config } from '../../config/schema/index.js'
import { parseDuration } from '../../config/units.js'
import { KINDS, type Kind } from '../admin/resources.js'
import { backoff, errText, KeyedSource, type Entry, type FailureReason, type KeyedChange } from './keyed.js'
import type { WriteResult } from './source.js'
import { loadZookeeperClient, stallDeadlineMs, type Zk } from '../../upstream/discovery/zk-client.js'

type Obj = Record<string, unknown>
export type ZookeeperCenterConfig = NonNullable<NonNullable<Config['config_center']>['zookeeper']>

const codeOf = (err: unknown): number | undefined => (err as { getCode?: () => number } | null)?.getCode?.()

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms}ms`), { code: 'timeout' })), ms)
    }),
  ])
}

export class ZookeeperSource extends KeyedSource {
  readonly name = 'zookeeper' as const
  protected readonly label = 'ZooKeeper'
  protected readonly location: string
  readonly #servers: string
  readonly #root: string
  readonly #auth: string | undefined
  readonly #sessionTimeoutMs: number
  readonly #timeoutMs: number
  #zk: Zk | null = null
  #client: Client | null = null
  #connected = false
  #following = false
  /** Resolved by the next session (initial() and writes wait on it). */
  #waiters: Array<() => void> = []
  #stalls = 0
  #renewals = 0
  #lost: NodeJS.Timeout | null = null
  #retry: NodeJS.Timeout | null = null
  #reading = false
  #again = false
  #rootMissing = false
  /** Root reads completed (for tests and /status). */
  reads = 0

  constructor(opts: { settings: Obj; policy: ZookeeperCenterConfig; cacheFile: string; logger: Logger }) {
    super(opts)
    const p = opts.policy
    this.#servers = (p.servers ?? ['127.0.0.1:2181']).join(',')
    this.#root = p.root ?? '/portico'
    this.#auth = p.username === undefined ? undefined : `${p.username}:${p.password ?? ''}`
    this.#sessionTimeoutMs = Math.max(1000, parseDuration(p.session_timeout ?? '10s'))
    this.#timeoutMs = Math.max(1, parseDuration(p.timeout ?? '5s'))
    // The cache is keyed by it: the root, not the server list (an ensemble may change its addresses).
    this.location = this.#root
  }

  keyOf(kind: Kind, name: string): string {
    return `${this.#root}/${kind}/${name}`
  }

  protected resourceOf(key: string): { kind: Kind; name: string } | undefined {
    if (!key.startsWith(`${this.#root}/`)) return undefined
    const [kind, name, ...more] = key.slice(this.#root.length + 1).split('/')
    if (kind === undefined || name === undefined || name === '' || more.length > 0 || !KINDS.includes(kind as Kind)) return undefined
    return { kind: kind as Kind, name }
  }

  // --- connection ---

  async #module(): Promise<Zk> {
    if (this.#zk === null) {
      this.#zk = await loadZookeeperClient()
    }
    return this.#zk
  }

  #connect(): void {
    if (this.closed || this.#zk === null) return
    const client = this.#zk.createClient(this.#servers, { sessionTimeout: this.#sessionTimeoutMs, spinDelay: 500, retries: 0 })
    this.#client = client
    if (this.#auth !== undefined) client.addAuthInfo('digest', Buffer.from(this.#auth))
    client.on('state', (s: ZkState) => this.#onState(client, s))
    client.connect()
    this.#armLost(client, stallDeadlineMs(this.#stalls, this.#timeoutMs, this.#sessionTimeoutMs), 'no ZooKeeper session established')
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
    if (this.closed || client !== this.#client) return
    const S = this.#zk!.State
    if (s === S.SYNC_CONNECTED || s === S.CONNECTED_READ_ONLY) {
      this.#connected = true
      this.#stalls = 0
      this.#renewals = 0
      if (this.#lost !== null) clearTimeout(this.#lost)
      this.#lost = null
      for (const w of this.#waiters.splice(0)) w()
      if (this.#following) this.#read()
    } else if (s === S.DISCONNECTED) {
      this.#connected = false
      this.fail('unreachable', new Error(`disconnected from ZooKeeper ${this.#servers}`))
      this.#armLost(client, this.#sessionTimeoutMs, 'ZooKeeper session lost (disconnected past its timeout)')
    } else if (s === S.EXPIRED || s === S.AUTH_FAILED) {
      this.#connected = false
      this.#renew(client, s === S.AUTH_FAILED ? 'auth' : 'watch_lost', `ZooKeeper session ${s.name}`)
    }
  }

  /** The session is gone (its watches too): a new client, a new session, a fresh read. */
  #renew(client: Client, reason: FailureReason, why: string): void {
    this.fail(reason, new Error(why))
    client.close()
    if (this.#client === client) this.#client = null
    if (this.#lost !== null) clearTimeout(this.#lost)
    this.#lost = null
    if (this.#retry !== null) clearTimeout(this.#retry)
    this.#retry = setTimeout(() => {
      this.#retry = null
      this.#connect()
    }, backoff(++this.#renewals, 200, 5000))
    this.#retry.unref()
  }

  /** A connected client, or a rejection after `ms`. */
  async #session(ms: number): Promise<Client> {
    await this.#module()
    if (this.#client === null && this.#retry === null) this.#connect()
    if (!this.#connected) await withDeadline(new Promise<void>((r) => this.#waiters.push(r)), ms, `ZooKeeper session with ${this.#servers}`)
    if (this.closed || this.#client === null) throw new Error('the ZooKeeper source is closed')
    return this.#client
  }

  // --- reading ---

  readonly #onWatch = (): void => this.#read()

  #call<T>(fn: (cb: (err: unknown, v: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => fn((err, v) => (err === null || err === undefined ? resolve(v) : reject(err))))
  }

  /** The root's resources now, with watches set; `missing` when the root znode does not exist. */
  async #readRoot(client: Client): Promise<{ entries: Map<string, Entry>; position: string; missing: boolean }> {
    const zk = this.#zk!
    const NO_NODE = zk.Exception.NO_NODE
    const entries = new Map<string, Entry>()
    let top = 0n
    const rootStat = await this.#call<unknown>((cb) => client.exists(this.#root, this.#onWatch, cb))
    if (rootStat === null || rootStat === undefined) return { entries, position: '0', missing: true }
    await Promise.all(
      KINDS.map(async (kind) => {
        const dir = `${this.#root}/${kind}`
        let children: string[]
        try {
          children = await this.#call<string[]>((cb) => client.getChildren(dir, this.#onWatch, cb))
        } catch (err) {
          if (codeOf(err) !== NO_NODE) throw err
          // No such kind yet: watch for its creation.
          await this.#call<unknown>((cb) => client.exists(dir, this.#onWatch, cb))
          return
        }
        await Promise.all(
          children.map(async (name) => {
            const path = `${dir}/${name}`
            try {
              const [data, stat] = await new Promise<[Buffer | undefined, { version: number; ctime: Buffer; mzxid: Buffer }]>((resolve, reject) =>
                client.getData(path, this.#onWatch, (err, d, st) => (err ? reject(err) : resolve([d, st as never]))),
              )
              const mz = stat.mzxid.readBigUInt64BE(0)
              if (mz > top) top = mz
              entries.set(path, { value: data === undefined || data === null ? '' : data.toString('utf8'), version: String(stat.version), order: Number(stat.ctime.readBigInt64BE(0)) })
            } catch (err) {
              // Removed between the listing and this read: the children watch brings the next read.
              if (codeOf(err) !== NO_NODE) throw err
            }
          }),
        )
      }),
    )
    return { entries, position: `0x${top.toString(16)}`, missing: false }
  }

  protected async fetchAll(): Promise<{ entries: Map<string, Entry>; position: string }> {
    const client = await this.#session(this.#timeoutMs)
    const r = await withDeadline(this.#readRoot(client), this.#timeoutMs, 'ZooKeeper read')
    this.#rootMissing = r.missing
    return r
  }

  protected follow(): void {
    this.#following = true
    void this.#module().then(() => {
      if (this.#client === null && this.#retry === null) this.#connect()
      else if (this.#connected) this.#read()
    })
  }

  #read(): void {
    if (this.closed) return
    if (this.#reading) {
      this.#again = true
      return
    }
    const client = this.#client
    if (client === null || !this.#connected) return
    this.#reading = true
    void this.#readRoot(client)
      .then((r) => {
        if (this.closed || client !== this.#client) return
        this.reads++
        if (r.missing && this.entries.size > 0) {
          if (!this.#rootMissing) this.logger.error({ root: this.#root }, `ZooKeeper: the root znode ${this.#root} is gone (a wiped ensemble or another chroot?); the current config keeps serving until it is back or SIGHUP`)
          this.#rootMissing = true
        } else {
          this.#rootMissing = r.missing
          this.replace(r.entries, r.position)
        }
        this.ok()
      })
      .catch((err: unknown) => {
        if (this.closed) return
        const code = codeOf(err)
        this.fail(code === this.#zk!.Exception.NO_AUTH ? 'auth' : 'watch_lost', err)
        // Connection loss: the reconnect reads again. Anything else: retry with backoff.
        if (this.#connected && this.#retry === null) {
          this.#retry = setTimeout(() => {
            this.#retry = null
            this.#read()
          }, backoff(2, 200, 5000))
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

  protected override statusExtra(): Record<string, unknown> {
    return { root: this.#root, session: this.#connected, ...(this.#rootMissing ? { root_missing: true } : {}) }
  }

  // --- writes ---

  async #ensure(client: Client, path: string, acl: ACL[]): Promise<void> {
    const zk = this.#zk!
    try {
      await this.#call<string>((cb) => client.create(path, acl, zk.CreateMode.PERSISTENT, cb))
    } catch (err) {
      if (codeOf(err) !== zk.Exception.NODE_EXISTS) throw err
    }
  }

  protected async commit(changes: KeyedChange[]): Promise<WriteResult> {
    const zk = this.#zk!
    // With credentials, what the gateway creates is the creator's only (not world-writable config).
    // (The lists are on the ACL class at runtime; the typings leave them out.)
    const lists = zk.ACL as unknown as { OPEN_ACL_UNSAFE: ACL[]; CREATOR_ALL_ACL: ACL[] }
    const acl = this.#auth !== undefined ? lists.CREATOR_ALL_ACL : lists.OPEN_ACL_UNSAFE
    let results: Array<{ stat?: { version: number; ctime: Buffer } }>
    try {
      const client = await this.#session(this.#timeoutMs)
      await withDeadline(
        (async () => {
          // The root and its ancestors (a root like /env/prod/portico), then each kind's parent.
          const parts = this.#root.split('/').slice(1)
          for (let i = 1; i <= parts.length; i++) await this.#ensure(client, `/${parts.slice(0, i).join('/')}`, acl)
          for (const kind of new Set(changes.map((c) => c.kind))) await this.#ensure(client, `${this.#root}/${kind}`, acl)
        })(),
        this.#timeoutMs,
        'ZooKeeper write',
      )
      const txn = client.transaction()
      for (const c of changes) {
        if (c.op === 'delete') txn.remove(c.key, c.version === undefined ? -1 : Number(c.version))
        else if (c.version === undefined) txn.create(c.key, Buffer.from(c.value!, 'utf8'), acl, zk.CreateMode.PERSISTENT)
        else txn.setData(c.key, Buffer.from(c.value!, 'utf8'), Number(c.version))
      }
      results = await withDeadline(this.#call<typeof results>((cb) => txn.commit(cb as never)), this.#timeoutMs, 'ZooKeeper write')
    } catch (err) {
      const code = codeOf(err)
      const E = zk.Exception
      // Someone else changed (BAD_VERSION), created (NODE_EXISTS) or removed (NO_NODE) it first.
      if (code === E.BAD_VERSION || code === E.NODE_EXISTS || code === E.NO_NODE) return { ok: false, reason: 'conflict', errors: [] }
      if (code === E.NO_AUTH) return { ok: false, reason: 'rejected', errors: [{ path: '', message: `ZooKeeper refused the write (NO_AUTH): the user needs write on ${this.#root}` }] }
      return { ok: false, reason: 'rejected', errors: [{ path: '', message: `ZooKeeper write failed: ${errText(err)}; it may or may not have been applied, read again` }] }
    }
    // Hold the written versions at once: the next write compares against them, not a stale one.
    changes.forEach((c, i) => {
      if (c.op === 'delete') return this.hold(c.key, undefined)
      const before = this.entries.get(c.key)
      const version = c.version === undefined ? 0 : (results[i]?.stat?.version ?? Number(c.version) + 1)
      this.hold(c.key, { value: c.value!, version: String(version), order: before?.order ?? Date.now() })
    })
    return { ok: true }
  }

  protected async stop(): Promise<void> {
    if (this.#retry !== null) clearTimeout(this.#retry)
    if (this.#lost !== null) clearTimeout(this.#lost)
    this.#client?.close()
    this.#client = null
    for (const w of this.#waiters.splice(0)) w()
  }
}
