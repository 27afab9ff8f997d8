// Ports for servers that must be told their port before they start (the gateway's listeners, Redis,
// etcd, Pebble, …), without the bind-release-rebind race.
//
// The race this replaces: "bind port 0, read the port, close, hand it out" lets the kernel give the
// same ephemeral port to the next caller (in CI a gateway's admin and data listeners once got the
// same port and the worker died with EADDRINUSE), or to any process's outgoing connection.
//
// Two things close it:
// - The ports come from below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by
//   default), so neither port-0 binds nor outgoing connections are ever given one of them.
// - Every test process reserves a port before handing it out by creating a file named after it
//   under the OS temp dir with O_EXCL, holding its pid. Test files run in parallel processes, so
//   this is what keeps two of them from picking the same port; a reservation whose process is gone
//   is taken over, and a process removes its own on exit.
// A port some other program already listens on is skipped by a bind check.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const LOW = 20_000
const HIGH = 32_000
const DIR = join(tmpdir(), 'portico-test-ports')
const mine = new Set<number>()

process.once('exit', () => {
  for (const port of mine) rmSync(join(DIR, String(port)), { force: true })
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Claim `port` for this process; false when another live test process holds it. */
function reserve(port: number): boolean {
  const file = join(DIR, String(port))
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' })
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const holder = Number(readFileSync(file, 'utf8'))
  if (holder > 0 && alive(holder)) return false
  // The holder died without cleaning up. Remove and retry once: if two processes race for the same
  // stale file, only one of them wins the O_EXCL create.
  rmSync(file, { force: true })
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' })
    return true
  } catch {
    return false
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/**
 * A loopback TCP port no other test process will be given and nothing listens on. Prefer listening
 * on port 0 and reading the address where the code under test allows it.
 */
export async function freePort(): Promise<number> {
  mkdirSync(DIR, { recursive: true })
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW))
    if (mine.has(port) || !reserve(port)) continue
    mine.add(port)
    if (await bindable(port)) return port
    // Something outside the suite listens there: keep the reservation so no one retries it.
  }
  throw new Error(`no free test port in ${LOW}-${HIGH} after 1000 tries`)
}
