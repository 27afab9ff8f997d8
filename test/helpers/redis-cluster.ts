// A real Redis Cluster on loopback: six `redis-server --cluster-enabled yes` processes on free ports
// (each with its own data dir and bus port), joined with `redis-cli --cluster create …
// --cluster-replicas 1`: three masters, one replica each. A small cluster-node-timeout (2 s) keeps
// failovers short. stopNode()/startNode() let tests kill a master and bring it back (it rejoins as
// a replica of the node that replaced it). Share one cluster per test file; close() in `after`.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { freePort } from './origin.js'
import { pollUntil } from './poll.js'
import { serverProcess, type ServerProcess } from './server-process.js'

const run = promisify(execFile)

export interface ClusterNodeInfo {
  port: number
  id: string
  role: 'master' | 'replica'
  /** For a replica: its master's node id. */
  masterId: string | null
  /** fail / fail? flags seen by the asked node. */
  failed: boolean
  /** Slot ranges a master serves, e.g. [[0, 5460]]. */
  slots: Array<[number, number]>
}

export interface RedisClusterServer {
  ports: number[]
  /** host:port seed list for store.redis.cluster.nodes. */
  nodes: string[]
  /** CLUSTER NODES as seen by a live node. */
  topology(): Promise<ClusterNodeInfo[]>
  /** The port of the master serving `slot`. */
  masterOf(slot: number): Promise<number>
  stopNode(port: number): Promise<void>
  startNode(port: number): Promise<void>
  /** Polls until every slot is served by a live master and every live node says cluster_state:ok. */
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

function parseNodes(text: string, portOf: (addr: string) => number): ClusterNodeInfo[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.split(' ')
      const flags = f[2]!.split(',')
      const slots: Array<[number, number]> = []
      for (const s of f.slice(8)) {
        if (s.startsWith('[')) continue
        const [a, b] = s.split('-')
        slots.push([Number(a), Number(b ?? a)])
      }
      return {
        id: f[0]!,
        port: portOf(f[1]!),
        role: flags.includes('master') ? 'master' : 'replica',
        masterId: f[3] === '-' ? null : f[3]!,
        failed: flags.includes('fail') || flags.includes('fail?'),
        slots,
      }
    })
}

export async function startRedisCluster(opts: { nodeTimeoutMs?: number } = {}): Promise<RedisClusterServer> {
  const nodeTimeout = opts.nodeTimeoutMs ?? 2000
  const procs = new Map<number, ServerProcess>()
  const down = new Set<number>()
  const close = async () => {
    await Promise.all([...procs.values()].map((p) => p.close()))
  }
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePort()
      const busPort = await freePort()
      const proc = await serverProcess({
        command: 'redis-server',
        pkg: 'redis-server',
        args: (dir) => [
          '--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1',
          '--cluster-enabled', 'yes', '--cluster-config-file', `${dir}/nodes.conf`, '--cluster-node-timeout', String(nodeTimeout),
          '--save', '', '--appendonly', 'no', '--dir', dir,
        ],
        ready: () => ask(port, (r) => r.ping()).then((p) => p === 'PONG', () => false),
        what: `redis-server (cluster) on ${port}`,
      })
      procs.set(port, proc)
    }
    const ports = [...procs.keys()]
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 })
    const live = () => ports.filter((p) => !down.has(p))
    const portOf = (addr: string) => Number(/:(\d+)/.exec(addr)?.[1] ?? 0)
    const topology = async (): Promise<ClusterNodeInfo[]> => {
      let lastErr: unknown
      for (const p of live()) {
        try {
          return parseNodes(String(await ask(p, (r) => r.call('CLUSTER', 'NODES'))), portOf)
        } catch (err) {
          lastErr = err
        }
      }
      throw lastErr instanceof Error ? lastErr : new Error('no live cluster node')
    }
    const waitHealthy = async (timeoutMs = 30_000) => {
      await pollUntil(
        async () => {
          for (const p of live()) {
            const info = String(await ask(p, (r) => r.call('CLUSTER', 'INFO')))
            if (!info.includes('cluster_state:ok') || !/cluster_known_nodes:6\b/.test(info)) return false
          }
          // Every live node's view: three masters serving slots, every other live node a replica.
          for (const p of live()) {
            const view = parseNodes(String(await ask(p, (r) => r.call('CLUSTER', 'NODES'))), portOf).filter((n) => !down.has(n.port))
            if (view.filter((n) => n.role === 'replica' && !n.failed).length !== live().length - 3) return false
          }
          // CLUSTER SLOTS (what clients map from) lists a replica for every range.
          for (const p of live()) {
            const slots = (await ask(p, (r) => r.call('CLUSTER', 'SLOTS'))) as unknown[][]
            if (slots.length !== 3 || slots.some((r) => r.length < (down.size > 0 ? 3 : 4))) return false
          }
          const t = await topology()
          const served = t.filter((n) => n.role === 'master' && !n.failed && !down.has(n.port)).reduce((n, m) => n + m.slots.reduce((a, [x, y]) => a + y - x + 1, 0), 0)
          // Replicas synced: every live replica's link to its master is up.
          for (const n of t) {
            if (n.role !== 'replica' || down.has(n.port)) continue
            const repl = String(await ask(n.port, (r) => r.call('INFO', 'replication')))
            if (!repl.includes('master_link_status:up')) return false
          }
          return served === 16384
        },
        { timeoutMs, intervalMs: 100, what: 'redis cluster healthy (all slots served, replicas in sync)' },
      )
    }
    await waitHealthy()
    return {
      ports,
      nodes: ports.map((p) => `127.0.0.1:${p}`),
      topology,
      async masterOf(slot) {
        const m = (await topology()).find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b))
        if (m === undefined) throw new Error(`no master serves slot ${slot}`)
        return m.port
      },
      async stopNode(port) {
        down.add(port)
        await procs.get(port)!.stop()
      },
      async startNode(port) {
        await procs.get(port)!.start()
        down.delete(port)
      },
      waitHealthy,
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
