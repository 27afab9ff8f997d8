// The /status document: routes from the serving config, upstreams live from every worker's
// DataPlane.status() (per worker and merged), workers, config version and the last reload. Pure
// functions, so the merge rules are unit-tested without processes; primary.ts gathers the inputs.
import type { Config } from '../config/schema/index.js'
import type { DataPlaneStatus } from '../dataplane/data-plane.js'
import type { WorkerInfo, WorkerPlaneStatus } from './pool.js'
import type { CertificateSummary } from '../tls/certificate.js'
import type { AcmeRenewalStatus } from '../tls/acme/manager.js'

export interface RouteStatus {
  name: string
  hosts: string[] | null
  methods: string[] | null
  paths: string[]
  /** The upstream, or a traffic split as "name:weight name:weight". */
  upstream: string
  /** Plugins in effect: global ones (unless disabled on the route) merged with the route's own. */
  plugins: string[]
}

export interface TargetWorkerState {
  url: string
  healthy: boolean
  ejected: boolean
  in_flight: number
}

export interface TargetStatus {
  url: string
  weight: number
  /** Merged: healthy on every worker that answered; null when no worker answered. */
  healthy: boolean | null
  /** Merged: ejected (passive checks) on at least one worker. */
  ejected: boolean
  /** Summed over workers. */
  in_flight: number
  /** Workers that see this target out of rotation. */
  unhealthy_on: number[]
}

export interface UpstreamWorkerState {
  slot: number
  breaker: string | null
  in_flight: number | null
  queued: number | null
  targets: TargetWorkerState[]
}

export interface UpstreamStatus {
  balancer: string
  /** Merged: the worst state any worker reports (open > half-open > closed); null = no breaker. */
  breaker: string | null
  in_flight: number | null
  queued: number | null
  targets: TargetStatus[]
  workers: UpstreamWorkerState[]
}

const BREAKER_RANK: Record<string, number> = { closed: 0, 'half-open': 1, open: 2 }

function worseBreaker(a: string | null, b: string | null): string | null {
  if (a === null) return b
  if (b === null) return a
  return (BREAKER_RANK[b] ?? 0) > (BREAKER_RANK[a] ?? 0) ? b : a
}

const addNullable = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : a + b)

/** Routes as the config declares them, with the effective plugin list (names only). */
export function routeStatus(config: Config): RouteStatus[] {
  const global = (config.plugins ?? []).filter((p) => p.enabled !== false).map((p) => p.name)
  return config.routes.map((r) => {
    const own = r.plugins ?? []
    const off = new Set(own.filter((p) => p.enabled === false).map((p) => p.name))
    const plugins = global.filter((n) => !off.has(n))
    for (const p of own) if (p.enabled !== false && !plugins.includes(p.name)) plugins.push(p.name)
    return { name: r.name, hosts: r.hosts ?? null, methods: r.methods ?? null, paths: r.paths, upstream: r.upstream ?? (r.upstreams ?? []).map((u) => `${u.name}:${u.weight}`).join(' '), plugins }
  })
}

/**
 * Upstreams merged over workers. Upstreams and targets are matched by name and URL (not position),
 * so workers on different config versions still merge sensibly. An upstream the config declares but
 * no worker reported (none answered yet) is listed from the config with health unknown (null).
 */
export function upstreamStatus(config: Config, planes: readonly WorkerPlaneStatus[]): Record<string, UpstreamStatus> {
  const out: Record<string, UpstreamStatus> = {}
  const targetsByUpstream = new Map<string, Map<string, TargetStatus>>()
  for (const { slot, status } of planes) {
    if (status === null) continue
    for (const [name, c] of Object.entries(status.upstreams)) {
      let u = out[name]
      let targets = targetsByUpstream.get(name)
      if (u === undefined || targets === undefined) {
        u = out[name] = { balancer: c.balancer, breaker: null, in_flight: null, queued: null, targets: [], workers: [] }
        targets = new Map()
        targetsByUpstream.set(name, targets)
      }
      u.breaker = worseBreaker(u.breaker, c.breaker)
      u.in_flight = addNullable(u.in_flight, c.in_flight)
      u.queued = addNullable(u.queued, c.queued)
      u.workers.push({
        slot,
        breaker: c.breaker,
        in_flight: c.in_flight,
        queued: c.queued,
        targets: c.targets.map((t) => ({ url: t.url, healthy: t.healthy, ejected: t.ejected, in_flight: t.in_flight })),
      })
      for (const t of c.targets) {
        let m = targets.get(t.url)
        if (m === undefined) {
          m = { url: t.url, weight: t.weight, healthy: true, ejected: false, in_flight: 0, unhealthy_on: [] }
          targets.set(t.url, m)
          u.targets.push(m)
        }
        if (!t.healthy) {
          m.healthy = false
          m.unhealthy_on.push(slot)
        }
        m.ejected ||= t.ejected
        m.in_flight += t.in_flight
      }
    }
  }
  for (const [name, def] of Object.entries(config.upstreams)) {
    if (out[name] !== undefined) continue
    out[name] = {
      balancer: def.balancer ?? 'round-robin',
      breaker: null,
      in_flight: null,
      queued: null,
      targets: (def.targets ?? []).map((t) => ({ url: t.url, weight: t.weight ?? 1, healthy: null, ejected: false, in_flight: 0, unhealthy_on: [] })),
      workers: [],
    }
  }
  return out
}

