// In-place upgrade on one machine, with no load balancer in front (nginx's binary upgrade): the
// running primary starts the new version's primary beside itself, hands it the listening sockets
// (data plane and admin) as inherited file descriptors, waits until it is ready, then drains and
// exits. The socket is never closed, so no connection is refused during the switch: until the old
// workers stop accepting, the kernel queues connections for whichever process accepts next.
//
// Node 20 has no SO_REUSEPORT (net reusePort came in 22.12/23.1), and under node:cluster's
// round-robin scheduling the listening socket lives inside the cluster module, out of reach. So
// with `--handoff` the primary binds the data-plane socket itself (bound, not accepting: it never
// listens in the primary) and every worker asks for it over IPC and accepts on its own descriptor
// of it (proxy/listen-handle.ts). The kernel then spreads connections over the workers, as with
// nginx's shared listening socket, instead of the primary's round robin.
import { spawn, type ChildProcess } from 'node:child_process'
import cluster from 'node:cluster'
import net from 'node:net'
import { getSystemErrorName } from 'node:util'
import type { Logger } from 'pino'
import { HANDLE_REPLY, HANDLE_REQUEST, HANDOFF_ENV, provideListenHandle } from '../proxy/listen-handle.js'
import { parseListen } from '../proxy/server.js'

/** Descriptor numbers in the new primary (3 is its IPC channel to the old one). */
const CHILD_DATA_FD = 4
const CHILD_ADMIN_FD = 5
const ENV_DATA_FD = 'PORTICO_HANDOFF_FD'
const ENV_ADMIN_FD = 'PORTICO_HANDOFF_ADMIN_FD'
const ENV_PARENT = 'PORTICO_HANDOFF_PARENT'
const READY_MESSAGE = 'portico:upgrade_ready'
/** How long the old primary waits for the new one to become ready before giving up on it. */
export const UPGRADE_TIMEOUT_MS = 60_000

/** A TCP handle as node:net keeps it (the object node:cluster itself passes to workers). */
interface ListenHandle {
  fd: number
}

// node:net's own helper that node:cluster's shared-handle mode uses to bind a socket without
// accepting on it; exported by node:net (underscore-named), typed here because @types/node omits it.
type CreateServerHandle = (address: string | null, port: number | null, addressType: number | null, fd?: number) => ListenHandle | number
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle

function numberFromEnv(name: string): number | undefined {
  const v = process.env[name]
  delete process.env[name] // read once: workers and a later successor must not see a stale number
  if (v === undefined || !/^\d+$/.test(v)) return undefined
  return Number(v)
}

/** Whether this process was started by an upgrading primary (it then owns inherited sockets). */
export function inheritedHandoff(): boolean {
  return process.env[ENV_DATA_FD] !== undefined
}

export class Handoff {
  readonly adminFd: number | undefined
  #handle: ListenHandle | null = null
  #inheritedData: number | undefined
  #parent: number | undefined
  #child: ChildProcess | null = null
  #logger: Logger

  constructor(logger: Logger) {
    this.#logger = logger
    this.#inheritedData = numberFromEnv(ENV_DATA_FD)
    this.adminFd = numberFromEnv(ENV_ADMIN_FD)
    this.#parent = numberFromEnv(ENV_PARENT)
  }

  /** Binds (or adopts the inherited) data-plane socket and offers it to the workers. Call before the pool starts. */
  prepare(listen: string | number, clustered: boolean): void {
    let h: ListenHandle | number
    if (this.#inheritedData !== undefined) {
      h = createServerHandle(null, null, null, this.#inheritedData)
    } else {
      const { host, port } = parseListen(listen)
      if (net.isIP(host) === 0) throw new Error(`--handoff needs an IP address in server.listen, got "${host}"`)
      h = createServerHandle(host, port, net.isIPv6(host) ? 6 : 4)
    }
    if (typeof h === 'number') throw new Error(`could not bind ${String(listen)} for handoff: ${errname(h)}`)
    this.#handle = h
    if (clustered) {
      process.env[HANDOFF_ENV] = '1'
      cluster.on('message', (worker, msg: unknown) => {
        if ((msg as { type?: unknown } | null)?.type === HANDLE_REQUEST) worker.send({ type: HANDLE_REPLY }, h as unknown as net.Socket)
      })
    } else {
      provideListenHandle(h)
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
    if (this.#handle === null) {
      log.error('upgrade requested, but this primary was started without --handoff: restart it instead')
      return
    }
    if (this.#child !== null) {
      log.warn({ new_pid: this.#child.pid }, 'upgrade already in progress')
      return
    }
    const env: NodeJS.ProcessEnv = { ...process.env, [ENV_DATA_FD]: String(CHILD_DATA_FD), [ENV_PARENT]: String(process.pid) }
    delete env[HANDOFF_ENV]
    if (adminFd !== null) env[ENV_ADMIN_FD] = String(CHILD_ADMIN_FD)
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', this.#handle.fd, adminFd ?? 'ignore'],
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
