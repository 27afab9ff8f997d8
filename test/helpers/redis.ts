// A real redis-server on a free loopback port, private to the test (never the machine's shared
// 6379), with nothing persisted. stop()/start() let tests take Redis away mid-run.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import { freePort } from './origin.js'
import { pollUntil } from './poll.js'

export interface RedisServer {
  port: number
  url: string
  /** Stops the server (SIGKILL-free: SIGTERM and wait). */
  stop(): Promise<void>
  /** Starts it again on the same port. */
  start(): Promise<void>
  close(): Promise<void>
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.setTimeout(500)
    s.once('connect', () => s.write('PING\r\n'))
    s.once('data', (d) => {
      s.destroy()
      resolve(String(d).startsWith('+PONG'))
    })
    s.once('error', () => resolve(false))
    s.once('timeout', () => {
      s.destroy()
      resolve(false)
    })
  })
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'portico-redis-'))
  let child: ChildProcess | null = null
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
    child.once('error', (err) => {
      throw new Error(`cannot start redis-server (install the Debian package redis-server): ${err.message}`)
    })
    await pollUntil(() => ping(port), { what: `redis-server on ${port}`, timeoutMs: 10_000 })
  }
  const stop = async () => {
    const c = child
    if (c === null) return
    child = null
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGTERM')
    await exited
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    async close() {
      await stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
