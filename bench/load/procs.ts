// Child processes of a benchmark run: start them pinned to a core, read their CPU time and RSS from
// /proc, and make sure every one of them is gone when the run ends, fails or is interrupted.
import { spawn, execFileSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { accessSync, constants, readFileSync, readdirSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect as h2connect } from 'node:http2'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { delimiter, join } from 'node:path'

/** Absolute path of an executable on PATH (or an absolute path that exists), or null. */
export function which(cmd: string): string | null {
  const candidates = cmd.includes('/') ? [cmd] : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, cmd))
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not here; try the next PATH entry
    }
  }
  return null
}

const TASKSET = which('taskset')
export const canPin = TASKSET !== null

/** Clock ticks per second of utime/stime in /proc/<pid>/stat. */
export const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

export interface Proc {
  readonly name: string
  readonly pid: number
  /** Set once the process has exited. */
  readonly exit: { code: number | null; signal: string | null } | null
  readonly exited: Promise<void>
  /** The last few KB of stderr, for failure messages. */
  stderrTail(): string
  stop(): Promise<void>
}

const live = new Set<{ proc: Proc; child: ChildProcess }>()
const tempDirs = new Set<string>()

export interface StartOptions {
  /** CPU to pin the process to with taskset; unpinned when taskset is missing. */
  core?: number
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** 'pipe' to read stdout (see onStdout), or a file descriptor it is written to; default ignored. */
  stdout?: 'pipe' | number
  onStdout?: (chunk: Buffer) => void
}

export function startProc(name: string, cmd: string, args: string[], opts: StartOptions = {}): Proc {
  // taskset execs the command, so the pid we get is the pid we measure.
  const [file, argv] = opts.core !== undefined && TASKSET ? [TASKSET, ['-c', String(opts.core), cmd, ...args]] : [cmd, args]
  // Own process group (detached): Ctrl-C in the terminal does not reach children half-way through a
  // write, and stop() can signal a child together with anything it forked.
  const child = spawn(file, argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', opts.stdout ?? 'ignore', 'pipe'],
  })
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`)
  let tail = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000)
  })
  if (opts.onStdout) child.stdout?.on('data', opts.onStdout)
  let exit: Proc['exit'] = null
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exit = { code, signal }
      resolve()
    })
    child.on('error', (err) => {
      tail += `\n${err.message}`
      exit = { code: null, signal: null }
      resolve()
    })
  })
  const pid = child.pid
  const proc: Proc = {
    name,
    pid,
    get exit() {
      return exit
    },
    exited,
    stderrTail: () => tail.trim(),
    async stop() {
      if (exit === null) {
        signalGroup(pid, 'SIGTERM')
        const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), 3000)
        await exited
        clearTimeout(timer)
      }
      live.delete(entry)
    },
  }
  const entry = { proc, child }
  live.add(entry)
  void exited.then(() => live.delete(entry))
  return proc
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // already gone
  }
}

/** Remember a directory to delete when the run ends, however it ends. */
export function trackTempDir(dir: string): void {
  tempDirs.add(dir)
}

/** Synchronous last-resort cleanup: kill every child group and delete temp dirs. */
export function cleanupSync(): void {
  for (const { proc } of live) signalGroup(proc.pid, 'SIGKILL')
  live.clear()
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map(({ proc }) => proc.stop()))
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

export function installCleanupHandlers(): void {
  process.on('exit', cleanupSync)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping children and removing temp dirs\n`)
      cleanupSync()
      process.exit(130)
    })
  }
}

/** The pid and all its descendants (a gateway may fork workers), via /proc/<pid>/task/<tid>/children. */
export function tree(pid: number): number[] {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as number
    let tids: string[]
    try {
      tids = readdirSync(`/proc/${p}/task`)
    } catch {
      continue
    }
    for (const tid of tids) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c))
      } catch {
        // thread exited, or the kernel lacks CONFIG_PROC_CHILDREN: count the pid alone
      }
    }
  }
  return out
}

/** utime + stime (fields 14 and 15 of /proc/<pid>/stat), in clock ticks, all threads included. */
export function parseStatTicks(stat: string): number {
  // Field 2 (comm) is in parentheses and may contain spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  return Number(rest[11]) + Number(rest[12])
}

/** CPU time of a process tree so far, in microseconds. */
export function cpuMicros(pid: number): number {
  let ticks = 0
  for (const p of tree(pid)) {
    try {
      ticks += parseStatTicks(readFileSync(`/proc/${p}/stat`, 'utf8'))
    } catch {
      // exited between listing and reading
    }
  }
  return (ticks * 1e6) / CLK_TCK
}

/**
 * CPU time of a process tree in µs from /proc/<pid>/task/<tid>/schedstat (nanoseconds on a CPU,
 * every thread): exact, where /proc/<pid>/stat counts whole clock ticks, too coarse for an idle
 * process that wakes for tens of microseconds at a time.
 */
