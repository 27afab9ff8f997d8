// Instructions per request, counted by valgrind's callgrind: an A/B measure that does not move with
// the host. On the VMs this project runs on, CPU time per request drifts ±25% from minute to minute
// and there are no hardware counters (perf stat has nothing to read), so a 2% change is invisible
// to `npm run bench`. Callgrind executes the process on a synthetic CPU and counts every
// instruction it runs: two runs of the same build agree to within ~0.5% on the main thread.
//
// Each subject (the floor, then Portico on a scenario's config) runs under callgrind with
// instrumentation off; after a warm-up (so the JIT has settled) instrumentation is switched on in
// the serving process (Portico's worker) for a fixed number of requests, then off, and the counts
// are dumped per thread. With --perf-basic-prof, JIT code is named after the JS function it came
// from, so the report can say where the instructions went.
//
// What it is not: a timing. Cache misses, syscalls' kernel time and background-thread scheduling
// are outside it, and per-request work that depends on wall time (caches that refresh every ms)
// runs more often under valgrind's ~50× slowdown. Use it to compare builds, and `npm run bench` for
// what a request costs in CPU time.
import { execFileSync } from 'node:child_process'
import http2 from 'node:http2'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'
import { stringify } from 'yaml'
import { buildScripts, repoRoot } from '../load/scripts.js'
import { freePort, get, startProc, tree, waitFor, which, installCleanupHandlers, stopAll, trackTempDir, type Proc } from '../load/procs.js'
import { scenarios, services } from '../load/scenarios.js'

const env = process.env
const WARMUP = Number(env.INSTR_WARMUP ?? 30_000)
const REQUESTS = Number(env.INSTR_REQUESTS ?? 5_000)
const SUBJECTS = (env.INSTR_SUBJECTS ?? 'floor,portico').split(',').map((s) => s.trim())
const SCENARIO = env.INSTR_SCENARIO ?? 'plain'
const TOP = Number(env.INSTR_TOP ?? 25)
const CONNECTIONS = 8
/** Streams in flight per session in the HTTP/2 scenarios. */
const H2_STREAMS = 20
/** A gRPC request message frame: not compressed, 12 bytes (the grpc scenario's, as in `npm run bench`). */
const GRPC_REQUEST = Buffer.concat([Buffer.from([0, 0, 0, 0, 12]), Buffer.alloc(12, 1)])

interface Counted {
  subject: string
  /** Instructions per request on the serving process's main (JS) thread. */
  main: number
  /** The same over all of its threads (GC helpers, JIT compiler, libuv pool). */
  all: number
  /** Self instructions per request by function, main thread. */
  functions: Map<string, number>
}

function need(cmd: string, pkg: string): string {
  const path = which(cmd)
  if (path === null) {
    process.stderr.write(`bench:instructions needs ${cmd}: apt-get install -y ${pkg}\n`)
    process.exit(1)
  }
  return path
}

async function load(pool: Pool, path: string, headers: Record<string, string>, n: number): Promise<void> {
  let left = n
  let bad = 0
  const one = async () => {
    while (left-- > 0) {
      const r = await pool.request({ path, method: 'GET', headers })
      await r.body.dump()
      if (r.statusCode !== 200) bad++
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, one))
  if (bad > 0) throw new Error(`${bad} of ${n} requests were not 200`)
}

/**
 * The HTTP/2 scenarios' load: CONNECTIONS h2c sessions, H2_STREAMS streams in flight on each (as
 * h2load -m does in `npm run bench`), `n` requests in all.
 */
async function loadH2(url: string, path: string, headers: Record<string, string>, n: number): Promise<void> {
  let left = n
  let bad = 0
  const body = headers['content-type']?.startsWith('application/grpc') === true ? GRPC_REQUEST : undefined
  // A session's error (refused while the subject starts) reaches its streams, which reject.
  const sessions = Array.from({ length: CONNECTIONS }, () => http2.connect(url).on('error', () => undefined))
  const one = (session: http2.ClientHttp2Session) =>
    new Promise<void>((resolve, reject) => {
      const next = (): void => {
        if (left-- <= 0) return resolve()
        const st = session.request({ ':method': body === undefined ? 'GET' : 'POST', ':path': path, ...headers }, { endStream: body === undefined })
        st.on('response', (h) => {
          if (h[':status'] !== 200) bad++
        })
        st.on('error', reject)
        st.resume()
        st.on('end', next)
        if (body !== undefined) st.end(body)
      }
      next()
    })
  try {
    await Promise.all(sessions.flatMap((session) => Array.from({ length: H2_STREAMS }, () => one(session))))
  } finally {
    for (const session of sessions) session.close()
  }
  if (bad > 0) throw new Error(`${bad} of ${n} requests were not 200`)
}

