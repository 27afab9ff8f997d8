// `npm run bench`: Portico against a Node.js floor, nginx and Node peers, on one pinned core each,
// all in one run and interleaved round by round so machine drift hits every subject alike.
// See bench/README.md for what each figure means.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, release, tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { connect as h2connect } from 'node:http2'
import type { ClientHttp2Session } from 'node:http2'
import { fixedRate, H2LOAD, throughput, WRK, WRK2 } from './load.js'
import {
  CLK_TCK,
  canPin,
  cpuMicros,
  cpuMicrosExact,
  freePort,
  get,
  h2get,
  installCleanupHandlers,
  lastLines,
  machineBusyTicks,
  rssMB,
  selfAndReapedTicks,
  startProc,
  stopAll,
  trackTempDir,
  waitFor,
  which,
} from './procs.js'
import type { Probe, Proc } from './procs.js'
import { idleLine, markdown, streamsLine, summarize, textTable } from './report.js'
import type { IdleResult, Measurement, Report, ScenarioResult, StreamsResult, SubjectResult } from './report.js'
import { GRPC_REQUEST, OPEN_STREAMS, openStreamsConfig, scenarios, services } from './scenarios.js'
import type { Scenario } from './scenarios.js'
import { buildScripts, repoRoot } from './scripts.js'
import type { ScriptName } from './scripts.js'
import { subjects } from './subjects.js'
import type { Running, Subject } from './subjects.js'

const env = process.env
const quick = env.BENCH_QUICK === '1'
const seconds = (v: string | undefined, def: number): number => {
  const n = v === undefined ? def : Number(v.replace(/s$/, ''))
  if (!Number.isFinite(n) || n <= 0) throw new Error(`bench: not a positive number of seconds: ${v}`)
  return n
}
const list = (v: string | undefined): string[] | null => (v ? v.split(',').map((s) => s.trim()) : null)

const settings = {
  durationS: seconds(env.BENCH_DURATION, quick ? 2 : 10),
  rounds: Math.round(seconds(env.BENCH_ROUNDS, quick ? 1 : 2)),
  warmupS: seconds(env.BENCH_WARMUP, quick ? 1 : 3),
  /** Length of one throughput slice; the subjects take turns slice by slice (see measureRound). */
  sliceS: Math.round(seconds(env.BENCH_SLICE, 1)),
  connections: Math.round(seconds(env.BENCH_CONNECTIONS, 50)),
  rate: Math.round(seconds(env.BENCH_RATE, 2000)),
  subjects: list(env.BENCH_SUBJECTS),
  scenarios: list(env.BENCH_SCENARIOS),
  /** Idle figure: seconds measured (0 = skip), after `idleSettleS` of no traffic. */
  idleS: env.BENCH_IDLE === '0' ? 0 : seconds(env.BENCH_IDLE, quick ? 5 : 30),
  idleSettleS: seconds(env.BENCH_IDLE_SETTLE, quick ? 5 : 30),
}

// The subject gets core 0 to itself; the origin and the load generators share core 1. The CPU
// figure is read per pid, so whatever else runs on core 1 does not enter it.
const pinned = canPin && availableParallelism() >= 2
const PROXY_CORE = pinned ? 0 : undefined
const LOAD_CORE = pinned ? 1 : undefined
const READY_TIMEOUT_MS = 20_000

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? 'unknown'
}

function pkgVersion(name: string): string {
  try {
    const path = name === 'portico' ? join(repoRoot, 'package.json') : join(repoRoot, 'node_modules', name, 'package.json')
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
  } catch {
    return 'not installed'
  }
}