export interface StatusDocument {
  version: string
  mode: string
  pid: number
  uptime_s: number
  ready: boolean
  draining: boolean
  config: { file: string; version: number; hash: string; loaded_at: string }
  last_reload: { at: string; trigger: string; result: string; version: number | null; errors: Array<{ message: string }> } | null
  /** The last reloads (at most 10), newest first. */
  reloads?: Array<NonNullable<StatusDocument['last_reload']>>
  workers: Array<WorkerInfo & { answered: boolean; in_flight: number | null }>
  routes: RouteStatus[]
  upstreams: Record<string, UpstreamStatus>
  /** The shared Store per worker that answered (each worker has its own connections). */
  store?: Array<{ slot: number } & NonNullable<DataPlaneStatus['store']>>
  /** Served TLS certificates, one row per certificate (by fingerprint) over every worker. */
  certificates: CertificateStatus[]
  /** ACME-managed certificates: next check, orders, failures, the last error, the CA's ARI window. */
  acme?: AcmeRenewalStatus[]
  /** Open WebSocket sessions summed over the workers that answered, and per route. */
  websockets?: { open: number; routes: Record<string, number> }
  /** The fleet view's summary (etcd config source): count, behind, whether this instance is registered. */
  fleet?: Record<string, unknown>
}

/** WebSocket sessions summed over the workers that answered. */
export function websocketStatus(planes: readonly WorkerPlaneStatus[]): NonNullable<StatusDocument['websockets']> {
  const out = { open: 0, routes: {} as Record<string, number> }
  for (const { status } of planes) {
    const w = status?.websockets
    if (w === undefined) continue
    out.open += w.open
    for (const [route, n] of Object.entries(w.routes)) out.routes[route] = (out.routes[route] ?? 0) + n
  }
  return out
}

/** The Store as each worker sees it (Redis topology, nodes, connection states). */
export function storeStatus(planes: readonly WorkerPlaneStatus[]): NonNullable<StatusDocument['store']> {
  const out: NonNullable<StatusDocument['store']> = []
  for (const { slot, status } of planes) if (status?.store !== undefined) out.push({ slot, ...status.store })
  return out
}

export type CertificateStatus = CertificateSummary & { workers: number[] }

/** Certificates merged over workers: a row per fingerprint, with the workers serving it (a rotation shows both until every worker moved). */
export function certificateStatus(planes: readonly WorkerPlaneStatus[]): CertificateStatus[] {
  const out = new Map<string, CertificateStatus>()
  for (const { slot, status } of planes) {
    for (const c of status?.certificates ?? []) {
      let row = out.get(c.fingerprint256)
      if (row === undefined) out.set(c.fingerprint256, (row = { ...c, workers: [] }))
      if (!row.workers.includes(slot)) row.workers.push(slot)
    }
  }
  return [...out.values()]
}

/**
 * Worker rows with what each one reported live (in-flight requests; whether it answered). A worker
 * that answered states the config version of the Snapshot its answer describes: the primary's own
 * record moves when the worker's "loaded" message arrives, which can be after the worker answered
 * for its previous Snapshot, and the row must not pair the new version with the old upstreams.
 */
export function workerStatus(workers: readonly WorkerInfo[], planes: readonly WorkerPlaneStatus[]): StatusDocument['workers'] {
  const bySlot = new Map(planes.map((p) => [p.slot, p.status]))
  return workers.map((w) => {
    const s = bySlot.get(w.slot) ?? null
    return { ...w, config_version: s === null ? w.config_version : s.version, answered: s !== null, in_flight: s === null ? null : s.inFlight }
  })
}

// --- human-readable view (?format=text, or Accept: text/html) ---

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length))

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) => ('  ' + r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]!))).join('  ')).trimEnd()).join('\n')
}

const health = (h: boolean | null) => (h === null ? 'unknown' : h ? 'up' : 'DOWN')