/** JIT code ranges from /tmp/perf-<pid>.map (written by --perf-basic-prof), sorted by start. */
function perfMap(pid: number): { starts: number[]; ends: number[]; names: string[] } {
  const rows: Array<[number, number, string]> = []
  const file = `/tmp/perf-${pid}.map`
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [start, size, ...name] = line.split(' ')
      if (start === undefined || size === undefined || name.length === 0) continue
      const s = parseInt(start, 16)
      rows.push([s, s + parseInt(size, 16), name.join(' ')])
    }
    rmSync(file, { force: true })
  }
  rows.sort((a, b) => a[0] - b[0])
  return { starts: rows.map((r) => r[0]), ends: rows.map((r) => r[1]), names: rows.map((r) => r[2]) }
}

/** Per-function self counts of one callgrind dump, JIT addresses named through the perf map. */
function functions(dump: string, map: ReturnType<typeof perfMap>, requests: number): Map<string, number> {
  const text = execFileSync('callgrind_annotate', ['--threshold=100', dump], { encoding: 'utf8', maxBuffer: 256 << 20 })
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/.exec(line)
    if (m === null || line.includes('PROGRAM TOTALS')) continue
    const count = Number(m[1]!.replace(/,/g, '')) / requests
    let name = m[2]!
    const jit = /^\?\?\?:0x([0-9a-f]+) \[\?\?\?\]/.exec(name)
    if (jit !== null) {
      const addr = parseInt(jit[1]!, 16)
      // Binary search for the last range starting at or before addr.
      let lo = 0
      let hi = map.starts.length - 1
      let at = -1
      while (lo <= hi) {
        const mid = (lo + hi) >> 1
        if (map.starts[mid]! <= addr) {
          at = mid
          lo = mid + 1
        } else hi = mid - 1
      }
      // Tier markers (* optimized, ^ baseline, ~ interpreted) are dropped: the function is the unit.
      name = at >= 0 && addr < map.ends[at]! ? map.names[at]!.replace(/^JS:[*~^+]?/, 'js ') : 'JIT code (unnamed)'
      name = name.replace(`file://${repoRoot}/`, '').replace(`${repoRoot}/`, '')
    } else {
      name = name.replace(/^\?\?\?:/, '').replace(/\s*\[\/[^\]]*\]$/, '').replace(/^\.\/\S*?:/, '')
    }
    if (name.length > 110) name = `${name.slice(0, 107)}...`
    out.set(name, (out.get(name) ?? 0) + count)
  }
  return out
}

