// A real ZooKeeper (Debian package zookeeper; zookeeperd adds only the system service) started
// standalone from a generated zoo.cfg in a private temp dir, with its own dataDir, on a free
// loopback port; the dir is kept across stop()/start() so a restarted server has the same znodes.
// The JVM runs ZooKeeperServerMain directly with the classpath zkServer.sh would use
// (/usr/share/zookeeper/bin/zkEnv.sh), so SIGTERM reaches the server itself. ZooKeeper refuses
// clientPort=0, so the port is picked like etcd.ts does.
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { freePort } from './origin.js'
import { serverProcess } from './server-process.js'
import zookeeper, { type Client } from 'node-zookeeper-client'

export interface ZkServer {
  port: number
  /** "127.0.0.1:<port>", for discovery.zookeeper.servers. */
  connect: string
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

/** ZooKeeper's four-letter "ruok": "imok" once it serves. */
function ruok(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('ruok'))
    let got = ''
    s.setTimeout(1000, () => s.destroy())
    s.on('data', (d) => (got += String(d)))
    s.on('close', () => resolve(got === 'imok'))
    s.on('error', () => resolve(false))
  })
}

export async function startZookeeper(): Promise<ZkServer> {
  const port = await freePort()
  const server = await serverProcess({
    command: 'java',
    pkg: 'zookeeper',
    args: (dir) => {
      writeFileSync(
        join(dir, 'zoo.cfg'),
        [
          'tickTime=500',
          `dataDir=${join(dir, 'data')}`,
          `clientPort=${port}`,
          'clientPortAddress=127.0.0.1',
          'admin.enableServer=false',
          '4lw.commands.whitelist=ruok',
          // Sessions of 1 s .. 30 s: a test registrant that dies leaves quickly, one that must
          // outlive a server restart can ask for long enough.
          'minSessionTimeout=1000',
          'maxSessionTimeout=30000',
          '',
        ].join('\n'),
      )
      return [
        '-Xmx128m',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        `-Dzookeeper.log.dir=${dir}`,
        '-cp',
        '/etc/zookeeper/conf:/usr/share/java/zookeeper.jar',
        'org.apache.zookeeper.server.ZooKeeperServerMain',
        join(dir, 'zoo.cfg'),
      ]
    },
    ready: () => ruok(port),
    what: `zookeeper on ${port}`,
    readyTimeoutMs: 90_000,
  })
  return { port, connect: `127.0.0.1:${port}`, stop: server.stop, start: server.start, close: server.close }
}

/**
 * A connected node-zookeeper-client session, for a test's own writes. The client waits for its
 * first session forever: on a fresh machine the server's first start (cold JVM, cold disk) once
 * answered `ruok` yet never granted that first session, and a test hook hung until the file's
 * 300 s timeout. So each attempt has a deadline (doubling from 5 s) and a stalled one is closed
 * and replaced; past `totalMs` the error says what was waited for.
 */
export async function connectZkClient(connect: string, options: { sessionTimeout: number; spinDelay?: number }, totalMs = 90_000): Promise<Client> {
  const started = Date.now()
  for (let attemptMs = 5_000; ; attemptMs *= 2) {
    const client = zookeeper.createClient(connect, { spinDelay: 200, ...options })
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), attemptMs)
      client.once('connected', () => {
        clearTimeout(timer)
        resolve(true)
      })
      client.connect()
    })
    if (connected) return client
    client.close()
    if (Date.now() - started > totalMs) throw new Error(`no ZooKeeper session from ${connect} within ${totalMs} ms`)
  }
}
