// `npm run bench:propagation`: config propagation through etcd (issue 15's goals).
//
// A real etcd (the Debian `etcd` binary) and three `portico start` instances from dist/ (A, B, C;
// PROP_WORKERS workers each, default 1: a primary and one worker, so the IPC to the worker is in
// the figures) on one `config_center.etcd` prefix. A 1,000-route document (every route a `mock`
// answering with a header `x-gen`) is seeded through A's admin API (PUT /admin/config). Then:
// - PROP_CHANGES (default 50) one-resource changes: PUT /admin/routes/<name> on A with If-Match,
//   the route's `x-gen` set to the iteration; from A's response, B and C are polled with real
//   requests through that route (every ~2 ms, kept-alive) until each answers the new `x-gen`.
// - PROP_REPLACES (default 10) whole-document replaces: PUT /admin/config on A with If-Match, every
//   route's `x-gen` changed (1,000 keys in one etcd transaction), measured the same way on a route
//   picked at random.
// The time is from A's response to each of B and C serving the new value; p50/p90/p99/max per kind
// and instance, against the goals (one resource p99 < 250 ms, whole document p99 < 1 s).
//
// The breakdown (what each part of the time is), per instance, from timestamps only: the bench's
// own etcd watch on the prefix (when etcd delivered the write's event), and B's and C's info logs
// ('config reload: sending new version to the data plane' once the document is rebuilt, validated
// and versioned; 'config reloaded' once every worker compiled and swapped it). The log time is
// pino's `time` (Date.now(), 1 ms), compared with Date.now() taken here: one machine, one clock.
//
// Writes bench/results/propagation.md. etcd, the gateways (their process groups) and the temp dir
// are removed at the end, on errors and on Ctrl-C.
//
// PROP_ROUTES=1000, PROP_CHANGES=50, PROP_REPLACES=10, PROP_WORKERS=1, PROP_DEADLINE_MS=30000,
// PROP_ETCD_MAX_TXN_OPS=2048 (etcd's default, 128, refuses a transaction of 1,000 puts: see the report).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Etcd3 } from 'etcd3'
import { Agent, request } from 'undici'

const ROOT = resolve(import.meta.dirname, '../..')
const MAIN = join(ROOT, 'dist/main.js')
const ROUTES = Number(process.env.PROP_ROUTES ?? 1000)
const CHANGES = Number(process.env.PROP_CHANGES ?? 50)
const REPLACES = Number(process.env.PROP_REPLACES ?? 10)
const WORKERS = Number(process.env.PROP_WORKERS ?? 1)
const DEADLINE_MS = Number(process.env.PROP_DEADLINE_MS ?? 30_000)
const MAX_TXN_OPS = Number(process.env.PROP_ETCD_MAX_TXN_OPS ?? 2048)
const PREFIX = '/portico-bench/'
const GOALS = { resource: 250, document: 1000 } as const

// --- processes and cleanup ---

const children = new Set<ChildProcess>()
let dir: string | undefined

function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return
  try {
    process.kill(-c.pid, sig)
  } catch {
    // gone
  }
}

async function cleanup(): Promise<void> {
  await Promise.all(
    [...children].map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise((r) => c.once('exit', r))
      killGroup(c, 'SIGTERM')
      const t = setTimeout(() => killGroup(c, 'SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
      killGroup(c, 'SIGKILL') // a worker left behind by its primary
    }),
  )
  children.clear()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  dir = undefined
}

process.once('exit', () => {
  for (const c of children) killGroup(c, 'SIGKILL')
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping etcd and the gateways`)
    void cleanup().finally(() => process.exit(130))
  })
}

/** A free loopback port (listen on 0, read, close; bench only). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => res(port))
    })
  })
}

async function until<T>(what: string, fn: () => Promise<T | null | false>, timeoutMs = 60_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => null)
    if (v !== null && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

async function startEtcd(): Promise<string> {
  const [port, peer] = [await freePort(), await freePort()]
  const client = `http://127.0.0.1:${port}`
  const peerUrl = `http://127.0.0.1:${peer}`
  const c = spawn(
    'etcd',
    [
      '--name', 'bench', '--data-dir', join(dir!, 'etcd'),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `bench=${peerUrl}`, '--log-level', 'error',
      '--max-txn-ops', String(MAX_TXN_OPS),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], detached: true, env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === 'arm64' ? 'arm64' : '' } },
  )
  children.add(c)
  const failed = new Promise<never>((_, rej) => {
    c.once('error', (e) => rej(new Error(`cannot start etcd (apt-get install etcd-server): ${e.message}`)))
    c.once('exit', (code) => rej(new Error(`etcd exited (code ${code})`)))
  })
  failed.catch(() => undefined)
  await Promise.race([failed, until('etcd /health', async () => {
    const r = await request(`${client}/health`)
    return (await r.body.text()).includes('"health":"true"')
  })])
  return client
}

