// A real etcd (Debian package etcd-server) on free loopback ports (client + peer), with a temp data
// dir kept across stop()/start() so a restarted etcd has the same keys and revisions.
import { join } from 'node:path'
import http from 'node:http'
import { freePort } from './origin.js'
import { serverProcess } from './server-process.js'

export interface EtcdServer {
  port: number
  /** Client URL, e.g. http://127.0.0.1:23790 */
  url: string
  /** Stops the server (SIGTERM and wait); data stays. */
  stop(): Promise<void>
  /** Starts it again on the same ports and data dir. */
  start(): Promise<void>
  close(): Promise<void>
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', timeout: 500 }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += String(c)))
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')))
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => {
      req.destroy()
      resolve(false)
    })
  })
}

export async function startEtcd(): Promise<EtcdServer> {
  const port = await freePort()
  const peer = await freePort()
  const client = `http://127.0.0.1:${port}`
  const peerUrl = `http://127.0.0.1:${peer}`
  const server = await serverProcess({
    command: 'etcd',
    pkg: 'etcd-server',
    args: (dir) => [
      '--name', 'portico-test',
      '--data-dir', join(dir, 'data'),
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `portico-test=${peerUrl}`,
      '--log-level', 'error',
    ],
    env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === 'arm64' ? 'arm64' : '' },
    ready: () => healthy(port),
    what: `etcd on ${port}`,
    readyTimeoutMs: 60_000,
  })
  return { port, url: client, stop: server.stop, start: server.start, close: server.close }
}
