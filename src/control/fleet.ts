// The fleet view (docs/config-center.md#fleet-view): with etcd as the config center, every instance
// keeps one record in etcd, <fleet prefix><node id>, under a lease of `ttl` that it keeps alive: who
// it is (id, hostname, pid, version, build), where it listens (admin and data plane), what config
// it serves (local version and hash, the etcd revision and the hash of the resources it was read
// from), whether it is ready, when it started and when the record was last written. The record is
// written again when any of that changes (checked every second and after each reload); keepalives
// alone prove liveness, so an idle instance's updated_at stays old. SIGTERM revokes the lease (the
// record goes at once); a killed instance's record goes when the lease expires.
//
// Every instance also follows the fleet prefix (list + watch), so GET /admin/fleet, /status and
// portico_fleet_instances answer from memory. An etcd outage never touches traffic: writes fail
// and are retried, a lost lease is granted again and the record re-registered when etcd answers,
// and the view says `synced: false` meanwhile.
import { hostname } from 'node:os'
import type { Etcd3, Lease, Watcher } from 'etcd3'
import type { Logger } from 'pino'
import { Gauge } from 'prom-client'
import { registry } from '../observability/metrics.js'
import { withTimeout, type ConfigPosition } from './sources/etcd.js'

export const fleetInstances = new Gauge({
  name: 'portico_fleet_instances',
  help: 'Instances registered in the fleet view (etcd), by state: current, or behind (serving an older config revision than the newest one served or read).',
  labelNames: ['state'] as const,
  registers: [registry],
})

export const fleetRegistered = new Gauge({
  name: 'portico_fleet_registered',
  help: 'Whether this instance holds its fleet record in etcd (1) or is re-registering (0).',
  registers: [registry],
})

/** What an instance writes about itself. */
export interface FleetRecord {
  id: string
  hostname: string
  pid: number
  version: string
  /** PORTICO_BUILD from the environment (an image tag or commit, set at build time); null when unset. */
  build: string | null
  node: string
  /** The admin listener's bound address (host:port). */
  admin: string | null
  /** The data-plane listeners as configured. */
  listen: Array<{ address: string; proto: string }>
  config: {
    /** This instance's config version (counts its reloads; not comparable across instances). */
    version: number
    /** The serving document's hash (covers this instance's bootstrap settings too). */
    hash: string
    /** The etcd revision the serving resources were read at. */
    revision: string | null
    /** The hash of those resources: equal on every instance serving the same etcd state. */
    resources: string | null
  }
  ready: boolean
  /** Why not ready, or what readiness notes (serving a cached config, etcd disconnected). */
  health_detail: string | null
  started_at: string
  updated_at: string
}

export type LocalRecord = Omit<FleetRecord, 'id' | 'hostname' | 'pid' | 'version' | 'build' | 'node' | 'started_at' | 'updated_at'>

export interface FleetEntry extends FleetRecord {
  /** Its revision is older than the newest one any instance serves (or this instance's source holds), with other resources. */
  behind: boolean
  /** Seconds since updated_at, by the answering instance's clock. */
  updated_ago_s: number
  /** The instance that answered. */
  self: boolean
}

