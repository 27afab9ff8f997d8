// A real redis-server on a free loopback port, private to the test (never the machine's shared
// 6379), with nothing persisted. stop()/start() let tests take Redis away mid-run.
import net from 'node:net'
import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import { Redis } from 'ioredis'
import { freePort } from './origin.js'
import { serverProcess } from './server-process.js'

/**
 * TLS for the Redis Cluster and Sentinel helpers: every node listens on TLS only, and the nodes
 * speak TLS to each other (cluster bus, replication, sentinel links) with the same certificate.
 */
export interface RedisTlsFiles {
  /**
   * The certificate (and its key) every node presents; it must name IP 127.0.0.1, and for a
   * cluster be valid for client auth too: a node presents it on another's bus, which asks for it.
   */
  certFile: string
  keyFile: string
  /** The CA that signed it: the nodes verify each other with it, and so do the helpers' own connections. */
  caFile: string
  /**
   * `tls-auth-clients yes`: every client must present a certificate `caFile` verifies. The
   * helpers' own connections then present certFile/keyFile (so it must allow client auth).
   */
  authClients?: boolean
  /** The name the helpers' connections verify, for a certificate without IP 127.0.0.1 (default: the IP). */
  serverName?: string
}

/** redis-server / redis-sentinel arguments for a TLS-only listener on `port` (the plain port closed). */
export function redisTlsArgs(tls: RedisTlsFiles, port: number): string[] {
  return [
    '--port', '0', '--tls-port', String(port), '--tls-replication', 'yes',
    '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile,
    // Without authClients the gateway's client presents no certificate; the server's is what is verified.
    '--tls-auth-clients', tls.authClients === true ? 'yes' : 'no',
  ]
}

/** What the helpers' own ioredis connections pass as `tls`. */
export function redisTlsClientOptions(tls: RedisTlsFiles): ConnectionOptions {
  return {
    ca: readFileSync(tls.caFile),
    ...(tls.authClients === true ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {}),
    ...(tls.serverName !== undefined ? { servername: tls.serverName } : {}),
  }
}

/**
 * The helpers' own connections to their servers, one per port, kept until drop() or close(): health
 * polls ask every node several questions per round, and a new connection (a TLS handshake with
 * `tls`) per question cost more CPU than the questions. A call to a port that is down fails within
 * about a second; the link reconnects by itself when the server is back.
 */
export interface RedisLinks {
  ask(port: number, command: string, ...args: Array<string | number>): Promise<unknown>
  /** Closes the link to `port` (before stopping its server: no reconnect loop to a dead port). */
  drop(port: number): void
  close(): void
}

export function redisLinks(tls?: RedisTlsFiles): RedisLinks {
  const links = new Map<number, Redis>()
  const tlsOptions = tls !== undefined ? redisTlsClientOptions(tls) : undefined
  const link = (port: number): Redis => {
    let r = links.get(port)
    if (r === undefined) {
      r = new Redis({
        port, host: '127.0.0.1', connectTimeout: 1000, commandTimeout: 1000, maxRetriesPerRequest: 1, retryStrategy: () => 100,
        ...(tlsOptions !== undefined ? { tls: tlsOptions } : {}),
      })
      r.on('error', () => undefined)
      links.set(port, r)
    }
    return r
  }
  const drop = (port: number) => {
    links.get(port)?.disconnect()
    links.delete(port)
  }
  return {
    ask: (port, command, ...args) => link(port).call(command, ...args),
    drop,
    close: () => {
      for (const port of [...links.keys()]) drop(port)
    },
  }
}

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

/** With `tls`, the server listens on TLS only (rediss:// url) with those files. */
export async function startRedis(opts: { tls?: RedisTlsFiles } = {}): Promise<RedisServer> {
  const port = await freePort()
  const tls = opts.tls
  // A TLS server is asked over a kept TLS link (the plain PING below cannot speak TLS).
  const links = tls !== undefined ? redisLinks(tls) : undefined
  const server = await serverProcess({
    command: 'redis-server',
    pkg: 'redis-server',
    args: (dir) => [
      ...(tls !== undefined ? redisTlsArgs(tls, port) : ['--port', String(port)]),
      '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    ],
    ready: () => (links !== undefined ? links.ask(port, 'PING').then((p) => p === 'PONG', () => false) : ping(port)),
    what: `redis-server${tls !== undefined ? ' (TLS)' : ''} on ${port}`,
  }).catch((err: unknown) => {
    links?.close()
    throw err
  })
  const close = async () => {
    links?.close()
    await server.close()
  }
  return { port, url: `${tls !== undefined ? 'rediss' : 'redis'}://127.0.0.1:${port}`, stop: server.stop, start: server.start, close }
}