interface LogLine {
  time: number
  msg: string
  trigger?: string
  version?: number
}

interface Gw {
  name: string
  url: string
  admin: string
  logs: LogLine[]
  child: ChildProcess
}

async function startGateway(name: string, etcdUrl: string): Promise<Gw> {
  const [port, adminPort] = [await freePort(), await freePort()]
  const file = join(dir!, `${name}.json`)
  writeFileSync(
    file,
    JSON.stringify({
      server: { listen: `127.0.0.1:${port}` },
      admin: { listen: `127.0.0.1:${adminPort}` },
      // info: the reload logs are the breakdown's timestamps. No access log (the polling would fill it).
      log: { level: 'info', access_log: { enabled: false } },
      config_center: { etcd: { endpoints: [etcdUrl], prefix: PREFIX, timeout: '10s', cache_file: join(dir!, `${name}.cache.json`), fleet: { node_id: `bench-${name}` } } },
      upstreams: {},
      routes: [],
    }),
  )
  const child = spawn(process.execPath, [MAIN, 'start', '-c', file, '--workers', String(WORKERS)], { stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  children.add(child)
  const logs: LogLine[] = []
  let rest = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    rest += chunk.toString()
    const lines = rest.split('\n')
    rest = lines.pop()!
    for (const l of lines) {
      try {
        const j = JSON.parse(l) as LogLine
        if (typeof j.time === 'number') logs.push({ time: j.time, msg: j.msg, trigger: j.trigger, version: j.version })
      } catch {
        // not a log line
      }
    }
  })
  const g: Gw = { name, url: `http://127.0.0.1:${port}`, admin: `http://127.0.0.1:${adminPort}`, logs, child }
  await until(`${name} /readyz`, async () => {
    if (child.exitCode !== null) throw new Error(`gateway ${name} exited (code ${child.exitCode})`)
    const r = await request(`${g.admin}/readyz`)
    await r.body.dump()
    return r.statusCode === 200
  }, 120_000, 50)
  return g
}

// --- the document ---

/** Route i: its path kind varies (exact, param, wildcard; some with methods), as in bench:scale. */
function route(i: number, gen: string): Record<string, unknown> {
  const k = i % 3
  const paths = k === 0 ? [`/svc${i}/items`] : k === 1 ? [`/svc${i}/items/:id`] : [`/svc${i}/static/*`]
  return {
    name: `r${i}`,
    paths,
    ...(i % 10 === 0 ? { methods: ['GET', 'POST'] } : {}),
    upstream: 'origin',
    plugins: [{ name: 'mock', config: { status: 200, headers: { 'x-gen': gen }, body: `r${i}` } }],
  }
}
const probePath = (i: number) => (i % 3 === 0 ? `/svc${i}/items` : i % 3 === 1 ? `/svc${i}/items/7` : `/svc${i}/static/a.css`)

const agent = new Agent({ keepAliveTimeout: 60_000, connections: 8 })

