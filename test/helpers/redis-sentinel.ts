// A real Sentinel set on loopback: one redis-server master, one replica (replicaof the master) and
// three `redis-sentinel` processes monitoring them as `mymaster` (quorum 2, down-after 1 s), each on
// free ports with its own data dir. stopMaster() kills the current master and waits until the
// sentinels name the promoted replica. Share one set per test file; close() in `after`.
import { writeFileSync, existsSync } from 'node:fs'
import { Redis } from 'ioredis'
import { freePort } from './origin.js'
import { pollUntil } from './poll.js'
import { serverProcess, type ServerProcess } from './server-process.js'

export const SENTINEL_MASTER = 'mymaster'

export interface RedisSentinelServer {
  /** host:port of each sentinel, for store.redis.sentinel.sentinels. */
  sentinels: string[]
  name: string
  /** The port the sentinels currently name as master. */
  masterPort(): Promise<number>
  /** Stops the current master; resolves once the sentinels name another one. Returns the old port. */
  failover(timeoutMs?: number): Promise<number>
  /** Stops the current master (no wait for the promotion); returns its port. */
  stopMaster(): Promise<number>
  /** Polls until the sentinels name a master other than `old`. */
  waitPromoted(old: number, timeoutMs?: number): Promise<void>
  /** Starts a stopped data node again (it comes back as a replica). */
  startNode(port: number): Promise<void>
  /** Polls until the named master has a replica in sync and every sentinel agrees. */
  waitHealthy(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 1000, commandTimeout: 1000, retryStrategy: () => null })
  r.on('error', () => undefined)
  try {
    await r.connect()
    return await fn(r)
  } finally {
    r.disconnect()
  }
}

const ping = (port: number) => ask(port, (r) => r.ping()).then((p) => p === 'PONG', () => false)

export async function startRedisSentinel(): Promise<RedisSentinelServer> {
  const data = new Map<number, ServerProcess>()
  const sentinels: Array<{ port: number; proc: ServerProcess }> = []
  const close = async () => {
    await Promise.all([...sentinels.map((s) => s.proc.close()), ...[...data.values()].map((p) => p.close())])
  }
  try {
    const masterPort = await freePort()
    const replicaPort = await freePort()
    for (const port of [masterPort, replicaPort]) {
      const replicaOf = port === replicaPort ? ['--replicaof', '127.0.0.1', String(masterPort)] : []
      data.set(
        port,
        await serverProcess({
          command: 'redis-server',
          pkg: 'redis-server',
          args: (dir) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...replicaOf],
          ready: () => ping(port),
          what: `redis-server on ${port}`,
        }),
      )
    }
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      const proc = await serverProcess({
        command: 'redis-sentinel',
        pkg: 'redis-sentinel',
        args: (dir) => {
          // Sentinel rewrites its config file with what it learns; a restart keeps it.
          const file = `${dir}/sentinel.conf`
          if (!existsSync(file)) {
            writeFileSync(
              file,
              [
                `port ${port}`,
                'bind 127.0.0.1',
                `dir ${dir}`,
                `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${masterPort} 2`,
                `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
                `sentinel failover-timeout ${SENTINEL_MASTER} 4000`,
                `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
                '',
              ].join('\n'),
            )
          }
          return [file]
        },
        ready: () => ping(port),
        what: `redis-sentinel on ${port}`,
      })
      sentinels.push({ port, proc })
    }
    const down = new Set<number>()
    const named = async (sport: number): Promise<number> => {
      const r = (await ask(sport, (c) => c.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER))) as [string, string] | null
      return r === null ? 0 : Number(r[1])
    }
    const masterPortNow = async (): Promise<number> => {
      for (const s of sentinels) {
        try {
          return await named(s.port)
        } catch {
          // next sentinel
        }
      }
      throw new Error('no sentinel answers')
    }
    const waitHealthy = async (timeoutMs = 30_000) => {
      await pollUntil(
        async () => {
          const ports = await Promise.all(sentinels.map((s) => named(s.port)))
          const m = ports[0]!
          if (m === 0 || down.has(m) || ports.some((p) => p !== m)) return false
          for (const s of sentinels) {
            const others = (await ask(s.port, (c) => c.call('SENTINEL', 'sentinels', SENTINEL_MASTER))) as unknown[]
            const replicas = (await ask(s.port, (c) => c.call('SENTINEL', 'replicas', SENTINEL_MASTER))) as string[][]
            const upReplicas = replicas.filter((r) => {
              const flags = r[r.indexOf('flags') + 1] ?? ''
              return !flags.includes('down') && !flags.includes('disconnected')
            })
            if (others.length < 2 || upReplicas.length < 1) return false
          }
          const repl = String(await ask(m, (c) => c.call('INFO', 'replication')))
          return /role:master/.test(repl) && /connected_slaves:[1-9]/.test(repl) && /state=online/.test(repl)
        },
        { timeoutMs, intervalMs: 100, what: 'sentinel set healthy (agreed master with a replica in sync)' },
      )
    }
    await waitHealthy()
    const server: RedisSentinelServer = {
      sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`),
      name: SENTINEL_MASTER,
      masterPort: masterPortNow,
      async stopMaster() {
        const old = await masterPortNow()
        down.add(old)
        await data.get(old)!.stop()
        return old
      },
      async waitPromoted(old, timeoutMs = 30_000) {
        await pollUntil(
          async () => {
            const m = await masterPortNow()
            return m !== old && m !== 0 && /role:master/.test(String(await ask(m, (c) => c.call('INFO', 'replication'))))
          },
          { timeoutMs, intervalMs: 100, what: 'sentinels to promote the replica' },
        )
      },
      async failover(timeoutMs = 30_000) {
        const old = await server.stopMaster()
        await server.waitPromoted(old, timeoutMs)
        return old
      },
      async startNode(port) {
        await data.get(port)!.start()
        down.delete(port)
      },
      waitHealthy,
      close,
    }
    return server
  } catch (err) {
    await close()
    throw err
  }
}
