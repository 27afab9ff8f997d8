// In-place upgrade on one machine, with no load balancer in front (nginx's binary upgrade): the
// running primary starts the new version's primary beside itself, hands it the listening sockets
// (every data-plane listener and the admin listener) as inherited file descriptors, waits until it
// is ready, then drains and exits. The sockets are never closed, so no connection is refused during
// the switch: until the old workers stop accepting, the kernel queues connections for whichever
// process accepts next.
//
// Node 20 has no SO_REUSEPORT (net reusePort came in 22.12/23.1), and under node:cluster's
// round-robin scheduling the listening socket lives inside the cluster module, out of reach. So
// with `--handoff` the primary binds each data-plane socket itself (bound, not accepting: it never
// listens in the primary) and every worker asks for them over IPC and accepts on its own
// descriptor of each (dataplane/listen-handles.ts). The kernel then spreads connections over the
// workers, as with nginx's shared listening socket, instead of the primary's round robin. In
// cluster mode the new primary's workers take the sockets the same way, from the new primary.
import { spawn, type ChildProcess } from 'node:child_process'
import cluster from 'node:cluster'
import net from 'node:net'
import { getSystemErrorName } from 'node:util'
import type { Logger } from 'pino'
import type { ResolvedListener } from '../config/listeners.js'
import { parseListen } from '../core/address.js'
import { HANDLE_REPLY, HANDLE_REQUEST, HANDOFF_ENV, provideListenHandles } from '../dataplane/listen-handles.js'

/** The first descriptor number of the sockets in the new primary (3 is its IPC channel to the old one). */
const CHILD_FIRST_FD = 4
/** Comma-separated descriptors of the data-plane sockets, in listener order. */
const ENV_DATA_FDS = 'PORTICO_HANDOFF_FDS'
const ENV_ADMIN_FD = 'PORTICO_HANDOFF_ADMIN_FD'
const ENV_PARENT = 'PORTICO_HANDOFF_PARENT'
const READY_MESSAGE = 'portico:upgrade_ready'
/** How long the old primary waits for the new one to become ready before giving up on it. */
export const UPGRADE_TIMEOUT_MS = 120_000

/** A TCP handle as node:net keeps it (the object node:cluster itself passes to workers). */
interface ListenHandle {
  fd: number
}

// node:net's own helper that node:cluster's shared-handle mode uses to bind a socket without
// accepting on it; exported by node:net (underscore-named), typed here because @types/node omits it.
type CreateServerHandle = (address: string | null, port: number | null, addressType: number | null, fd?: number) => ListenHandle | number
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle

function fromEnv(name: string): string | undefined {
  const v = process.env[name]
  delete process.env[name] // read once: workers and a later successor must not see a stale number
  return v
}

function numberFromEnv(name: string): number | undefined {
  const v = fromEnv(name)
  if (v === undefined || !/^\d+$/.test(v)) return undefined
  return Number(v)
}

/** Whether this process was started by an upgrading primary (it then owns inherited sockets). */
export function inheritedHandoff(): boolean {
  return process.env[ENV_DATA_FDS] !== undefined
}

export class Handoff {
  readonly adminFd: number | undefined
  #handles: ListenHandle[] | null = null
  #inheritedData: number[] | undefined
  #parent: number | undefined
  #child: ChildProcess | null = null
  #logger: Logger

  constructor(logger: Logger) {
    this.#logger = logger
    const fds = fromEnv(ENV_DATA_FDS)
    this.#inheritedData = fds === undefined ? undefined : fds.split(',').filter((f) => /^\d+$/.test(f)).map(Number)
    this.adminFd = numberFromEnv(ENV_ADMIN_FD)
    this.#parent = numberFromEnv(ENV_PARENT)
  }