export function renderStatusText(d: StatusDocument): string {
  const lines: string[] = []
  lines.push(`Portico ${d.version}  mode=${d.mode}  pid=${d.pid}  uptime=${d.uptime_s}s  ready=${d.ready}${d.draining ? '  DRAINING' : ''}`)
  lines.push(`config  ${d.config.file}  version ${d.config.version}  hash ${d.config.hash.slice(0, 12)}  loaded ${d.config.loaded_at}`)
  const r = d.last_reload
  lines.push(
    r === null
      ? 'last reload  none'
      : `last reload  ${r.result}  (${r.trigger}, ${r.at}${r.version === null ? '' : `, version ${r.version}`})${r.errors.length > 0 ? `: ${r.errors.map((e) => e.message).join('; ')}` : ''}`,
  )
  const f = d.fleet
  if (f !== undefined) {
    lines.push(`fleet  ${String(f.count)} instance(s), ${String(f.behind)} behind  id ${String(f.id)}  ${f.registered === true ? 'registered' : 'NOT REGISTERED'}${f.synced === true ? '' : '  (not synced with etcd)'}`)
  }
  lines.push('', 'WORKERS')
  lines.push(
    table([
      ['slot', 'pid', 'state', 'config', 'in-flight', 'restarts', 'last error'],
      ...d.workers.map((w) => [
        String(w.slot),
        String(w.pid ?? '-'),
        w.state,
        w.config_version === null ? '-' : `v${w.config_version}`,
        w.in_flight === null ? (w.answered ? '-' : 'no answer') : String(w.in_flight),
        String(w.restarts),
        w.last_error ?? '',
      ]),
    ]),
  )
  lines.push('', 'ROUTES')
  lines.push(
    table([
      ['name', 'methods', 'paths', 'upstream', 'plugins'],
      ...d.routes.map((rt) => [rt.name, rt.methods?.join(',') ?? '*', rt.paths.join(' '), rt.upstream, rt.plugins.join(',') || '-']),
    ]),
  )
  lines.push('', 'UPSTREAMS')
  for (const [name, u] of Object.entries(d.upstreams)) {
    const up = u.targets.filter((t) => t.healthy === true).length
    lines.push(
      `  ${name}  balancer=${u.balancer}  breaker=${u.breaker ?? 'none'}  in-flight=${u.in_flight ?? 0}${u.queued !== null ? `  queued=${u.queued}` : ''}  targets ${up}/${u.targets.length} up`,
    )
    const perWorker = (url: string) =>
      u.workers.map((w) => {
        const t = w.targets.find((x) => x.url === url)
        return `w${w.slot}:${t === undefined ? '-' : t.ejected ? 'ejected' : t.healthy ? 'up' : 'down'}`
      })
    lines.push(
      table([
        ['  target', 'weight', 'health', 'in-flight', 'per worker'],
        ...u.targets.map((t) => [`  ${t.url}`, String(t.weight), health(t.healthy) + (t.ejected ? ' (ejected)' : ''), String(t.in_flight), perWorker(t.url).join(' ')]),
      ]),
    )
  }
  if (d.websockets !== undefined && d.websockets.open > 0) {
    lines.push('', `WEBSOCKETS  ${d.websockets.open} open  ${Object.entries(d.websockets.routes).map(([r, n]) => `${r}=${n}`).join(' ')}`)
  }
  const st = d.store?.[0]
  if (st !== undefined) {
    lines.push('', `STORE  ${st.kind}  topology=${st.topology}  state=${st.state}  (worker ${st.slot})`)
    if (st.last_error !== undefined) lines.push(`  last error: ${st.last_error}`)
    if (st.nodes.length > 0) lines.push(table([['  node', 'role', 'state'], ...st.nodes.map((n) => [`  ${n.address}`, n.role, n.state])]))
  }
  if (d.certificates.length > 0) {
    lines.push('', 'CERTIFICATES')
    lines.push(table([['name', 'names', 'key', 'not after', 'issuer', 'source'], ...d.certificates.map((c) => [c.name, c.names.join(','), c.key_type, c.not_after, c.issuer, c.source])]))
  }
  if (d.acme !== undefined && d.acme.length > 0) {
    lines.push('', 'ACME')
    lines.push(
      table([
        ['name', 'names', 'next check', 'orders', 'failures', 'last error'],
        ...d.acme.map((a) => [a.name, a.names.join(','), a.ordering ? 'ordering now' : (a.next_check ?? '-'), String(a.orders), String(a.failures), a.last_error === null ? '-' : `${a.last_error.at} ${a.last_error.message}`]),
      ]),
    )
  }
  return lines.join('\n') + '\n'
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function renderStatusHtml(d: StatusDocument): string {
  const text = renderStatusText(d).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)
  return (
    '<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Portico status</title>' +
    '<style>body{font:13px ui-monospace,monospace;margin:1.5em}pre{white-space:pre}</style></head><body><pre>' +
    text.replace(/\bDOWN\b/g, '<b style="color:#b00">DOWN</b>') +
    '</pre><p>JSON: <a href="?format=json">?format=json</a> · refreshes every 5 s</p></body></html>\n'
  )
}
