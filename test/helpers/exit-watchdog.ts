// A test file whose process outlives its last hook waits out node:test's 300 s file timeout and
// then fails as a whole, naming nothing (CI once saw this from redis-cluster.test.ts: every test had
// passed). What can hold it: a connection or timer a client library starts while a close() races a
// failover (ioredis's cluster and sentinel reconnects). Armed in the file's last `after`, this
// waits a grace period; if the process is still alive then, it prints what keeps it alive (sockets
// with their peers, timers) to stderr, so the leak can be found, and exits with the file's result.
import { basename } from 'node:path'

interface HandleLike {
  constructor?: { name?: string }
  remoteAddress?: string
  remotePort?: number
  localPort?: number
  pid?: number
  spawnargs?: string[]
}

function describe(h: unknown): string {
  const x = h as HandleLike
  const kind = x.constructor?.name ?? typeof h
  if (x.remotePort !== undefined) return `${kind} ${x.localPort ?? '?'} → ${x.remoteAddress}:${x.remotePort}`
  if (x.pid !== undefined) return `${kind} pid ${x.pid} ${(x.spawnargs ?? []).slice(0, 3).join(' ')}`
  return kind
}

export function exitWhenDone(file: string, graceMs = 10_000): void {
  const timer = setTimeout(() => {
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()
    console.error(
      `[exit-watchdog] ${basename(file)}: still running ${graceMs} ms after its last hook; held by: ${handles.map(describe).join('; ')}; resources: ${process.getActiveResourcesInfo().join(', ')}`,
    )
    process.exit(process.exitCode ?? 0)
  }, graceMs)
  timer.unref()
}