  /**
   * Binds (or adopts the inherited) data-plane sockets, one per listener, and offers them to the
   * workers. Call before the pool starts. Throws when they cannot be had: the caller exits, and an
   * upgrading parent keeps serving.
   */
  prepare(listeners: readonly ResolvedListener[], clustered: boolean): void {
    const inherited = this.#inheritedData
    if (inherited !== undefined && inherited.length !== listeners.length) {
      throw new Error(`the previous primary handed over ${inherited.length} listening sockets, the config has ${listeners.length} listeners: change listeners with a restart, not an upgrade`)
    }
    const handles = listeners.map((l, i) => {
      let h: ListenHandle | number
      if (inherited !== undefined) {
        h = createServerHandle(null, null, null, inherited[i])
      } else {
        const { host, port } = parseListen(l.listen, l.where, 'dataplane')
        if (net.isIP(host) === 0) throw new Error(`--handoff needs an IP address in ${l.where}, got "${host}"`)
        h = createServerHandle(host, port, net.isIPv6(host) ? 6 : 4)
      }
      if (typeof h === 'number') throw new Error(`could not bind ${String(l.listen)} for handoff: ${errname(h)}`)
      return h
    })
    this.#handles = handles
    if (clustered) {
      process.env[HANDOFF_ENV] = '1'
      cluster.on('message', (worker, msg: unknown) => {
        const m = msg as { type?: unknown; index?: unknown } | null
        if (m?.type !== HANDLE_REQUEST) return
        const h = typeof m.index === 'number' ? handles[m.index] : undefined
        if (h === undefined) worker.send({ type: HANDLE_REPLY, index: m.index, error: 'no such listener' })
        else worker.send({ type: HANDLE_REPLY, index: m.index }, h as unknown as net.Server)
      })
    } else {
      provideListenHandles(handles)
    }
  }

  /** Once ready: tell the primary that started us, so it drains and exits. */
  notifyParent(): void {
    if (this.#parent === undefined || process.send === undefined) return
    this.#logger.info({ old_pid: this.#parent }, 'upgrade: ready; the old primary drains now')
    process.send({ type: READY_MESSAGE, pid: process.pid }, undefined, {}, () => process.disconnect())
  }

  /**
   * SIGUSR2: start the new version's primary (the same command line, so whatever is installed at
   * that path now) on our sockets. `onReady` runs once it serves; if it exits or is not ready in
   * time, this primary keeps serving.
   */
  upgrade(adminFd: number | null, onReady: () => void): void {
    const log = this.#logger
    const handles = this.#handles
    if (handles === null) {
      log.error('upgrade requested, but this primary was started without --handoff: restart it instead')
      return
    }
    if (this.#child !== null) {
      log.warn({ new_pid: this.#child.pid }, 'upgrade already in progress')
      return
    }
    const dataFds = handles.map((_, i) => CHILD_FIRST_FD + i)
    const env: NodeJS.ProcessEnv = { ...process.env, [ENV_DATA_FDS]: dataFds.join(','), [ENV_PARENT]: String(process.pid) }
    delete env[HANDOFF_ENV]
    if (adminFd !== null) env[ENV_ADMIN_FD] = String(CHILD_FIRST_FD + handles.length)
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...handles.map((h) => h.fd), adminFd ?? 'ignore'],
      env,
    })
    this.#child = child
    log.info({ new_pid: child.pid }, 'upgrade: new primary started on the inherited sockets')
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      log.error({ new_pid: child.pid, timeout_ms: UPGRADE_TIMEOUT_MS }, 'upgrade: new primary not ready in time; stopping it, this one keeps serving')
      child.kill('SIGTERM')
    }, UPGRADE_TIMEOUT_MS)
    child.on('message', (msg: unknown) => {
      if (settled || (msg as { type?: unknown } | null)?.type !== READY_MESSAGE) return
      settled = true
      clearTimeout(timer)
      log.info({ new_pid: child.pid }, 'upgrade: new primary is ready; draining this one')
      onReady()
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (!settled) log.error({ new_pid: child.pid, code, signal }, 'upgrade: new primary exited before it was ready; this one keeps serving')
      settled = true
      if (this.#child === child) this.#child = null
    })
    child.once('error', (err) => log.error({ err }, 'upgrade: could not start the new primary'))
  }
}

function errname(code: number): string {
  try {
    return getSystemErrorName(code) // libuv's negative codes: -98 → EADDRINUSE
  } catch {
    return String(code)
  }
}
