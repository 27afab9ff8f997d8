// systemd's readiness protocol (sd_notify(3)) for `Type=notify` units: READY=1 once the listeners
// serve, RELOADING=1 … READY=1 around a config swap, STOPPING=1 when the drain starts, and a
// STATUS= line that `systemctl status` shows. Only when systemd set NOTIFY_SOCKET.
//
// Why through the `systemd-notify` tool: the socket is a Unix datagram socket, which node:dgram
// cannot send to (udp4/udp6 only), and a native addon for one datagram per state change is not
// worth its build. The tool sends as a child process, so the unit needs `NotifyAccess=all`, and
// MAINPID names the primary. Messages go out one at a time, in order.
import { spawn } from 'node:child_process'
import type { Logger } from 'pino'

let queue: Promise<void> = Promise.resolve()
let warned = false

export function sdNotify(state: Record<string, string>, logger: Logger): void {
  if (process.env.NOTIFY_SOCKET === undefined || process.env.NOTIFY_SOCKET === '') return
  const args = ['--no-block', `--pid=${process.pid}`, ...Object.entries(state).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)]
  queue = queue.then(
    () =>
      new Promise<void>((resolve) => {
        const child = spawn('systemd-notify', args, { stdio: 'ignore' })
        child.once('error', (err) => {
          if (!warned) logger.warn({ err: err.message }, 'NOTIFY_SOCKET is set but systemd-notify cannot run; systemd is not told the state')
          warned = true
          resolve()
        })
        child.once('exit', () => resolve())
      }),
  )
}

/** Resolves once every notification sent so far went out (tests, and the last one before exit). */
export function sdNotified(): Promise<void> {
  return queue
}