async function measure(subject: string, scripts: ReturnType<typeof buildScripts>, dir: string): Promise<Counted> {
  const scenario = scenarios.find((s) => s.name === SCENARIO)
  if (scenario === undefined) throw new Error(`no scenario "${SCENARIO}" (have ${scenarios.map((s) => s.name).join(', ')})`)
  const [originPort, port] = [await freePort(), await freePort()]
  const h2 = scenario.http2 !== undefined
  // The HTTP/2 origin answers HTTP/1.1 on H1_PORT, which is how it is seen to be up.
  const h1Port = h2 ? await freePort() : originPort
  const origin = startProc('origin', process.execPath, [h2 ? scripts['origin-h2'] : scripts.origin], { core: 1, env: { ...env, PORT: String(originPort), H1_PORT: String(h1Port) } })
  const originUrl = `http://127.0.0.1:${originPort}`
  await waitFor(origin, 'origin listening', async () => (await get(`http://127.0.0.1:${h1Port}/`)).status === 200, 10_000)
  // Scenarios with policy redis get a private redis-server on the load core (outside the count).
  let redis: Proc | undefined
  if (scenario.redis === true) {
    const redisPort = await freePort()
    redis = startProc('redis', need('redis-server', 'redis-server'), ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { core: 1 })
    await waitFor(redis, 'redis-server answering', async () => {
      try {
        execFileSync('redis-cli', ['-p', String(redisPort), 'ping'], { stdio: 'ignore' })
        return true
      } catch {
        return false
      }
    }, 10_000)
    services.redisUrl = `redis://127.0.0.1:${redisPort}`
  }

  const out = join(dir, subject)
  const valgrind = [
    '--tool=callgrind',
    '--instr-atstart=no',
    // V8 writes and rewrites machine code in its heap.
    '--smc-check=all-non-file',
    '--trace-children=yes',
    '--separate-threads=yes',
    `--callgrind-out-file=${out}.%p`,
  ]
  // Both subjects get the young-generation size Portico's workers run with, so the GC work
  // compared is like for like; --perf-basic-prof names the JIT code.
  const nodeFlags = '--max-semi-space-size=8 --perf-basic-prof'
  let proc: Proc
  if (subject === 'floor') {
    proc = startProc('floor', 'valgrind', [...valgrind, process.execPath, h2 ? scripts['floor-h2'] : scripts.floor], {
      core: 0,
      env: { ...env, NODE_OPTIONS: nodeFlags, NODE_ENV: 'production', PORT: String(port), ORIGIN: originUrl },
    })
  } else {
    const adminPort = await freePort()
    const config = join(dir, `${subject}.yaml`)
    writeFileSync(config, stringify(scenario.gatewayConfig({ port, adminPort, origins: [originUrl] })))
    // portico@compare: another checkout's build (INSTR_COMPARE=<path>), for A/B of a change.
    const root = subject === 'portico@compare' ? (env.INSTR_COMPARE ?? '') : repoRoot
    if (root === '') throw new Error('subject portico@compare needs INSTR_COMPARE=<checkout with dist/ built>')
    proc = startProc('portico', 'valgrind', [...valgrind, process.execPath, join(root, 'bin', 'portico.js'), 'start', '-c', config], {
      core: 0,
      cwd: root,
      env: { ...env, NODE_OPTIONS: nodeFlags, NODE_ENV: 'production' },
    })
  }
  const url = `http://127.0.0.1:${port}`
  const pool = new Pool(url, { connections: CONNECTIONS })
  try {
    // Up when the listener answers at all (an h2c-only floor gives HTTP/1.1 nothing), then a request of the scenario's.
    const drive = (n: number) => (h2 ? loadH2(url, scenario.path, scenario.headers, n) : load(pool, scenario.path, scenario.headers, n))
    await waitFor(proc, `${url}${scenario.path} answering 200`, async () => {
      if (!h2) return (await get(`${url}${scenario.path}`, scenario.headers, 20_000)).status === 200
      await drive(1)
      return true
    }, 180_000)
    process.stdout.write(`[${subject}] warm-up: ${WARMUP} requests (uninstrumented)\n`)
    await drive(WARMUP)
    // The serving process is the last descendant: Portico's worker (the primary forks it), or the floor itself.
    const pid = tree(proc.pid).at(-1)!
    const control = (...args: string[]) => execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'ignore' })
    control('--zero')
    control('--instr=on')
    process.stdout.write(`[${subject}] counting: ${REQUESTS} requests in pid ${pid}\n`)
    await drive(REQUESTS)
    control('--instr=off')
    control('--dump')
    await pool.close()
    await proc.stop()
    await origin.stop()
    await redis?.stop()
    // One dump file per thread: <out>.<pid>.1-01 is the main thread.
    const dumps = readdirSync(dir).filter((f) => f.startsWith(`${subject}.${pid}.`) && /\.\d+-\d+$/.test(f))
    let main = 0
    let all = 0
    let mainDump = ''
    for (const f of dumps) {
      const m = /^totals: (\d+)/m.exec(readFileSync(join(dir, f), 'utf8'))
      const total = m === null ? 0 : Number(m[1])
      all += total
      if (f.endsWith('-01') && total >= main) {
        main = total
        mainDump = join(dir, f)
      }
    }
    if (mainDump === '') throw new Error(`${subject}: callgrind wrote no dump for pid ${pid}`)
    return { subject, main: main / REQUESTS, all: all / REQUESTS, functions: functions(mainDump, perfMap(pid), REQUESTS) }
  } finally {
    await pool.destroy().catch(() => undefined)
    await proc.stop()
    await origin.stop()
    await redis?.stop()
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

function report(results: Counted[]): string {
  const floor = results.find((r) => r.subject === 'floor')
  const lines = [
    `Instructions per request (callgrind), scenario ${SCENARIO}: ${WARMUP} warm-up requests, ${REQUESTS} counted, ${CONNECTIONS} connections${scenarios.find((s) => s.name === SCENARIO)?.http2 ? ` (h2c, ${H2_STREAMS} streams each)` : ''}.`,
    '',
    '| subject | main thread | all threads | main × floor |',
    '|---|---:|---:|---:|',
    ...results.map((r) => `| ${r.subject} | ${fmt(r.main)} | ${fmt(r.all)} | ${floor ? (r.main / floor.main).toFixed(3) : '-'} |`),
  ]
  for (const r of results) {
    if (r === floor) continue
    const rows = [...new Set([...r.functions.keys(), ...(floor?.functions.keys() ?? [])])]
      .map((name) => ({ name, own: r.functions.get(name) ?? 0, base: floor?.functions.get(name) ?? 0 }))
      .sort((a, b) => b.own - b.base - (a.own - a.base))
      .slice(0, TOP)
    lines.push('', `${r.subject}: the ${TOP} functions with the most instructions per request above the floor (main thread, self)`, '')
    lines.push('| function | floor | ' + r.subject + ' | difference |', '|---|---:|---:|---:|')
    for (const row of rows) lines.push(`| ${row.name.replace(/\|/g, '\\|')} | ${fmt(row.base)} | ${fmt(row.own)} | ${fmt(row.own - row.base)} |`)
  }
  return lines.join('\n')
}

need('valgrind', 'valgrind')
need('callgrind_control', 'valgrind')
installCleanupHandlers()
const dir = mkdtempSync(join(tmpdir(), 'portico-instr-'))
trackTempDir(dir)
const scripts = buildScripts()
const results: Counted[] = []
try {
  for (const subject of SUBJECTS) results.push(await measure(subject, scripts, dir))
} finally {
  await stopAll()
}
const text = report(results)
process.stdout.write(`\n${text}\n`)
writeFileSync(join(repoRoot, 'bench', 'results', 'instructions.md'), `${text}\n`)
