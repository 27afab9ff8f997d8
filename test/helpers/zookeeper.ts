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