async function admin(g: Gw, method: 'GET' | 'PUT', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; etag: string | undefined; json: Record<string, unknown> }> {
  const r = await request(`${g.admin}${path}`, {
    method,
    dispatcher: agent,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const json = (await r.body.json()) as Record<string, unknown>
  const etag = r.headers.etag
  return { status: r.statusCode, etag: typeof etag === 'string' ? etag : undefined, json }
}

async function genOf(g: Gw, i: number): Promise<string | undefined> {
  const r = await request(`${g.url}${probePath(i)}`, { dispatcher: agent })
  await r.body.dump()
  const v = r.headers['x-gen']
  return typeof v === 'string' ? v : undefined
}

/** Poll `g` through route i every ~2 ms until it answers x-gen = want; the time it first did (performance.now()). */
async function seen(g: Gw, i: number, want: string): Promise<{ at: number; tries: number }> {
  const deadline = performance.now() + DEADLINE_MS
  for (let tries = 1; ; tries++) {
    const got = await genOf(g, i).catch(() => undefined)
    if (got === want) return { at: performance.now(), tries }
    if (performance.now() > deadline) throw new Error(`${g.name} did not serve x-gen ${want} on r${i} within ${DEADLINE_MS} ms (serves ${got})`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

// --- measuring ---

type Kind = 'resource' | 'document'
interface Sample {
  kind: Kind
  iteration: number
  route: number
  /** Date.now() when A's write was sent and when its response was complete. */
  sentAt: number
  answeredAt: number
  /** A's write: request to response, ms. */
  writeMs: number
  /** Date.now() when the bench's own etcd watch got the write's event (the first of its keys). */
  watchAt: number | null
  /** ms from A's response to B / C serving the new value. */
  lag: Record<string, number>
}

const samples: Sample[] = []
const watchEvents: Array<{ at: number; key: string }> = []

async function measure(kind: Kind, iteration: number, others: Gw[], probe: number, write: () => Promise<void>): Promise<Sample> {
  const events = watchEvents.length
  const sentAt = Date.now()
  const t0 = performance.now()
  await write()
  const t1 = performance.now()
  const answeredAt = Date.now()
  const want = `${kind}-${iteration}`
  const results = await Promise.all(others.map((g) => seen(g, probe, want)))
  const lag: Record<string, number> = {}
  others.forEach((g, k) => (lag[g.name] = results[k]!.at - t1))
  const ev = watchEvents.slice(events).find((e) => e.key.startsWith(`${PREFIX}routes/`))
  return { kind, iteration, route: probe, sentAt, answeredAt, writeMs: t1 - t0, watchAt: ev?.at ?? null, lag }
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-')
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-')

/** B's or C's reload for a sample: the first 'sending' and 'config reloaded' (trigger etcd) after the write was sent. */
function reloadOf(g: Gw, s: Sample, next: Sample | undefined): { sending: number; loaded: number } | null {
  const window = (l: LogLine) => l.trigger === 'etcd' && l.time >= s.sentAt && (next === undefined || l.time < next.sentAt)
  const sending = g.logs.find((l) => window(l) && l.msg.startsWith('config reload: sending'))
  const loaded = g.logs.find((l) => window(l) && l.msg === 'config reloaded')
  return sending === undefined || loaded === undefined ? null : { sending: sending.time, loaded: loaded.time }
}

async function main(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'portico-propagation-'))
  const load0 = loadavg()
  const etcdUrl = await startEtcd()
  const watchClient = new Etcd3({ hosts: [etcdUrl] })
  try {
    const gws = await Promise.all(['A', 'B', 'C'].map((n) => startGateway(n, etcdUrl)))
    const [a, b, c] = gws as [Gw, Gw, Gw]
    const watcher = await watchClient.watch().prefix(PREFIX).create()
    watcher.on('put', (kv) => watchEvents.push({ at: Date.now(), key: kv.key.toString() }))

    // Seed: the whole document through A (its settings as served, the routes and upstream added).
    const cur = await admin(a, 'GET', '/admin/config')
    const base = cur.json.data as Record<string, unknown>
    const doc = (gen: string) => ({ ...base, upstreams: { origin: { targets: [{ url: 'http://127.0.0.1:9' }] } }, routes: Array.from({ length: ROUTES }, (_, i) => route(i, gen)) })
    let t = performance.now()
    const seed = await admin(a, 'PUT', '/admin/config', doc('seed'), { 'if-match': cur.etag! })
    if (seed.status !== 200) throw new Error(`seeding ${ROUTES} routes through A failed: ${seed.status} ${JSON.stringify(seed.json).slice(0, 600)}`)
    const seedMs = performance.now() - t
    t = performance.now()
    await Promise.all([b, c].map((g) => seen(g, ROUTES - 1, 'seed')))
    console.log(`seeded ${ROUTES} routes through A in ${f0(seedMs)} ms; B and C served them ${f0(performance.now() - t)} ms after A's response`)

    // Warm-up: two one-resource changes, not counted (the first reload after the seed compiles cold paths).
    for (let w = 0; w < 2; w++) {
      const i = w
      const g = await admin(a, 'GET', `/admin/routes/r${i}`)
      await admin(a, 'PUT', `/admin/routes/r${i}`, route(i, `warm-${w}`), { 'if-match': g.etag! })
      await Promise.all([b, c].map((x) => seen(x, i, `warm-${w}`)))
    }

    for (let n = 1; n <= CHANGES; n++) {
      const i = Math.floor(Math.random() * ROUTES)
      const got = await admin(a, 'GET', `/admin/routes/r${i}`)
      const s = await measure('resource', n, [b, c], i, async () => {
        const r = await admin(a, 'PUT', `/admin/routes/r${i}`, route(i, `resource-${n}`), { 'if-match': got.etag! })
        if (r.status !== 200) throw new Error(`PUT /admin/routes/r${i}: ${r.status} ${JSON.stringify(r.json).slice(0, 400)}`)
      })
      samples.push(s)
      process.stdout.write(`\rone resource ${n}/${CHANGES}: B ${f0(s.lag.B!)} ms, C ${f0(s.lag.C!)} ms   `)
    }
    console.log()
    for (let n = 1; n <= REPLACES; n++) {
      const i = Math.floor(Math.random() * ROUTES)
      const got = await admin(a, 'GET', '/admin/config')
      const s = await measure('document', n, [b, c], i, async () => {
        const r = await admin(a, 'PUT', '/admin/config', { ...(got.json.data as object), routes: Array.from({ length: ROUTES }, (_, k) => route(k, `document-${n}`)) }, { 'if-match': got.etag! })
        if (r.status !== 200) throw new Error(`PUT /admin/config: ${r.status} ${JSON.stringify(r.json).slice(0, 400)}`)
      })
      samples.push(s)
      process.stdout.write(`\rwhole document ${n}/${REPLACES}: B ${f0(s.lag.B!)} ms, C ${f0(s.lag.C!)} ms   `)
    }
    console.log()
    await watcher.cancel()
    // The last reload's 'config reloaded' line may still be in the pipe.
    await until('the last reload logs', async () => [b, c].every((g) => reloadOf(g, samples.at(-1)!, undefined) !== null), 5000).catch(() => undefined)
    report(gws, { seedMs, load0, load1: loadavg() })
  } finally {
    watchClient.close()
    await agent.close()
    await cleanup()
  }
}

interface Reload {
  sending: number
  loaded: number
}

/** Per sample and instance: its reload's log times (null when they could not be matched). */
function reloads(g: Gw): Array<Reload | null> {
  return samples.map((s, k) => reloadOf(g, s, samples[k + 1]))
}

function report(gws: Gw[], run: { seedMs: number; load0: number[]; load1: number[] }): void {
  const [, b, c] = gws as [Gw, Gw, Gw]
  const out: string[] = []
  const header = `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${run.load0.map(f1).join(' ')} at start, ${run.load1.map(f1).join(' ')} at the end; etcd --max-txn-ops ${MAX_TXN_OPS}; ${ROUTES} routes; ${WORKERS} worker(s) per instance; ${new Date().toISOString()}`
  out.push(header, '')
  const label = (kind: Kind) => (kind === 'resource' ? 'one resource' : 'whole document')
  const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`
  const stats = (xs: number[]) => [f0(pct(xs, 50)), f0(pct(xs, 90)), f0(pct(xs, 99)), f0(xs.length === 0 ? NaN : Math.max(...xs))]
  const rel = new Map(gws.slice(1).map((g) => [g.name, reloads(g)]))

  out.push("1. As the issue defines it: from A's admin response to B / C serving the new value (ms; B and C polled from A's response on, every ~2 ms)", '')
  out.push('| kind | n | instance | p50 | p90 | p99 | max | goal (p99) | met |', '|---|---:|---|---:|---:|---:|---:|---:|---|')
  const goals: string[] = []
  for (const kind of ['resource', 'document'] as const) {
    const ss = samples.filter((s) => s.kind === kind)
    if (ss.length === 0) continue
    for (const g of [b, c]) {
      const xs = ss.map((s) => s.lag[g.name]!)
      out.push(row([label(kind), ss.length, g.name, ...stats(xs), `< ${GOALS[kind]}`, pct(xs, 99) < GOALS[kind] ? 'yes' : 'no']))
    }
    const p99 = pct(ss.flatMap((s) => [s.lag.B!, s.lag.C!]), 99)
    goals.push(`${label(kind)}, A's response → served: p99 over B and C ${f0(p99)} ms, goal < ${GOALS[kind]} ms: ${p99 < GOALS[kind] ? 'met' : 'MISSED'}`)
  }
  out.push('')

  out.push("2. From the write's commit in etcd (the bench's own etcd watch got the event) to B / C having loaded it (their log \"config reloaded\": every worker swapped), ms. A answers only after its own reload, so B and C usually finish before A's response and table 1 sees only the poll; this is the propagation itself.", '')
  out.push('| kind | n | instance | p50 | p90 | p99 | max | goal (p99) | met |', '|---|---:|---|---:|---:|---:|---:|---:|---|')
  for (const kind of ['resource', 'document'] as const) {
    const all: number[] = []
    for (const g of [b, c]) {
      const xs = samples.flatMap((s, k) => {
        const r = rel.get(g.name)![k] ?? null
        return s.kind === kind && r !== null && s.watchAt !== null ? [r.loaded - s.watchAt] : []
      })
      if (xs.length === 0) continue
      all.push(...xs)
      out.push(row([label(kind), xs.length, g.name, ...stats(xs), `< ${GOALS[kind]}`, pct(xs, 99) < GOALS[kind] ? 'yes' : 'no']))
    }
    if (all.length > 0) goals.push(`${label(kind)}, etcd commit → loaded: p99 over B and C ${f0(pct(all, 99))} ms, goal < ${GOALS[kind]} ms: ${pct(all, 99) < GOALS[kind] ? 'met' : 'MISSED'}`)
  }
  out.push('', ...goals.map((g) => `- ${g}`), '')

  out.push('3. Where the time goes (ms; p50 / p90 / p99 / max). `A write` = A\'s PUT, request to response (A\'s own etcd transaction, then its own reload). `commit` = the bench\'s watch event, relative to A\'s request. On B and C: `watch→sending` = etcd delivering the event to the instance + the primary rebuilding the document from its keys, validating and hashing it (up to its log "config reload: sending new version to the data plane"); `sending→reloaded` = the IPC to the worker, the worker compiling the document (router, plugins) and swapping it, and its reply (up to "config reloaded").', '')
  out.push('| kind | what | n | p50 | p90 | p99 | max |', '|---|---|---:|---:|---:|---:|---:|')
  for (const kind of ['resource', 'document'] as const) {
    const ss = samples.filter((s) => s.kind === kind)
    if (ss.length === 0) continue
    out.push(row([label(kind), 'A write', ss.length, ...stats(ss.map((s) => s.writeMs))]))
    const commits = ss.flatMap((s) => (s.watchAt === null ? [] : [s.watchAt - s.sentAt]))
    out.push(row([label(kind), 'commit (from A\'s request)', commits.length, ...stats(commits)]))
    for (const g of [b, c]) {
      const pairs = samples.flatMap((s, k) => {
        const r = rel.get(g.name)![k] ?? null
        return s.kind === kind && r !== null && s.watchAt !== null ? [{ s, r }] : []
      })
      out.push(row([label(kind), `${g.name} watch→sending`, pairs.length, ...stats(pairs.map(({ s, r }) => r.sending - s.watchAt!))]))
      out.push(row([label(kind), `${g.name} sending→reloaded`, pairs.length, ...stats(pairs.map(({ r }) => r.loaded - r.sending))]))
    }
  }
  out.push('')
  out.push(`Seeding ${ROUTES} routes through A (PUT /admin/config, one etcd transaction): ${f0(run.seedMs)} ms.`, '')
  out.push("Every sample, A's response → served on B/C (ms): " + (['resource', 'document'] as const).map((k) => `${k}: ` + samples.filter((s) => s.kind === k).map((s) => `${f0(s.lag.B!)}/${f0(s.lag.C!)}`).join(' ')).join('; '))
  const text = out.join('\n')
  console.log(`\n${text}`)
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  writeFileSync(join(ROOT, 'bench/results/propagation.md'), `# Config propagation through etcd (\`npm run bench:propagation\`)\n\n${text}\n`)
  console.log('\nwritten to bench/results/propagation.md')
}

main().catch(async (err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  await cleanup()
  process.exit(1)
})
