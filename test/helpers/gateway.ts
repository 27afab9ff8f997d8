// Runs the real `portico` CLI as a child process on free loopback ports, waits for /readyz,
// captures its output, and kills its whole process group on stop, so cluster workers never
// outlive a test. Under scripts/run-tests.mjs (PORTICO_TEST_DIST=1, dist/ just built) it runs
// the compiled dist/main.js, as users do; a test file run on its own goes through tsx on src/.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { request } from 'undici'
import { stringify } from 'yaml'
import { freePort } from './origin.js'
import { pollUntil } from './poll.js'

const ROOT = resolve(import.meta.dirname, '../..')
/** How to run the CLI: the compiled entry when the runner built it, else src/ through tsx. */
export const CLI_ENTRY: readonly string[] =
  process.env.PORTICO_TEST_DIST === '1' ? [join(ROOT, 'dist/main.js')] : ['--import', 'tsx', join(ROOT, 'src/main.ts')]
/** Process starts on a busy CI host take far longer than on a quiet one; deadlines allow for it. */
const START_TIMEOUT_MS = 90_000

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface Gateway {
  /** Data-plane base URL, e.g. http://127.0.0.1:41234 */
  url: string
  /** Admin base URL. */
  adminUrl: string
  port: number
  adminPort: number
  configFile: string
  child: ChildProcess
  pid: number
  /** Everything written so far. */
  stdout(): string
  stderr(): string
  /** Replace the config file atomically (write + rename, as editors and config tools do). */
  writeConfig(config: Record<string, unknown> | string): Promise<void>
  /** Build a full document from a partial one with this gateway's listen/admin addresses filled in. */
  document(config: Record<string, unknown>): Record<string, unknown>
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>
  exited: Promise<Exit>
  /** SIGTERM, wait for exit (SIGKILL to the group after timeoutMs), remove the temp dir. Idempotent. */
  stop(timeoutMs?: number): Promise<Exit>
}

export interface StartOptions {
  /** The config: an object (server.listen and admin.listen are filled in unless given) or raw YAML text. */
  config: Record<string, unknown> | ((ports: { port: number; adminPort: number }) => string)
  /** Extra CLI arguments after `start -c <file>`, e.g. ['--no-cluster'] or ['--workers', '2']. */
  args?: string[]
  env?: Record<string, string>
  /** Wait for /readyz 200 (default true). */
  waitReady?: boolean
  readyTimeoutMs?: number
}

const live = new Set<ChildProcess>()
// Last line of defence if a test crashes before its cleanup: never leave gateways behind.
process.once('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL')
})

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

export function withAddresses(config: Record<string, unknown>, port: number, adminPort: number): Record<string, unknown> {
  const server = { listen: `127.0.0.1:${port}`, ...((config.server as object | undefined) ?? {}) }
  const admin = { listen: `127.0.0.1:${adminPort}`, ...((config.admin as object | undefined) ?? {}) }
  return { ...config, server, admin }
}

export async function startGateway(opts: StartOptions): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'portico-gw-'))
  const configFile = join(dir, 'portico.yaml')
  const port = await freePort()
  const adminPort = await freePort()
  const text = typeof opts.config === 'function' ? opts.config({ port, adminPort }) : stringify(withAddresses(opts.config, port, adminPort))
  await writeFile(configFile, text)

  const child = spawn(process.execPath, [...CLI_ENTRY, 'start', '-c', configFile, ...(opts.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: stop() signals the primary and every cluster worker at once on timeout.
    detached: true,
  })
  live.add(child)
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const exited = new Promise<Exit>((res) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      res({ code, signal })
    })
  })
  let exitInfo: Exit | null = null
  // A gateway that exits while the test waits for it ends the wait at once (pollUntil would
  // otherwise poll through the thrown error until its deadline).
  const gone = new AbortController()
  void exited.then((e) => {
    exitInfo = e
    gone.abort()
  })

  let stopped: Promise<Exit> | null = null
  let tmpSeq = 0
  const gw: Gateway = {
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    port,
    adminPort,
    configFile,
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    document: (config) => withAddresses(config, port, adminPort),
    async writeConfig(config) {
      const body = typeof config === 'string' ? config : stringify(withAddresses(config, port, adminPort))
      const tmp = join(dir, `.portico.yaml.${++tmpSeq}.tmp`)
      await writeFile(tmp, body)
      await rename(tmp, configFile)
    },
    waitForOutput: (pattern, timeoutMs = 10_000) =>
      pollUntil(() => pattern.test(out) || pattern.test(err), { timeoutMs, what: `output matching ${pattern}` }).then(() => undefined),
    exited,
    stop(timeoutMs = 15_000) {
      stopped ??= (async () => {
        if (exitInfo === null) {
          killGroup(child, 'SIGTERM')
          const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs)
          await exited
          clearTimeout(timer)
        }
        // Workers of a primary that exited are reaped by their own 'disconnect' handler; make sure.
        killGroup(child, 'SIGKILL')
        await rm(dir, { recursive: true, force: true })
        return exited
      })()
      return stopped
    },
  }

  if (opts.waitReady !== false) {
    try {
      await pollUntil(
        async () => {
          if (exitInfo !== null) throw new Error(`gateway exited early (${JSON.stringify(exitInfo)})`)
          const res = await request(`${gw.adminUrl}/readyz`)
          await res.body.dump()
          return res.statusCode === 200
        },
        { timeoutMs: opts.readyTimeoutMs ?? START_TIMEOUT_MS, intervalMs: 50, what: 'gateway /readyz', signal: gone.signal },
      )
    } catch (e) {
      await gw.stop()
      const why = exitInfo === null ? (e as Error).message : `gateway exited before it was ready (${JSON.stringify(exitInfo)})`
      throw new Error(`${why}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`)
    }
  }
  return gw
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run a one-shot CLI command (validate, --help, …) to completion. */
export function runCli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [...CLI_ENTRY, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      rej(new Error(`portico ${args.join(' ')} did not exit within ${opts.timeoutMs ?? START_TIMEOUT_MS}ms\n${stdout}\n${stderr}`))
    }, opts.timeoutMs ?? START_TIMEOUT_MS)
    child.once('exit', (code) => {
      clearTimeout(timer)
      res({ code, stdout, stderr })
    })
  })
}

/** GET a JSON admin endpoint. */
export async function adminJson<T = Record<string, unknown>>(gw: Gateway, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await request(`${gw.adminUrl}${path}`, { headers })
  return { status: res.statusCode, body: (await res.body.json()) as T }
}
