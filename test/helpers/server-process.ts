// The lifecycle every real-server test helper shares (redis-server, etcd): spawn on fixed ports
// in a private temp dir, wait until it answers, stop with SIGTERM and wait for the exit, start
// again on the same ports and data, and remove the dir on close.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pollUntil } from './poll.js'

export interface ServerProcessSpec {
  /** Binary, and the Debian package that provides it (named in the error when it is missing). */
  command: string
  pkg: string
  /** Arguments, given the private temp dir. */
  args(dir: string): string[]
  /** Resolves true once the server answers. */
  ready(): Promise<boolean>
  what: string
  readyTimeoutMs?: number
  env?: SpawnOptions['env']
}

export interface ServerProcess {
  dir: string
  start(): Promise<void>
  /** SIGTERM and wait for the exit; the data dir stays. */
  stop(): Promise<void>
  /** stop(), then remove the data dir. */
  close(): Promise<void>
}

/** SIGTERM, then SIGKILL after this long. */
const STOP_TIMEOUT_MS = 20_000

export async function serverProcess(spec: ServerProcessSpec): Promise<ServerProcess> {
  const dir = await mkdtemp(join(tmpdir(), `portico-${spec.command}-`))
  let child: ChildProcess | null = null
  const start = async () => {
    const c = spawn(spec.command, spec.args(dir), { stdio: 'ignore', env: spec.env ?? process.env })
    child = c
    // A missing binary, or a server that exits at start (a port taken meanwhile, a bad flag), fails
    // the wait at once, with the package to install, instead of timing out. (pollUntil keeps
    // polling through a throwing check, so the failure races the wait.)
    let failed!: (err: Error) => void
    const failure = new Promise<never>((_, reject) => (failed = reject))
    const onError = (err: Error) => failed(new Error(`cannot start ${spec.command} (install the Debian package ${spec.pkg}): ${err.message}`))
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => failed(new Error(`${spec.what}: exited during startup (code ${code}, signal ${signal})`))
    c.once('error', onError)
    c.once('exit', onExit)
    const giveUp = new AbortController()
    const ready = pollUntil(() => spec.ready(), { what: spec.what, timeoutMs: spec.readyTimeoutMs ?? 60_000, intervalMs: 50, signal: giveUp.signal })
    try {
      await Promise.race([failure, ready])
    } finally {
      giveUp.abort()
      ready.catch(() => undefined)
      c.off('exit', onExit)
      failure.catch(() => undefined)
    }
  }
  const stop = async () => {
    const c = child
    if (c === null) return
    child = null
    if (c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGTERM')
    // A server that ignores SIGTERM (a stuck shutdown) must not hold the file until its timeout.
    const timer = setTimeout(() => c.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }
  try {
    await start()
  } catch (err) {
    // Nothing of a server that never came up outlives the failed start.
    await stop()
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  return {
    dir,
    start,
    stop,
    async close() {
      await stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Waits for every start, even when one fails, then throws the first failure. With Promise.all a
 * failed start returns at once, and the caller's cleanup misses the servers still starting: they
 * outlive the test (seen: a TLS cluster that never formed left its Sentinel set running).
 */
export async function allStarted<T extends readonly unknown[]>(starts: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(starts)
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T
}