function machineInfo(): Record<string, string> {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown'
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' })
  return {
    cpu,
    cores: String(availableParallelism()),
    kernel: release(),
    node: process.version,
    portico: `${pkgVersion('portico')} (commit ${git.status === 0 ? git.stdout.trim() : 'none'})`,
    h2load: H2LOAD ? firstLine(H2LOAD, ['--version']) : 'not installed (Debian package nghttp2-client): h2 and grpc skipped',
    wrk: WRK ? firstLine(WRK, ['-v']) : 'not installed (throughput by autocannon)',
    wrk2: WRK2 ? firstLine(WRK2, ['-v']) : 'not installed (fixed rate by paced.ts)',
    autocannon: pkgVersion('autocannon'),
    nginx: subjects.find((s) => s.name === 'nginx')?.unavailable() ?? firstLine('nginx', ['-v']).replace('nginx version: ', ''),
    undici: pkgVersion('undici'),
    'http-proxy': pkgVersion('http-proxy'),
    'fast-gateway': pkgVersion('fast-gateway'),
    '@fastify/http-proxy': `${pkgVersion('@fastify/http-proxy')} (fastify ${pkgVersion('fastify')})`,
    'CLK_TCK': String(CLK_TCK),
    pinning: pinned ? `subject on core ${PROXY_CORE}, origin + load on core ${LOAD_CORE} (taskset)` : 'off (taskset missing or one core): figures are noisier',
  }
}

function method(): string[] {
  return [
    `req/s: ${WRK ? 'wrk' : 'autocannon'} -t1 -c${settings.connections}, ${settings.durationS}s per subject and round in ${settings.sliceS}s slices that the subjects take in turns (closed loop, as fast as the subject answers), after a ${settings.warmupS}s warm-up with the same tool. Interleaving slice by slice keeps slow drifts of the host's speed (seen here: a fixed CPU loop varying ±25% from one second to the next) out of the ratios.`,
    `CPU µs/req: utime + stime of the subject's pid (and descendants) from /proc/<pid>/stat around the ${WRK ? 'wrk' : 'autocannon'} run, divided by the requests it completed. Headline figure: it does not depend on how fast the load generator or origin are.`,
    `× floor: CPU µs/req divided by the floor's (node:http + undici.Pool, the least a Node proxy does).`,
    `p50 / p99: ${WRK2 ? 'wrk2 -R' : 'bench/load/paced.ts (open loop, 1 ms schedule, hrtime per request)'} at ${settings.rate} req/s for ${settings.durationS}s; milliseconds.`,
    `RSS: VmRSS from /proc/<pid>/status right after the throughput run, of the subject's largest process (per worker: Portico's and nginx's primary/master are left out of this column and counted in rssTotalMB in the JSON); the largest over rounds.`,
    `errors: non-2xx responses + socket errors over all measured runs (warm-ups excluded).`,
    `Each figure is the median over ${settings.rounds} round(s); the subject order rotates every round.`,
    `noise: CPU used during the measured runs by processes that are not part of the benchmark (from /proc/stat), in % of one core; the largest over rounds. Above ~10% the figures, latency first, are disturbed.`,
    `direct: the load goes straight to the origin (no proxy); its CPU column is the origin's own cost.`,
    `h2, grpc: h2load -c10 -m20 -t1 over h2c in the same slices (a gRPC call: POST of one 17-byte frame from a file, content-type application/grpc, te: trailers); no fixed-rate run, so no latency columns; × floor is against floor-h2 (node:http2 server + one node:http2 client session). Open streams: 10 sessions × 1,000 held streams, VmRSS of the serving process before and with them open.`,
    `h2-tls: the same h2load run over https:// (HTTP/2 by ALPN, TLS 1.3, the generated ECDSA P-256 certificate) to floor-h2 on TLS, Portico's https listener and nginx's listen ssl http2; the origin stays h2c (nginx: its HTTP/1.1 port).`,
  ]
}

type Origin = { url: string; pid: number; proc: Proc; h1Url?: string }

async function startOrigins(sc: Scenario, scripts: Record<ScriptName, string>): Promise<Origin[]> {
  const out: Origin[] = []
  for (let i = 0; i < sc.origins; i++) {
    const [port, h1Port] = [await freePort(), await freePort()]
    const script = sc.http2 ? scripts['origin-h2'] : scripts.origin
    const proc = startProc(`origin ${i + 1}`, process.execPath, [script], { core: LOAD_CORE, env: { ...env, NODE_ENV: 'production', PORT: String(port), H1_PORT: String(h1Port) } })
    const url = `http://127.0.0.1:${port}`
    const h1Url = `http://127.0.0.1:${h1Port}`
    const listening = sc.http2
      ? async () => (await h2get(url, '/')).status === 200 && (await get(h1Url + '/')).status === 200
      : async () => (await get(url + sc.path)).status === 200
    await waitFor(proc, 'the origin to listen', listening, READY_TIMEOUT_MS)
    out.push({ url, pid: proc.pid, proc, ...(sc.http2 ? { h1Url } : {}) })
  }
  return out
}