export interface FleetOptions {
  client: () => Promise<Etcd3>
  /** The fleet prefix, ending in '/'. */
  prefix: string
  ttlSeconds: number
  /** node_id, or undefined: <hostname>-<pid>. */
  nodeId: string | undefined
  timeoutMs: number
  logger: Logger
  version: string
  /** This instance's changing part of the record, read at every check. */
  local: () => LocalRecord
  /** The newest resources this instance's source holds (the source's current revision). */
  held: () => ConfigPosition | null
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function parseRecord(text: string): FleetRecord | null {
  try {
    const v: unknown = JSON.parse(text)
    return isObj(v) && typeof v.id === 'string' && isObj(v.config) ? (v as unknown as FleetRecord) : null
  } catch {
    return null
  }
}

/**
 * Which records are behind: the newest position is the highest revision among the records and
 * the local source's; a record is behind when its revision is lower and its resources differ (a
 * lower revision with the same resources is the same config: revisions also move for other keys).
 */
export function assess(records: readonly FleetRecord[], held: ConfigPosition | null, now: number, selfId: string): { entries: FleetEntry[]; newest: ConfigPosition | null } {
  let newest: ConfigPosition | null = held
  for (const r of records) {
    const rev = r.config.revision
    if (rev === null || r.config.resources === null) continue
    if (newest === null || BigInt(rev) > BigInt(newest.revision)) newest = { revision: rev, resources: r.config.resources }
  }
  const entries = [...records]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((r) => ({
      ...r,
      behind: newest !== null && r.config.revision !== null && BigInt(r.config.revision) < BigInt(newest.revision) && r.config.resources !== newest.resources,
      updated_ago_s: Math.max(0, Math.round((now - Date.parse(r.updated_at)) / 100) / 10),
      self: r.id === selfId,
    }))
  return { entries, newest }
}

export class Fleet {
  readonly id: string
  readonly #o: FleetOptions
  readonly #key: string
  readonly #startedAt = new Date().toISOString()
  readonly #host = hostname()
  #lease: Lease | null = null
  #registered = false
  /** The record as last written, without updated_at: a check that builds the same writes nothing. */
  #written: string | null = null
  #writing = false
  #again = false
  #registerTimer: NodeJS.Timeout | null = null
  #registerBackoff = 250
  #tick: NodeJS.Timeout | null = null
  #closed = false
  #lastError: string | null = null
  /** Other processes seen under our key (hostname/pid/started_at): each warned about once. */
  #warned = new Set<string>()
  // --- the view ---
  #records = new Map<string, FleetRecord>()
  #watcher: Watcher | null = null
  #synced = false
  #viewTimer: NodeJS.Timeout | null = null
  #viewBackoff = 250

  constructor(opts: FleetOptions) {
    this.#o = opts
    this.id = opts.nodeId ?? `${this.#host}-${process.pid}`
    this.#key = `${opts.prefix}${this.id}`
  }

  start(): void {
    fleetRegistered.set(0)
    this.#scheduleRegister(0)
    this.#scheduleView(0)
    // Readiness has no event: a cheap comparison every second (no etcd call unless something changed).
    this.#tick = setInterval(() => this.poke(), 1000)
    this.#tick.unref()
  }

  // --- registration ---

  #record(): { body: Omit<FleetRecord, 'updated_at'>; text: string } {
    const body = {
      id: this.id,
      hostname: this.#host,
      pid: process.pid,
      version: this.#o.version,
      build: process.env.PORTICO_BUILD ?? null,
      node: process.version,
      ...this.#o.local(),
      started_at: this.#startedAt,
    }
    return { body, text: JSON.stringify(body) }
  }

