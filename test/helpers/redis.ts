// A real redis-server on a free loopback port, private to the test (never the machine's shared
// 6379), with nothing persisted. stop()/start() let tests take Redis away mid-run.
import net from 'node:net'
import { freePort } from './origin.js'
import { serverProcess } from './server-process.js'

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
  const server = await serverProcess({
    command: 'redis-server',
    pkg: 'redis-server',
    args: (dir) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    ready: () => ping(port),
    what: `redis-server on ${port}`,
  })
  return { port, url: `redis://127.0.0.1:${port}`, stop: server.stop, start: server.start, close: server.close }
}