/** The gRPC request body file h2load sends (-d), written once per run. */
let grpcBodyFile = ''

/** One request as the load sends it, for the check before a subject is measured. */
async function probe(sc: Scenario, url: string): Promise<Probe & { grpcStatus?: string; tls?: string }> {
  if (!sc.http2) return get(url + sc.path, sc.headers)
  return h2get(url, sc.path, sc.headers, sc.http2.kind === 'grpc' ? GRPC_REQUEST : undefined)
}

interface Window {
  subjectUs: number
  originUs: number
  /** CPU used by processes that are not ours (other jobs on the machine), in % of one core. */
  noisePct: number
}

/** Start measuring CPU of the subject, the origin and everything else; call the result to stop. */
function cpuWindow(subjectPid: number, originPid: number): () => Window {
  const same = subjectPid === originPid
  const s0 = cpuMicros(subjectPid)
  const o0 = same ? 0 : cpuMicros(originPid)
  const b0 = machineBusyTicks()
  const self0 = selfAndReapedTicks()
  const t0 = performance.now()
  return () => {
    const subjectUs = cpuMicros(subjectPid) - s0
    const originUs = same ? subjectUs : cpuMicros(originPid) - o0
    // Ours: the subject, the origin, this process and the load tool it has just reaped.
    const oursTicks = ((subjectUs + (same ? 0 : originUs)) * CLK_TCK) / 1e6 + selfAndReapedTicks() - self0
    const foreign = Math.max(0, machineBusyTicks() - b0 - oursTicks)
    return { subjectUs, originUs, noisePct: (100 * foreign) / (((performance.now() - t0) / 1000) * CLK_TCK) }
  }
}

/** One subject's throughput slices of a round, summed. */
interface Slices {
  requests: number
  durationS: number
  subjectUs: number
  originUs: number
  noisePct: number
  non2xx: number
  socketErrors: number
  /** Request-weighted sums of the slices' wrk percentiles (the table's latency comes from the fixed-rate run). */
  p50Sum: number
  p99Sum: number
  tool: string
}

const loadFor = (sc: Scenario, run: Running) => ({
  url: run.url + sc.path,
  connections: settings.connections,
  headers: sc.headers,
  core: LOAD_CORE,
  ...(sc.http2 ? { h2: { clients: sc.http2.clients, streams: sc.http2.streams, ...(sc.http2.kind === 'grpc' ? { dataFile: grpcBodyFile } : {}) } } : {}),
})

/**
 * The HTTP/2 and TLS scenarios have no fixed-rate run: h2load's --rps gives no percentiles, and the
 * paced client (used without wrk2) speaks cleartext HTTP/1.1 only.
 */
const noFixedRate = (sc: Scenario): boolean => sc.http2 !== undefined || sc.tls !== undefined

/** The HTTP/2 scenarios have no fixed-rate run (h2load's --rps gives no percentiles): an empty result. */
const NO_FIXED_RATE = { tool: 'none', requests: 0, durationS: 0, rps: NaN, p50Ms: NaN, p99Ms: NaN, non2xx: 0, socketErrors: 0 }

async function warmUp(sc: Scenario, run: Running): Promise<void> {
  await throughput({ ...loadFor(sc, run), durationS: settings.warmupS })
  run.drainLog?.()
}

async function slice(sc: Scenario, run: Running, originPid: number, acc: Slices): Promise<void> {
  const w = cpuWindow(run.pid, originPid)
  const t = await throughput({ ...loadFor(sc, run), durationS: settings.sliceS })
  const a = w()
  acc.requests += t.requests
  acc.durationS += t.durationS
  acc.subjectUs += a.subjectUs
  acc.originUs += a.originUs
  acc.noisePct = Math.max(acc.noisePct, a.noisePct)
  acc.non2xx += t.non2xx
  acc.socketErrors += t.socketErrors
  acc.p50Sum += t.p50Ms * t.requests
  acc.p99Sum += t.p99Ms * t.requests
  acc.tool = t.tool
}

