// `npm run bench:scale`: how Portico scales with its route table (issue 12's 10k-route goals).
//
// For each table size (10 and 10,000 generated routes by default: exact, param, wildcard and
// host-bound paths, some with methods) it runs the real CLI from dist/ with one worker and reports:
// - validate: `portico validate` of the document, wall time;
// - ready: from spawning `portico start` to /readyz 200;
// - RSS of the primary and of the worker once ready;
// - reload: from the rename of a changed file (one route added) to that route serving, median and
//   max of RELOADS reloads, so the file watcher's debounce is included, as a user sees it.
// - p99 of a paced client (200 req/s to one route, kept-alive) for STORM_S seconds without
//   reloads, then the same while the file is replaced every 300 ms (a reload storm).
// Goals (issue 12): ready < 2 s, worker RSS ≤ 150 MB, reload < 500 ms with 10,000 routes, and
// the storm's p99 within 1 ms of the quiet one.
//
// SCALE_ROUTES=10,10000 (comma list) and SCALE_RELOADS=5 change the run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { AddressInfo } from 'node:net'

const ROOT = resolve(import.meta.dirname, '../..')
const MAIN = join(ROOT, 'dist/main.js')
const sizes = (process.env.SCALE_ROUTES ?? '10,10000').split(',').map(Number)
const reloads = Number(process.env.SCALE_RELOADS ?? 5)

function routes(n: number, extra: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (let i = 0; i < n; i++) {
    const r: Record<string, unknown> = { name: `r${i}`, upstream: 'origin' }
    const k = i % 4
    if (k === 0) r.paths = [`/svc${i}/items`]
    else if (k === 1) r.paths = [`/svc${i}/items/:id`]
    else if (k === 2) r.paths = [`/svc${i}/static/*`]
    else Object.assign(r, { paths: [`/api/v${i}`], hosts: [`h${i}.example.com`] })
    if (i % 10 === 0) r.methods = ['GET', 'POST']
    out.push(r)
  }
  for (let j = 0; j < extra; j++) out.push({ name: `probe${j}`, paths: [`/probe/${j}`], upstream: 'origin' })
  return out
}

function document(n: number, extra: number, port: number, adminPort: number, origin: number): string {
  return JSON.stringify({
    server: { listen: `127.0.0.1:${port}` },
    admin: { listen: `127.0.0.1:${adminPort}` },
    log: { level: 'warn', access_log: { enabled: false } },
    upstreams: { origin: { targets: [{ url: `http://127.0.0.1:${origin}` }] } },
    routes: routes(n, extra),
  })
}

function freePortOf(server: http.Server): number {
  return (server.address() as AddressInfo).port
}

async function listen(handler: http.RequestListener): Promise<http.Server> {
  const s = http.createServer(handler)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return s
}

async function status(url: string): Promise<number> {
  return new Promise((res) => {
    const req = http.get(url, (r) => {
      r.resume()
      r.on('end', () => res(r.statusCode ?? 0))
    })
    req.on('error', () => res(0))
  })
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) / 1024
}

function children(pid: number): number[] {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
  return r.stdout.split('\n').map((l) => Number(l.trim())).filter((p) => p > 0)
}

/** Ports for the gateway: taken by listening on 0 and released just before the start (bench only). */
async function twoPorts(): Promise<[number, number]> {
  const a = await listen(() => undefined)
  const b = await listen(() => undefined)
  const ports: [number, number] = [freePortOf(a), freePortOf(b)]
  await Promise.all([a, b].map((s) => new Promise((r) => s.close(r))))
  return ports
}

const STORM_S = Number(process.env.SCALE_STORM_S ?? 3)

