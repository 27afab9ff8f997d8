// A real Sentinel set on loopback: one redis-server master, one replica (replicaof the master) and
// three `redis-sentinel` processes monitoring them as `mymaster` (quorum 2, down-after 1 s), each on
// free ports with its own data dir. With `tls`, the data nodes and the sentinels listen on TLS only
// and talk to each other over TLS. stopMaster() kills the current master and waits until the
// sentinels name the promoted replica. Share one set per test file; close() in `after`.
import { randomBytes } from 'node:crypto'
import { writeFileSync, existsSync } from 'node:fs'
import { freePort } from './origin.js'
import { pollUntil } from './poll.js'
import { redisLinks, redisTlsArgs, type RedisTlsFiles } from './redis.js'
import { allStarted, serverProcess, type ServerProcess } from './server-process.js'

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
  /** Starts a stopped data node again, as a replica of the current master. */
  startNode(port: number): Promise<void>
  /** Polls until the named master has a replica in sync and every sentinel agrees. */
  waitHealthy(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

export interface RedisSentinelOptions {
  tls?: RedisTlsFiles
  /**
   * The sentinels' own certificate (default: `tls`'s), e.g. from another CA than the data nodes'.
   * Sentinels and data nodes connect to each other, so each side's caFile must trust both CAs;
   * the helpers' own connections use `tls` (its caFile, and its certificate with authClients).
   */
  sentinelTls?: RedisTlsFiles
}

export async function startRedisSentinel(opts: RedisSentinelOptions = {}): Promise<RedisSentinelServer> {
  const tls = opts.tls
  const stls = opts.sentinelTls ?? tls
  const data = new Map<number, ServerProcess>()
  const sentinels: Array<{ port: number; proc: ServerProcess }> = []
  const links = redisLinks(tls)
  const ask = links.ask
  const close = async () => {
    links.close()
    await Promise.all([...sentinels.map((s) => s.proc.close()), ...[...data.values()].map((p) => p.close())])
  }
  const ping = (port: number) => ask(port, 'PING').then((p) => p === 'PONG', () => false)
  try {
    // Ports one after another (each is reserved on disk), then the servers all at once.
    const masterPort = await freePort()
    const replicaPort = await freePort()
    const sentinelPorts = [await freePort(), await freePort(), await freePort()]
    // Each sentinel is told the others (and the replica) in its config, as it would write them
    // itself: discovering them through the master's hello channel takes a 2 s publish period.
    const sentinelIds = new Map(sentinelPorts.map((p) => [p, randomBytes(20).toString('hex')]))
    // The master each data node replicates from when it (re)starts; none for the first master.
    const replicaOf = new Map<number, number>([[replicaPort, masterPort]])
    const startData = async (port: number) => {
      data.set(
        port,
        await serverProcess({
          command: 'redis-server',
          pkg: 'redis-server',
          args: (dir) => {
            const of = replicaOf.get(port)
            return [
              ...(tls !== undefined ? redisTlsArgs(tls, port) : ['--port', String(port)]),
              '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
              // A replica (re)joining is sent its data at once, not after the default 5 s wait
              // for more replicas to share one transfer.
              '--repl-diskless-sync-delay', '0',
              ...(of !== undefined ? ['--replicaof', '127.0.0.1', String(of)] : []),
            ]
          },
          ready: () => ping(port),
          what: `redis-server${tls !== undefined ? ' (TLS)' : ''} on ${port}`,
        }),
      )
    }
    const startSentinel = async (port: number) => {
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
                ...(stls !== undefined
                  ? [
                      'port 0', `tls-port ${port}`, `tls-cert-file ${stls.certFile}`, `tls-key-file ${stls.keyFile}`, `tls-ca-cert-file ${stls.caFile}`,
                      `tls-auth-clients ${stls.authClients === true ? 'yes' : 'no'}`,
                      // The sentinels' own links to the data nodes and to each other.
                      'tls-replication yes',
                    ]
                  : [`port ${port}`]),
                'bind 127.0.0.1',
                `dir ${dir}`,
                `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${masterPort} 2`,
                `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
                `sentinel failover-timeout ${SENTINEL_MASTER} 4000`,
                `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
                `sentinel myid ${sentinelIds.get(port)!}`,
                ...sentinelPorts.filter((p) => p !== port).map((p) => `sentinel known-sentinel ${SENTINEL_MASTER} 127.0.0.1 ${p} ${sentinelIds.get(p)!}`),
                `sentinel known-replica ${SENTINEL_MASTER} 127.0.0.1 ${replicaPort}`,
                '',
              ].join('\n'),
            )
          }
          return [file]
        },
        ready: () => ping(port),
        what: `redis-sentinel${stls !== undefined ? ' (TLS)' : ''} on ${port}`,
      })
      sentinels.push({ port, proc })
    }
    await allStarted([startData(masterPort), startData(replicaPort), ...sentinelPorts.map(startSentinel)])

    const down = new Set<number>()
    const named = async (sport: number): Promise<number> => {
      const r = (await ask(sport, 'SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER)) as [string, string] | null
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
    const healthy = async (): Promise<boolean> => {
      const ports = await Promise.all(sentinels.map((s) => named(s.port)))
      const m = ports[0]!
      if (m === 0 || down.has(m) || ports.some((p) => p !== m)) return false
      const views = await Promise.all(
        sentinels.map(async (s) => {
          const [others, replicas] = (await Promise.all([ask(s.port, 'SENTINEL', 'sentinels', SENTINEL_MASTER), ask(s.port, 'SENTINEL', 'replicas', SENTINEL_MASTER)])) as [unknown[], string[][]]
          const upReplicas = replicas.filter((r) => {
            const flags = r[r.indexOf('flags') + 1] ?? ''
            return !flags.includes('down') && !flags.includes('disconnected')
          })
          return others.length >= 2 && upReplicas.length >= 1
        }),
      )
      if (!views.every(Boolean)) return false
      const repl = String(await ask(m, 'INFO', 'replication'))
      if (!/role:master/.test(repl) || !/connected_slaves:[1-9]/.test(repl)) return false
      // Asked on the replicas, not the master: with a diskless sync the master reports a replica
      // `state=online` once it has streamed the data, before the replica has loaded it and
      // acknowledged (a WAIT right after timed out). The replica says link up once it has.
      const replicas = [...data.keys()].filter((p) => p !== m && !down.has(p))
      const links = await Promise.all(replicas.map(async (p) => String(await ask(p, 'INFO', 'replication'))))
      if (links.length === 0 || !links.every((r) => r.includes('master_link_status:up') && r.includes(`master_port:${m}`))) return false
      // And the replicas acknowledge a write: what a caller's WAIT needs. Even with the link up, a
      // WAIT right after start timed out now and then on a busy host (the conformance suite's
      // waitReplicas). A PUBLISH is replicated and leaves no key behind.
      await ask(m, 'PUBLISH', '__test-helper:probe', '1')
      return Number(await ask(m, 'WAIT', replicas.length, 200)) >= replicas.length
    }
    const waitHealthy = async (timeoutMs = 30_000) => {
      await pollUntil(healthy, { timeoutMs, intervalMs: 50, what: 'sentinel set healthy (agreed master with a replica in sync)' })
    }
    await waitHealthy()
    const server: RedisSentinelServer = {
      sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`),
      name: SENTINEL_MASTER,
      masterPort: masterPortNow,
      async stopMaster() {
        const old = await masterPortNow()
        down.add(old)
        links.drop(old)
        await data.get(old)!.stop()
        return old
      },
      async waitPromoted(old, timeoutMs = 30_000) {
        await pollUntil(
          async () => {
            const m = await masterPortNow()
            return m !== old && m !== 0 && /role:master/.test(String(await ask(m, 'INFO', 'replication')))
          },
          { timeoutMs, intervalMs: 50, what: 'sentinels to promote the replica' },
        )
      },
      async failover(timeoutMs = 30_000) {
        const old = await server.stopMaster()
        await server.waitPromoted(old, timeoutMs)
        return old
      },
      async startNode(port) {
        // Started as a replica of the master the sentinels name now, as an operator's config for
        // a repaired node would say. Started as a master, it is converted by a sentinel only once
        // it has reported that role for 8 s, and a sentinel asks a replica for INFO every 10 s:
        // that wait was most of what a heal took.
        replicaOf.set(port, await masterPortNow())
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