/** After the slices: RSS, access-log volume, then the fixed-rate latency run. */
async function finishRound(sc: Scenario, run: Running, originPid: number, round: number, pacedScript: string, acc: Slices): Promise<Measurement> {
  const rss = rssMB(run.pid)
  const logBytes = run.drainLog?.()
  const w2 = cpuWindow(run.pid, originPid)
  const f = noFixedRate(sc) ? NO_FIXED_RATE : await fixedRate({ ...loadFor(sc, run), durationS: settings.durationS, rate: settings.rate, pacedScript })
  // No fixed-rate run (HTTP/2): a window of a few ms would turn one clock tick of other work into
  // a huge "noise" percentage.
  const b = noFixedRate(sc) ? { subjectUs: 0, originUs: 0, noisePct: 0 } : w2()
  run.drainLog?.()
  if (run.proc?.exit) throw new Error(`exited during the run: ${lastLines(run.proc.stderrTail())}`)
  if (acc.requests === 0) throw new Error('no request completed')
  const throughputResult = {
    tool: acc.tool,
    requests: acc.requests,
    durationS: acc.durationS,
    rps: acc.requests / acc.durationS,
    p50Ms: acc.p50Sum / acc.requests,
    p99Ms: acc.p99Sum / acc.requests,
    non2xx: acc.non2xx,
    socketErrors: acc.socketErrors,
  }
  return {
    round,
    throughput: throughputResult,
    cpuUsPerReq: acc.subjectUs / acc.requests,
    originCpuUsPerReq: acc.originUs / acc.requests,
    rssMB: rss.largest,
    rssTotalMB: rss.total,
    fixedRate: f,
    cpuUsPerReqAtRate: f.requests > 0 ? b.subjectUs / f.requests : NaN,
    noisePct: { throughput: acc.noisePct, fixedRate: b.noisePct },
    ...(logBytes !== undefined ? { logBytesPerReq: logBytes / acc.requests } : {}),
  }
}

/** A private redis-server for scenarios that need one (on the load core, like the origins). */
async function startRedis(): Promise<Proc> {
  const port = await freePort()
  const proc = startProc('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { core: LOAD_CORE })
  const ping = (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write('PING\r\n'))
      s.once('data', (d) => resolve(String(d).startsWith('+PONG')))
      s.once('error', () => resolve(false))
      s.once('close', () => resolve(false))
      s.setTimeout(500, () => s.destroy())
    })
  await waitFor(proc, 'redis-server to answer PING', ping, READY_TIMEOUT_MS)
  services.redisUrl = `redis://127.0.0.1:${port}`
  return proc
}

async function runScenario(sc: Scenario, scripts: Record<ScriptName, string>, tmp: string): Promise<ScenarioResult> {
  if (sc.http2 && H2LOAD === null) {
    const reason = 'h2load is not installed (Debian package nghttp2-client)'
    process.stdout.write(`[${sc.name}] skipped: ${reason}\n`)
    return { name: sc.name, description: sc.description, subjects: subjects.map((s) => ({ name: s.name, role: s.role, status: 'skipped', reason, notes: [], rounds: [] })) }
  }
  if (sc.redis === true && which('redis-server') === null) {
    const reason = 'redis-server is not installed (Debian package redis-server)'
    process.stdout.write(`[${sc.name}] skipped: ${reason}\n`)
    return { name: sc.name, description: sc.description, subjects: subjects.map((s) => ({ name: s.name, role: s.role, status: 'skipped', reason, notes: [], rounds: [] })) }
  }
  const redis = sc.redis === true ? await startRedis() : null
  const teardown = await sc.setup?.()
  try {
    return await runScenarioWith(sc, scripts, tmp)
  } finally {
    await teardown?.()
    await redis?.stop()
  }
}