/** p99 (ms) of GETs paced at 200/s for `seconds`, while `during` runs. */
async function pacedP99(url: string, seconds: number, during: () => Promise<void>): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  const lat: number[] = []
  const one = () =>
    new Promise<void>((res) => {
      const t = performance.now()
      http
        .get(url, { agent }, (r) => {
          r.resume()
          r.on('end', () => {
            lat.push(performance.now() - t)
            res()
          })
        })
        .on('error', () => res())
    })
  const inflight: Promise<void>[] = []
  const end = performance.now() + seconds * 1000
  let next = performance.now()
  const bg = during()
  while (performance.now() < end) {
    inflight.push(one())
    next += 5
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())))
  }
  await Promise.all(inflight)
  await bg
  agent.destroy()
  lat.sort((a, b) => a - b)
  return lat[Math.floor(lat.length * 0.99)] ?? NaN
}

interface Row {
  routes: number
  validateMs: number
  readyMs: number
  primaryMb: number
  workerMb: number
  reloadMedianMs: number
  reloadMaxMs: number
  quietP99Ms: number
  stormP99Ms: number
}

async function measure(n: number, origin: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-scale-'))
  const file = join(dir, 'portico.json')
  const [port, adminPort] = await twoPorts()
  writeFileSync(file, document(n, 0, port, adminPort, origin))
  let child: ChildProcess | undefined
  try {
    let t = performance.now()
    const v = spawnSync(process.execPath, [MAIN, 'validate', '-c', file], { encoding: 'utf8' })
    const validateMs = performance.now() - t
    if (v.status !== 0) throw new Error(`validate failed: ${v.stdout}${v.stderr}`)

    t = performance.now()
    child = spawn(process.execPath, [MAIN, 'start', '-c', file, '--workers', '1'], { stdio: ['ignore', 'ignore', 'inherit'] })
    await until('/readyz', async () => (await status(`http://127.0.0.1:${adminPort}/readyz`)) === 200)
    const readyMs = performance.now() - t
    const workers = children(child.pid!)
    const primaryMb = rssMb(child.pid!)
    const workerMb = workers.length > 0 ? Math.max(...workers.map(rssMb)) : NaN

    const times: number[] = []
    for (let j = 1; j <= reloads; j++) {
      const tmp = `${file}.tmp`
      writeFileSync(tmp, document(n, j, port, adminPort, origin))
      t = performance.now()
      renameSync(tmp, file)
      await until(`route /probe/${j - 1}`, async () => (await status(`http://127.0.0.1:${port}/probe/${j - 1}`)) === 200)
      times.push(performance.now() - t)
    }
    times.sort((a, b) => a - b)

    const target = `http://127.0.0.1:${port}/probe/0`
    const quietP99Ms = await pacedP99(target, STORM_S, async () => undefined)
    let storming = true
    const stormP99Ms = await pacedP99(target, STORM_S, async () => {
      for (let k = 0; storming; k++) {
        const tmp = `${file}.tmp`
        writeFileSync(tmp, document(n, reloads + 1 + (k % 2), port, adminPort, origin))
        renameSync(tmp, file)
        await new Promise((r) => setTimeout(r, 300))
        if (k * 300 >= STORM_S * 1000) storming = false
      }
    })
    return { routes: n, validateMs, readyMs, primaryMb, workerMb, reloadMedianMs: times[Math.floor(times.length / 2)]!, reloadMaxMs: times.at(-1)!, quietP99Ms, stormP99Ms }
  } finally {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

const origin = await listen((_req, res) => res.end('ok'))
const rows: Row[] = []
for (const n of sizes) rows.push(await measure(n, freePortOf(origin)))
origin.close()

const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-')
console.log(`node ${process.version}, ${reloads} reloads each, one worker`)
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-')
console.log('| routes | validate ms | ready ms | primary RSS MB | worker RSS MB | reload median ms | reload max ms | p99 quiet ms | p99 reload storm ms |')
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const r of rows) console.log(`| ${r.routes} | ${f(r.validateMs)} | ${f(r.readyMs)} | ${f(r.primaryMb)} | ${f(r.workerMb)} | ${f(r.reloadMedianMs)} | ${f(r.reloadMaxMs)} | ${f1(r.quietP99Ms)} | ${f1(r.stormP99Ms)} |`)
