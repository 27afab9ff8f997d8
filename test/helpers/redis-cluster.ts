// A real Redis Cluster on loopback: six `redis-server --cluster-enabled yes` processes on free ports
// (each with its own data dir and bus port), three masters with one replica each (or, with
// `replicas: 0`, three masters alone). stopNode()/startNode() let tests kill a master and bring it
// back (it rejoins as a replica of the node that replaced it). With `tls`, every node listens on TLS
// only and the bus and replication use TLS too. Share one cluster per test file; close() in `after`.
//
// The cluster is joined by hand over one connection per node, not with `redis-cli --cluster
// create`, which sleeps in fixed steps (~11 s of a 44 s test file): distinct config epochs, MEET
// to the first node, the slot ranges on the masters, then REPLICATE once every node knows every
// other, and a poll until the cluster is whole.
import { freePort } from './origin.js'
import { pollUntil } from './poll.js'
import { redisLinks, redisTlsArgs, type RedisTlsFiles } from './redis.js'
import { allStarted, serverProcess, type ServerProcess } from './server-process.js'

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

export interface RedisClusterOptions {
  /**
   * cluster-node-timeout: how long a node may be silent before it is suspected, and so most of a
   * failover's duration. 2 s by default: much shorter, and a live node starved of CPU on a busy
   * 2-core host (other test files run beside this one) could be taken for a failed one.
   */
  nodeTimeoutMs?: number
  /** Replicas per master: 1 (default) or 0 (three masters; no failover, quicker to start). */
  replicas?: 0 | 1
  tls?: RedisTlsFiles
}

const MASTER_SLOTS: Array<[number, number]> = [
  [0, 5460],
  [5461, 10922],
  [10923, 16383],
]

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

const portOf = (addr: string) => Number(/:(\d+)/.exec(addr)?.[1] ?? 0)

export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisClusterServer> {
  const nodeTimeout = opts.nodeTimeoutMs ?? 2000
  const replicasPerMaster = opts.replicas ?? 1
  const nodeCount = 3 * (1 + replicasPerMaster)
  const procs = new Map<number, ServerProcess>()
  const down = new Set<number>()
  const links = redisLinks(opts.tls)
  const close = async () => {
    links.close()
    await Promise.all([...procs.values()].map((p) => p.close()))
  }
  const ask = links.ask
  try {
    // Ports one after another (each is reserved on disk), then the servers all at once.
    const ports: number[] = []
    const busPorts: number[] = []
    for (let i = 0; i < nodeCount; i++) {
      ports.push(await freePort())
      busPorts.push(await freePort())
    }
    await allStarted(
      ports.map(async (port, i) => {
        const proc = await serverProcess({
          command: 'redis-server',
          pkg: 'redis-server',
          args: (dir) => [
            ...(opts.tls !== undefined ? [...redisTlsArgs(opts.tls, port), '--tls-cluster', 'yes'] : ['--port', String(port)]),
            '--cluster-port', String(busPorts[i]), '--bind', '127.0.0.1',
            '--cluster-enabled', 'yes', '--cluster-config-file', `${dir}/nodes.conf`, '--cluster-node-timeout', String(nodeTimeout),
            // A replica (re)joining is sent its data at once, not after the default 5 s wait for
            // more replicas to share one transfer.
            '--repl-diskless-sync-delay', '0',
            // CLUSTER SLOTS (what clients map the cluster from) leaves out a replica whose
            // replication offset is still 0, and on an idle master only its pings to the
            // replicas move the offset: every 10 s by default, which was most of the start-up.
            '--repl-ping-replica-period', '1',
            '--save', '', '--appendonly', 'no', '--dir', dir,
          ],
          ready: () => ask(port, 'PING').then((p) => p === 'PONG', () => false),
          what: `redis-server (cluster${opts.tls !== undefined ? ', TLS' : ''}) on ${port}`,
        })
        procs.set(port, proc)
      }),
    )

    // What `redis-cli --cluster create` does, without its fixed sleeps. Distinct config epochs
    // first, so the masters need no epoch-collision rounds before they agree on slot owners.
    await Promise.all(ports.map((p, i) => ask(p, 'CLUSTER', 'SET-CONFIG-EPOCH', i + 1)))
    await Promise.all(ports.slice(1).map((p) => ask(p, 'CLUSTER', 'MEET', '127.0.0.1', ports[0]!, busPorts[0]!)))
    await Promise.all(MASTER_SLOTS.map(([from, to], i) => ask(ports[i]!, 'CLUSTER', 'ADDSLOTSRANGE', from, to)))
    await pollUntil(
      async () => {
        const views = await Promise.all(ports.map((p) => ask(p, 'CLUSTER', 'NODES')))
        // Known, and past the handshake (a node in handshake has no id yet to REPLICATE to).
        return views.every((v) => parseNodes(String(v), portOf).length === nodeCount && !/handshake|noaddr/.test(String(v)))
      },
      { timeoutMs: 30_000, intervalMs: 50, what: `every cluster node knowing all ${nodeCount}` },
    )
    if (replicasPerMaster > 0) {
      const ids = await Promise.all(ports.slice(0, 3).map(async (p) => String(await ask(p, 'CLUSTER', 'MYID'))))
      await Promise.all(ports.slice(3).map((p, i) => ask(p, 'CLUSTER', 'REPLICATE', ids[i]!)))
    }

    const live = () => ports.filter((p) => !down.has(p))
    const topology = async (): Promise<ClusterNodeInfo[]> => {
      let lastErr: unknown
      for (const p of live()) {
        try {
          return parseNodes(String(await ask(p, 'CLUSTER', 'NODES')), portOf)
        } catch (err) {
          lastErr = err
        }
      }
      throw lastErr instanceof Error ? lastErr : new Error('no live cluster node')
    }
    // Every live node is asked in parallel.
    const healthy = async (): Promise<boolean> => {
      const up = live()
      const liveReplicas = up.length - 3
      const oks = await Promise.all(
        up.map(async (p) => {
          const [info, nodes, slots] = await Promise.all([ask(p, 'CLUSTER', 'INFO'), ask(p, 'CLUSTER', 'NODES'), ask(p, 'CLUSTER', 'SLOTS')])
          if (!String(info).includes('cluster_state:ok') || !new RegExp(`cluster_known_nodes:${nodeCount}\\b`).test(String(info))) return false
          // This node's view: three masters serving slots, every other live node a replica.
          const view = parseNodes(String(nodes), portOf).filter((n) => !down.has(n.port))
          if (view.filter((n) => n.role === 'replica' && !n.failed).length !== liveReplicas) return false
          const served = view.filter((n) => n.role === 'master' && !n.failed).reduce((n, m) => n + m.slots.reduce((a, [x, y]) => a + y - x + 1, 0), 0)
          if (served !== 16384) return false
          // CLUSTER SLOTS (what clients map from) lists a replica for every range while none is down.
          const ranges = slots as unknown[][]
          const entries = replicasPerMaster > 0 && down.size === 0 ? 4 : 3
          if (ranges.length !== 3 || ranges.some((r) => r.length < entries)) return false
          // A replica counts once its link to its master is up (it has the data).
          if (view.find((n) => n.port === p)?.role === 'replica') {
            if (!String(await ask(p, 'INFO', 'replication')).includes('master_link_status:up')) return false
          }
          return true
        }),
      )
      return oks.every(Boolean)
    }
    const waitHealthy = async (timeoutMs = 30_000) => {
      await pollUntil(healthy, { timeoutMs, intervalMs: 50, what: 'redis cluster healthy (all slots served, replicas in sync)' })
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
        links.drop(port)
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