async function runScenarioWith(sc: Scenario, scripts: Record<ScriptName, string>, tmp: string): Promise<ScenarioResult> {
  const dir = join(tmp, sc.name)
  mkdirSync(dir)
  const origins = await startOrigins(sc, scripts)
  const chosen = subjects.filter((s) => (!settings.subjects || settings.subjects.includes(s.name)) && (s.appliesTo?.(sc) ?? true))
  const results = new Map<Subject, SubjectResult>()
  const running = new Map<Subject, Running>()
  for (const s of chosen) {
    const r: SubjectResult = { name: s.name, role: s.role, status: 'ok', notes: [], rounds: [] }
    results.set(s, r)
    const why = s.unavailable()
    if (why) {
      Object.assign(r, { status: 'skipped', reason: why })
      continue
    }
    process.stdout.write(`[${sc.name}] starting ${s.name}\n`)
    let run: Running | undefined
    try {
      run = await s.start({ scenario: sc, origins, scripts, tmp: dir, core: PROXY_CORE, readyTimeoutMs: READY_TIMEOUT_MS })
      // Same answer as the origin, or the numbers would compare different work.
      const p = await probe(sc, run.url)
      if (p.status !== 200 || p.body.length !== 100) throw new Error(`${sc.path} answered ${p.status} with ${p.body.length} bytes, expected 200 with 100`)
      if (sc.http2?.kind === 'grpc' && p.grpcStatus !== '0') throw new Error(`${sc.path}: grpc-status ${p.grpcStatus ?? 'missing'}, expected 0`)
      // h2-tls compares TLS 1.3 stacks: a subject that settled for less would be doing other work.
      if (sc.http2 && sc.tls && p.tls !== 'TLSv1.3') throw new Error(`${sc.path}: negotiated ${p.tls ?? 'no TLS'}, expected TLSv1.3`)
      r.notes.push(...run.notes)
      running.set(s, run)
    } catch (err) {
      await run?.stop()
      Object.assign(r, { status: 'failed', reason: (err as Error).message })
      process.stdout.write(`[${sc.name}] ${s.name} failed to start: ${(err as Error).message}\n`)
    }
  }

  const originPid = origins[0]?.pid ?? 0
  const rotate = <T>(xs: T[], by: number): T[] => (xs.length === 0 ? xs : [...xs.slice(by % xs.length), ...xs.slice(0, by % xs.length)])
  /** Runs `step` for one subject; a subject that fails is reported and leaves the run. */
  const guarded = async (s: Subject, round: number, step: (run: Running) => Promise<void>): Promise<void> => {
    const run = running.get(s)
    if (run === undefined) return
    try {
      await step(run)
    } catch (err) {
      Object.assign(results.get(s) as SubjectResult, { status: 'failed', reason: `round ${round}: ${(err as Error).message}` })
      process.stdout.write(`[${sc.name}] ${s.name} failed: ${(err as Error).message}\n`)
      running.delete(s)
      await run.stop()
    }
  }
  const slices = Math.max(1, Math.round(settings.durationS / settings.sliceS))
  for (let round = 1; round <= settings.rounds; round++) {
    // Rotate the order each round (and each slice) so no subject is always measured first or last.
    const order = rotate([...running.keys()], round - 1)
    process.stdout.write(`[${sc.name}] round ${round}/${settings.rounds}: warm-up, ${slices} interleaved slices${noFixedRate(sc) ? '' : ', fixed rate'} (${order.map((s) => s.name).join(', ')})\n`)
    for (const s of order) await guarded(s, round, (run) => warmUp(sc, run))
    const acc = new Map<Subject, Slices>(order.map((s) => [s, { requests: 0, durationS: 0, subjectUs: 0, originUs: 0, noisePct: 0, non2xx: 0, socketErrors: 0, p50Sum: 0, p99Sum: 0, tool: '' }]))
    for (let k = 0; k < slices; k++) {
      for (const s of rotate(order, k)) await guarded(s, round, (run) => slice(sc, run, originPid, acc.get(s) as Slices))
    }
    for (const s of order) {
      await guarded(s, round, async (run) => {
        ;(results.get(s) as SubjectResult).rounds.push(await finishRound(sc, run, originPid, round, scripts.paced, acc.get(s) as Slices))
      })
    }
  }
  await Promise.all([...running.values()].map((run) => run.stop()))
  await Promise.all(origins.map((o) => o.proc.stop()))

  const list = [...results.values()]
  summarize(list)
  return { name: sc.name, description: sc.description, subjects: list }
}