  #scheduleRegister(ms: number): void {
    if (this.#closed || this.#registerTimer !== null) return
    this.#registerTimer = setTimeout(() => {
      this.#registerTimer = null
      void this.#register()
    }, ms)
    this.#registerTimer.unref()
  }

  /** A new lease and the record under it; on failure, again with backoff (250 ms doubling to 5 s). */
  async #register(): Promise<void> {
    if (this.#closed) return
    let lease: Lease | null = null
    try {
      const client = await this.#o.client()
      lease = client.lease(this.#o.ttlSeconds)
      const own = lease
      this.#lease = lease
      own.on('lost', (err) => {
        if (this.#lease !== own || this.#closed) return
        const was = this.#registered
        this.#lease = null
        this.#setRegistered(false)
        this.#lastError = err.message
        if (was) this.#o.logger.warn({ err: err.message, key: this.#key }, 'fleet: lease lost; registering again when etcd answers')
        this.#scheduleRegister(this.#registerBackoff)
      })
      await withTimeout(own.grant(), this.#o.timeoutMs, 'etcd lease grant')
      const { body, text } = this.#record()
      // Another live process with the same node_id: both would overwrite one record. Said, not refused.
      const existing = await withTimeout(client.get(this.#key).string(), this.#o.timeoutMs, 'etcd fleet get')
      const other = existing === null ? null : parseRecord(existing)
      if (other !== null) this.#collision(other)
      await withTimeout(own.put(this.#key).value(JSON.stringify({ ...body, updated_at: new Date().toISOString() })).exec(), this.#o.timeoutMs, 'etcd fleet put')
      if (this.#closed || this.#lease !== own) return
      this.#written = text
      this.#registerBackoff = 250
      this.#lastError = null
      this.#setRegistered(true)
      this.#o.logger.info({ key: this.#key, ttl_s: this.#o.ttlSeconds }, 'fleet: registered')
    } catch (err) {
      this.#lastError = (err as Error).message
      if (lease !== null && this.#lease === lease) {
        this.#lease = null
        // Not revoke(): etcd may be down; an orphan lease holds at most this key and expires.
        lease.release()
      }
      if (this.#closed) return
      this.#o.logger.debug({ err: this.#lastError }, 'fleet: registration failed; retrying')
      this.#scheduleRegister(this.#registerBackoff)
      this.#registerBackoff = Math.min(5000, this.#registerBackoff * 2)
    }
  }

  /** A record of another process under our key: said once per process, not refused (both keep overwriting it). */
  #collision(other: FleetRecord): void {
    if (this.#isSelf(other)) return
    const who = `${other.hostname}/${other.pid}/${other.started_at}`
    if (this.#warned.has(who)) return
    this.#warned.add(who)
    this.#o.logger.warn({ key: this.#key, other: { hostname: other.hostname, pid: other.pid, started_at: other.started_at } }, 'fleet: another instance holds this node_id (or its record has not expired yet); give each instance its own config_center.etcd.fleet.node_id')
  }

  #isSelf(r: FleetRecord): boolean {
    return r.id === this.id && r.pid === process.pid && r.hostname === this.#host && r.started_at === this.#startedAt
  }

  #setRegistered(on: boolean): void {
    this.#registered = on
    fleetRegistered.set(on ? 1 : 0)
  }

  /** Something this instance reports may have changed (a reload, readiness): write the record if it did. */
  poke(): void {
    if (this.#closed || !this.#registered || this.#lease === null) return
    if (this.#writing) {
      this.#again = true
      return
    }
    const { body, text } = this.#record()
    if (text === this.#written) return
    const lease = this.#lease
    this.#writing = true
    withTimeout(lease.put(this.#key).value(JSON.stringify({ ...body, updated_at: new Date().toISOString() })).exec(), this.#o.timeoutMs, 'etcd fleet put')
      .then(
        () => {
          if (this.#lease === lease) this.#written = text
        },
        (err: unknown) => {
          // Retried by the next check; a lease etcd no longer knows fires 'lost' (re-registration).
          this.#lastError = (err as Error).message
        },
      )
      .finally(() => {
        this.#writing = false
        if (this.#again) {
          this.#again = false
          this.poke()
        }
      })
  }

  // --- the view: list + watch of the fleet prefix ---

  #scheduleView(ms: number): void {
    if (this.#closed || this.#viewTimer !== null) return
    this.#viewTimer = setTimeout(() => {
      this.#viewTimer = null
      void this.#follow()
    }, ms)
    this.#viewTimer.unref()
  }

  async #follow(): Promise<void> {
    try {
      const client = await this.#o.client()
      const res = await withTimeout(client.getAll().prefix(this.#o.prefix).exec(), this.#o.timeoutMs, 'etcd fleet list')
      const records = new Map<string, FleetRecord>()
      for (const kv of res.kvs) {
        const r = parseRecord(kv.value.toString())
        if (r !== null) records.set(kv.key.toString(), r)
      }
      if (this.#closed) return
      this.#records = records
      const watcher = await client.watch().prefix(this.#o.prefix).startRevision(String(BigInt(res.header.revision) + 1n)).create()
      if (this.#closed) {
        await watcher.cancel().catch(() => undefined)
        return
      }
      this.#watcher = watcher
      this.#synced = true
      this.#viewBackoff = 250
      this.#changed()
      watcher.on('put', (kv) => {
        const r = parseRecord(kv.value.toString())
        if (r === null) this.#records.delete(kv.key.toString())
        else this.#records.set(kv.key.toString(), r)
        if (r !== null && kv.key.toString() === this.#key) this.#collision(r)
        this.#changed()
      })
      watcher.on('delete', (kv) => {
        this.#records.delete(kv.key.toString())
        // Our key went while our lease lives: another process with our node_id stopped (its revoke
        // deleted the key it had last written) or someone deleted it. Write the record again.
        if (kv.key.toString() === this.#key && this.#registered && !this.#closed) {
          this.#o.logger.warn({ key: this.#key }, "fleet: this instance's record was deleted while it is live (another process with the same node_id stopped, or the key was deleted); writing it again")
          this.#written = null
          this.poke()
        }
        this.#changed()
      })
      watcher.on('disconnected', () => (this.#synced = false))
      watcher.on('connected', () => (this.#synced = true))
      watcher.on('error', () => {
        // Cancelled by etcd (compacted past our revision): list again.
        if (this.#watcher !== watcher || this.#closed) return
        this.#watcher = null
        this.#synced = false
        void watcher.cancel().catch(() => undefined)
        this.#scheduleView(this.#viewBackoff)
      })
    } catch (err) {
      this.#synced = false
      this.#o.logger.debug({ err: (err as Error).message }, 'fleet: listing the fleet failed; retrying')
      this.#scheduleView(this.#viewBackoff)
      this.#viewBackoff = Math.min(5000, this.#viewBackoff * 2)
    }
  }

  #changed(): void {
    const { entries } = this.view()
    const behind = entries.filter((e) => e.behind).length
    fleetInstances.set({ state: 'behind' }, behind)
    fleetInstances.set({ state: 'current' }, entries.length - behind)
  }

  /** GET /admin/fleet: every record with its assessment. */
  view(): { entries: FleetEntry[]; newest: ConfigPosition | null } {
    const { entries, newest } = assess([...this.#records.values()], this.#o.held(), Date.now(), this.id)
    // Under a shared node_id the one record may be the other process's: self is this process only.
    return { entries: entries.map((e) => (e.self && !this.#isSelf(e) ? { ...e, self: false } : e)), newest }
  }

  /** For GET /admin/fleet and /status. */
  state(): { id: string; key: string; prefix: string; ttl_s: number; registered: boolean; synced: boolean; last_error: string | null } {
    return { id: this.id, key: this.#key, prefix: this.#o.prefix, ttl_s: this.#o.ttlSeconds, registered: this.#registered, synced: this.#synced, last_error: this.#registered && this.#synced ? null : this.#lastError }
  }

  /** /status → fleet. */
  summary(): Record<string, unknown> {
    const { entries } = this.view()
    return { ...this.state(), count: entries.length, behind: entries.filter((e) => e.behind).length }
  }

  /** Graceful stop: revoke the lease so the record goes at once (bounded: etcd may be down). */
  async stop(): Promise<void> {
    this.#closed = true
    for (const t of [this.#tick, this.#registerTimer, this.#viewTimer]) if (t !== null) clearTimeout(t)
    const w = this.#watcher
    this.#watcher = null
    if (w !== null) await withTimeout(w.cancel(), 1000, 'fleet watch cancel').catch(() => undefined)
    const lease = this.#lease
    this.#lease = null
    this.#setRegistered(false)
    if (lease !== null) {
      await withTimeout(lease.revoke(), Math.min(this.#o.timeoutMs, 2000), 'etcd lease revoke').then(
        () => this.#o.logger.info({ key: this.#key }, 'fleet: lease revoked; record removed'),
        (err: Error) => this.#o.logger.warn({ err: err.message, key: this.#key }, 'fleet: lease revoke failed; the record goes when the lease expires'),
      )
    }
  }
}