export function cpuMicrosExact(pid: number): number {
  let ns = 0
  for (const p of tree(pid)) {
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) ns += Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // exited between listing and reading
    }
  }
  return ns / 1000
}

/**
 * Resident set size of a process tree (VmRSS of /proc/<pid>/status), in MB: the largest single
 * process (a worker, for gateways that fork: the "per worker" figure) and the tree's total.
 */
export function rssMB(pid: number): { largest: number; total: number } {
  let largest = 0
  let total = 0
  for (const p of tree(pid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))
      if (m) {
        const kb = Number(m[1])
        total += kb
        largest = Math.max(largest, kb)
      }
    } catch {
      // exited
    }
  }
  return { largest: largest / 1024, total: total / 1024 }
}

/** A free loopback port (bound, then released) for servers that need the port in their config. */
export async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

export interface Probe {
  status: number
  body: string
}

/** One GET on a fresh connection (no agent, so nothing is left open on the subject). */
export function get(url: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<Probe> {
  return new Promise((resolve, reject) => {
    // https:// (the TLS scenarios): the bench's own self-signed certificate, so no verification.
    const send = url.startsWith('https:') ? (u: string, o: object, cb: Parameters<typeof request>[2]) => httpsRequest(u, { ...o, rejectUnauthorized: false }, cb) : request
    const req = send(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs}ms`)))
    req.on('error', reject)
    req.end()
  })
}

/**
 * Poll until check() returns true, failing early when the process exits and with the last error
 * when the deadline passes. Polling with a deadline, never a fixed sleep: startup times vary.
 */
export async function waitFor(proc: Proc, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    if (proc.exit) {
      const how = proc.exit.signal ?? `code ${proc.exit.code}`
      throw new Error(`${proc.name} exited (${how}) before ${what}${proc.stderrTail() ? `: ${lastLines(proc.stderrTail())}` : ''}`)
    }
    try {
      if (await check()) return
    } catch (err) {
      last = (err as Error).message
    }
    if (Date.now() > deadline) throw new Error(`${proc.name}: timed out after ${timeoutMs}ms waiting for ${what}${last ? ` (${last})` : ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ')
}

/** Busy ticks of the whole machine so far (all cores, from the "cpu" line of /proc/stat). */
export function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  // cpu  user nice system idle iowait irq softirq steal ...: busy = everything but idle + iowait.
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  return v.reduce((a, b) => a + b, 0) - (v[3] ?? 0) - (v[4] ?? 0)
}

/** This process's own CPU plus that of its reaped children (the load tools), in clock ticks. */
export function selfAndReapedTicks(): number {
  const rest = readFileSync('/proc/self/stat', 'utf8')
  const f = rest.slice(rest.lastIndexOf(')') + 2).split(' ')
  // fields 14-17: utime stime cutime cstime
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
}

/**
 * One HTTP/2 request by prior knowledge (h2c) on its own session, closed after: the probe of the h2
 * and grpc scenarios. `body` makes it a POST; gRPC's status is read from the trailers. An https://
 * url (h2-tls) is HTTP/2 by ALPN over TLS, the bench's self-signed certificate not verified (as
 * get() does); `tls` then says the version negotiated, so the probe can hold the scenario to TLS 1.3.
 */
export function h2get(url: string, path: string, headers: Record<string, string> = {}, body?: Buffer, timeoutMs = 2000): Promise<Probe & { grpcStatus?: string; tls?: string }> {
  return new Promise((resolve, reject) => {
    // node:http2 offers ALPN h2 alone on https://: a server that does not pick it fails the session.
    const session = h2connect(url, url.startsWith('https:') ? { rejectUnauthorized: false } : {})
    const timer = setTimeout(() => {
      session.destroy()
      reject(new Error(`h2 ${path} on ${url}: no answer in ${timeoutMs}ms`))
    }, timeoutMs)
    const fail = (err: Error): void => {
      clearTimeout(timer)
      session.destroy()
      reject(err)
    }
    session.on('error', fail)
    const req = session.request({ ':method': body ? 'POST' : 'GET', ':path': path, ...headers }, { endStream: body === undefined })
    let status = 0
    let grpcStatus: string | undefined
    let text = ''
    req.on('response', (h) => {
      status = Number(h[':status'])
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status'])
    })
    req.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) grpcStatus = String(t['grpc-status'])
    })
    req.setEncoding('latin1')
    req.on('data', (c: string) => (text += c))
    req.on('end', () => {
      clearTimeout(timer)
      const tls = session.encrypted === true ? (session.socket as TLSSocket).getProtocol() : null
      session.close()
      resolve({ status, body: text, ...(grpcStatus !== undefined ? { grpcStatus } : {}), ...(tls ? { tls } : {}) })
    })
    req.on('error', fail)
    if (body) req.end(body)
  })
}