/**
 * The idle figure: Portico (plain config: primary + 1 worker) and the floor started, no traffic,
 * no health checks; CPU of each process tree over `idleS` seconds (schedstat, exact), after
 * `idleSettleS` seconds in which startup's garbage is collected (V8's memory reducer runs a few
 * full GCs in the first tens of seconds). What an instance costs per second for doing nothing.
 */
async function measureIdle(scripts: Record<ScriptName, string>, tmp: string): Promise<IdleResult[]> {
  const sc = scenarios.find((s) => s.name === 'plain') as Scenario
  const dir = join(tmp, 'idle')
  mkdirSync(dir)
  const origins = await startOrigins(sc, scripts)
  const chosen = subjects.filter((s) => ['floor', 'portico', 'portico@compare'].includes(s.name) && s.unavailable() === null)
  const running: Array<[Subject, Running]> = []
  const out: IdleResult[] = []
  try {
    for (const s of chosen) {
      try {
        running.push([s, await s.start({ scenario: sc, origins, scripts, tmp: dir, core: PROXY_CORE, readyTimeoutMs: READY_TIMEOUT_MS })])
      } catch (err) {
        out.push({ name: s.name, status: 'failed', reason: (err as Error).message })
      }
    }
    process.stdout.write(`[idle] ${running.map(([s]) => s.name).join(', ')}: ${settings.idleSettleS}s to settle, then ${settings.idleS}s measured, no traffic\n`)
    await new Promise((r) => setTimeout(r, settings.idleSettleS * 1000))
    const t0 = running.map(([, r]) => cpuMicrosExact(r.pid))
    const w0 = performance.now()
    await new Promise((r) => setTimeout(r, settings.idleS * 1000))
    const s = (performance.now() - w0) / 1000
    running.forEach(([subject, r], i) => out.push({ name: subject.name, status: 'ok', cpuMsPerS: (cpuMicrosExact(r.pid) - (t0[i] as number)) / 1000 / s }))
  } finally {
    await Promise.all(running.map(([, r]) => r.stop()))
    await Promise.all(origins.map((o) => o.proc.stop()))
  }
  return out
}

/**
 * Memory per open stream: `sessions` h2c sessions from this process, each opening `perSession`
 * streams of `GET /hold` (the origin sends the head and keeps the stream open), through Portico
 * (listener max_concurrent_streams raised to `perSession`) and the h2 floor. RSS of the serving
 * process (Portico's worker) after one request and with every stream's head received; the
 * difference over the streams is bytes per open stream (client and upstream side together).
 */
async function measureStreams(scripts: Record<ScriptName, string>, tmp: string): Promise<StreamsResult[]> {
  const base = scenarios.find((s) => s.name === 'h2') as Scenario
  const sc: Scenario = { ...base, gatewayConfig: openStreamsConfig }
  const dir = join(tmp, 'streams')
  mkdirSync(dir)
  const origins = await startOrigins(sc, scripts)
  const out: StreamsResult[] = []
  const want = OPEN_STREAMS.sessions * OPEN_STREAMS.perSession
  try {
    for (const s of subjects.filter((x) => ['floor-h2', 'portico'].includes(x.name) && (!settings.subjects || settings.subjects.includes(x.name)))) {
      process.stdout.write(`[streams] ${s.name}: ${want} open streams (${OPEN_STREAMS.sessions} sessions × ${OPEN_STREAMS.perSession})\n`)
      let run: Running | undefined
      const sessions: ClientHttp2Session[] = []
      try {
        run = await s.start({ scenario: sc, origins, scripts, tmp: dir, core: PROXY_CORE, readyTimeoutMs: READY_TIMEOUT_MS })
        await h2get(run.url, '/bench')
        const before = rssMB(run.pid).largest
        let open = 0
        const all: Array<Promise<void>> = []
        for (let i = 0; i < OPEN_STREAMS.sessions; i++) {
          const session = h2connect(run.url)
          session.on('error', () => {})
          sessions.push(session)
          for (let k = 0; k < OPEN_STREAMS.perSession; k++) {
            const req = session.request({ ':path': '/hold' })
            req.on('error', () => {})
            all.push(
              new Promise<void>((resolve) => {
                req.once('response', (h) => {
                  if (h[':status'] === 200) open++
                  resolve()
                })
                req.once('close', () => resolve())
              }),
            )
          }
        }
        const deadline = new Promise<void>((r) => setTimeout(r, 30_000).unref())
        await Promise.race([Promise.all(all), deadline])
        // Let the last streams' buffers settle before reading.
        await new Promise((r) => setTimeout(r, 500))
        const withStreams = rssMB(run.pid).largest
        out.push({ name: s.name, status: 'ok', streams: open, rssBeforeMB: before, rssOpenMB: withStreams, bytesPerStream: open > 0 ? ((withStreams - before) * 1024 * 1024) / open : NaN })
      } catch (err) {
        out.push({ name: s.name, status: 'failed', reason: (err as Error).message })
      } finally {
        for (const session of sessions) session.destroy()
        await run?.stop()
      }
    }
  } finally {
    await Promise.all(origins.map((o) => o.proc.stop()))
  }
  return out
}

async function main(): Promise<void> {
  installCleanupHandlers()
  const startedAt = new Date().toISOString()
  const tmp = mkdtempSync(join(tmpdir(), 'portico-bench-'))
  trackTempDir(tmp)
  const scripts = buildScripts()
  grpcBodyFile = join(tmp, 'grpc-request.bin')
  writeFileSync(grpcBodyFile, GRPC_REQUEST)
  const machine = machineInfo()
  const chosen = scenarios.filter((s) => !settings.scenarios || settings.scenarios.includes(s.name))
  if (chosen.length === 0) throw new Error(`bench: no scenario named ${settings.scenarios?.join(', ')}; have ${scenarios.map((s) => s.name).join(', ')}`)
  process.stdout.write(`bench: ${chosen.length} scenario(s), ${settings.rounds} round(s) of ${settings.durationS}s; ${machine.pinning}\n`)

  const idle = settings.idleS > 0 ? await measureIdle(scripts, tmp) : []
  const results: ScenarioResult[] = []
  for (const sc of chosen) results.push(await runScenario(sc, scripts, tmp))
  // With the h2 scenario: memory per open stream (BENCH_STREAMS=0 skips it).
  const streams = chosen.some((s) => s.name === 'h2') && env.BENCH_STREAMS !== '0' && H2LOAD !== null ? await measureStreams(scripts, tmp) : []
  await stopAll()

  const report: Report = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    settings: {
      duration_s: settings.durationS,
      rounds: settings.rounds,
      warmup_s: settings.warmupS,
      connections: settings.connections,
      fixed_rate_rps: settings.rate,
      quick: quick ? 'yes' : 'no',
    },
    method: method(),
    idle,
    ...(streams.length > 0 ? { streams } : {}),
    scenarios: results,
  }
  const resultsDir = join(repoRoot, 'bench', 'results')
  mkdirSync(resultsDir, { recursive: true })
  const stamp = report.startedAt.replace(/[:.]/g, '-')
  const json = `${JSON.stringify(report, null, 2)}\n`
  const md = markdown(report)
  for (const name of ['latest', stamp]) {
    writeFileSync(join(resultsDir, `${name}.json`), json)
    writeFileSync(join(resultsDir, `${name}.md`), md)
  }

  process.stdout.write(`\n${Object.entries(machine).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n`)
  if (idle.length > 0) process.stdout.write(`${idleLine(idle)}\n\n`)
  for (const sc of results) process.stdout.write(`${textTable(sc)}\n\n`)
  if (streams.length > 0) process.stdout.write(`${streamsLine(streams)}\n\n`)
  process.stdout.write(`p50/p99 by ${WRK2 ? 'wrk2' : 'paced.ts'} at ${settings.rate} req/s; req/s and CPU by ${WRK ? 'wrk' : 'autocannon'}. Written bench/results/latest.{json,md} and ${stamp}.{json,md}\n`)
  // Failing only when nothing at all was measured: a subject that fails is reported in the table.
  if (!results.some((sc) => sc.subjects.some((s) => s.summary))) process.exitCode = 1
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`)
  await stopAll()
  process.exit(1)
})
