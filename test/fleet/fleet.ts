// The brief's topology on one machine: HAProxy (Debian haproxy, health checks on /readyz) in
// front of three real `portico start` instances, each in its own network namespace (ip netns +
// a veth pair, as root), sharing one redis-server and one etcd, with origin services registered
// in etcd for the `discovery: etcd` provider. All instances read the same config file; what
// differs per instance (addresses, the build label) comes from its environment.
//
// Addresses: a private /24 of 198.18.0.0/15 (RFC 2544, the benchmarking range, never routed) per
// fleet. Namespace i gets 198.18.R.(4i+2)/30, the root side of its veth 198.18.R.(4i+1)/30, and
// the shared services /32 addresses on the root side of the first veth. Nothing else on the
// machine is touched, and every namespace and veth is removed on close (also at process exit, and
// leftovers of dead runs at the next start). Where a namespace cannot be made (no root, no
// CAP_NET_ADMIN), the fleet falls back to separate loopback addresses 127.18.R.x, and the
// scenarios that need namespaces (partitions) skip with that reason.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Etcd3, type Lease } from 'etcd3'
import { request } from 'undici'
import { CLI_ENTRY } from '../helpers/gateway.js'
import { pollUntil } from '../helpers/poll.js'

const ROOT = resolve(import.meta.dirname, '../..')
export const ADMIN_TOKEN = 'fleet-admin-token-0123456789abcdef'
export const JWT_SECRET = 'fleet-jwt-secret-0123456789abcdef0123456789'

// --- network -------------------------------------------------------------------------------

const IP = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })

export interface Net {
  mode: 'netns' | 'loopback'
  /** Why namespaces are not used (loopback mode). */
  reason?: string
  lb: string
  redis: string
  etcd: string
  origins: string
  gateway(i: number): string
  /** Prefix for `ip netns exec <ns>`, or [] in loopback mode. */
  exec(i: number): string[]
  /** Drop everything instance i sends to `addr` (a partition); heal() undoes it. */
  partition(i: number, addr: string): void
  heal(i: number, addr: string): void
  close(): void
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Namespaces of runs whose process is gone (a crash, SIGKILL of the test runner). */
function removeLeftovers(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
  for (const m of list.matchAll(/^pf(\d+)n\d+/gm)) {
    if (!alive(Number(m[1]))) spawnSync('ip', ['netns', 'del', m[0]], { stdio: 'ignore' })
  }
}

function usedThirdOctets(): Set<number> {
  const out = spawnSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }).stdout ?? ''
  return new Set([...out.matchAll(/inet (?:198\.18|127\.18)\.(\d+)\./g)].map((m) => Number(m[1])))
}

function pickOctet(): number {
  const used = usedThirdOctets()
  for (let tries = 0; tries < 500; tries++) {
    const r = 1 + Math.floor(Math.random() * 250)
    if (!used.has(r)) return r
  }
  throw new Error('no free 198.18.x.0/24 for the fleet')
}

function loopbackNet(reason: string): Net {
  const r = pickOctet()
  const a = (x: number) => `127.18.${r}.${x}`
  return {
    mode: 'loopback',
    reason,
    lb: a(1),
    redis: a(250),
    etcd: a(251),
    origins: a(252),
    gateway: (i) => a(10 + i),
    exec: () => [],
    partition: () => {
      throw new Error(`partitions need network namespaces: ${reason}`)
    },
    heal: () => undefined,
    close: () => undefined,
  }
}

export function makeNet(instances: number): Net {
  if (process.env.FLEET_NETNS === '0') return loopbackNet('FLEET_NETNS=0')
  if (process.getuid?.() !== 0) return loopbackNet('not root')
  removeLeftovers()
  const r = pickOctet()
  const id = `pf${process.pid}`
  const a = (x: number) => `198.18.${r}.${x}`
  const made: string[] = []
  const close = () => {
    for (const ns of made) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }) // its veth end goes with it, and so the pair
    made.length = 0
  }
  try {
    for (let i = 0; i < instances; i++) {
      const ns = `${id}n${i}`
      const host = `${id}h${i}`
      const inner = `${id}c${i}`
      IP(['netns', 'add', ns])
      made.push(ns)
      IP(['link', 'add', host, 'type', 'veth', 'peer', 'name', inner])
      IP(['link', 'set', inner, 'netns', ns])
      IP(['addr', 'add', `${a(4 * i + 1)}/30`, 'dev', host])
      IP(['link', 'set', host, 'up'])
      if (i === 0) for (const x of [250, 251, 252]) IP(['addr', 'add', `${a(x)}/32`, 'dev', host])
      IP(['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
      // For partitions (below): a blackhole rule must see packets before the `local` table
      // delivers them, so that lookup moves from priority 0 to 100, and early demux (which hands
      // packets of established connections to their socket without any lookup) is off. Both are
      // this namespace's own settings.
      IP(['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_early_demux=0'])
      IP(['netns', 'exec', ns, 'ip', 'rule', 'add', 'pref', '100', 'lookup', 'local'])
      IP(['netns', 'exec', ns, 'ip', 'rule', 'del', 'pref', '0'])
      IP(['netns', 'exec', ns, 'ip', 'addr', 'add', `${a(4 * i + 2)}/30`, 'dev', inner])
      IP(['netns', 'exec', ns, 'ip', 'link', 'set', inner, 'up'])
      IP(['netns', 'exec', ns, 'ip', 'route', 'add', 'default', 'via', a(4 * i + 1)])
    }
  } catch (err) {
    close()
    return loopbackNet(`ip netns refused: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`)
  }
  netCleanups.add(close)
  return {
    mode: 'netns',
    lb: a(1),
    redis: a(250),
    etcd: a(251),
    origins: a(252),
    gateway: (i) => a(4 * i + 2),
    exec: (i) => ['ip', 'netns', 'exec', `${id}n${i}`],
    // Both directions, inside the instance's namespace: a blackhole route drops what it sends to
    // `addr`, a blackhole rule what arrives from it (a route alone still lets an established
    // connection receive: the watch events of etcd kept arriving while only its ACKs were lost).
    // New connects fail; packets of established connections vanish, as in a real partition.
    partition: (i, addr) => {
      IP(['netns', 'exec', `${id}n${i}`, 'ip', 'route', 'add', 'blackhole', `${addr}/32`])
      IP(['netns', 'exec', `${id}n${i}`, 'ip', 'rule', 'add', 'pref', '10', 'from', addr, 'blackhole'])
    },
    heal: (i, addr) => {
      IP(['netns', 'exec', `${id}n${i}`, 'ip', 'rule', 'del', 'pref', '10', 'from', addr, 'blackhole'])
      IP(['netns', 'exec', `${id}n${i}`, 'ip', 'route', 'del', 'blackhole', `${addr}/32`])
    },
    close,
  }
}

// --- gateway instances ---------------------------------------------------------------------

export interface Instance {
  index: number
  /** HAProxy server name. */
  name: string
  address: string
  url: string
  adminUrl: string
  build: string
  pid: number | null
  output(): string
  /** Start (again) with this build label; resolves once /readyz answers 200. */
  start(build?: string): Promise<void>
  /** SIGTERM (drain) and wait for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGKILL to the primary and its workers, no drain. */
  kill(): Promise<void>
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  } catch {
    // gone
  }
}

const liveChildren = new Set<ChildProcess>()
const netCleanups = new Set<() => void>()
function emergencyCleanup(): void {
  for (const c of liveChildren) killGroup(c, 'SIGKILL')
  for (const close of netCleanups) close()
}
process.once('exit', emergencyCleanup)
// A runner that times a test file out ends it with a signal, and 'exit' handlers do not run then:
// without this, instances, HAProxy, Redis and etcd outlive the run. A caller with its own
// handler (scripts/fleet/run.ts closes the fleet gracefully) keeps it.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(sig, () => {
    if (process.listenerCount(sig) > 0) return
    emergencyCleanup()
    process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15))
  })
}

/** A server process in its own process group, tracked for the emergency cleanup above. */
export interface ServerProcess {
  start(): Promise<void>
  /** SIGTERM and wait for the exit; the data dir stays. */
  stop(): Promise<void>
  close(): Promise<void>
}

async function serverProcess(spec: { command: string; args(dir: string): string[]; ready(): Promise<boolean>; what: string; readyTimeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<ServerProcess> {
  const dir = await mkdtemp(join(tmpdir(), `portico-${spec.command}-`))
  let child: ChildProcess | null = null
  const start = async () => {
    const c = spawn(spec.command, spec.args(dir), { stdio: 'ignore', env: spec.env ?? process.env, detached: true })
    child = c
    liveChildren.add(c)
    let spawnError: Error | null = null
    // A server that cannot be spawned or exits during its start ends the wait at once, instead of
    // being polled (through the thrown error) until the deadline.
    const gone = new AbortController()
    c.once('error', (err) => {
      spawnError = err
      gone.abort()
    })
    c.once('exit', () => {
      liveChildren.delete(c)
      gone.abort()
    })
    const failure = (): string | null =>
      spawnError !== null
        ? `cannot start ${spec.command}: ${(spawnError as Error).message}`
        : c.exitCode !== null || c.signalCode !== null
          ? `${spec.command} exited during its start (${c.exitCode ?? c.signalCode})`
          : null
    await pollUntil(() => spec.ready(), { what: spec.what, timeoutMs: spec.readyTimeoutMs ?? 60_000, intervalMs: 50, signal: gone.signal }).catch((err: Error) => {
      throw new Error(failure() ?? err.message)
    })
  }
  const stop = async () => {
    const c = child
    if (c === null) return
    child = null
    if (c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGTERM')
    await exited
  }
  await start()
  return {
    start,
    stop,
    async close() {
      await stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function readyz(adminUrl: string): Promise<boolean> {
  try {
    const res = await request(`${adminUrl}/readyz`, { headersTimeout: 2000, bodyTimeout: 2000 })
    await res.body.dump()
    return res.statusCode === 200
  } catch {
    return false
  }
}

function instance(n: Net, i: number, configFile: string, cluster: boolean): Instance {
  const address = n.gateway(i)
  let child: ChildProcess | null = null
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null })
  let out = ''
  const inst: Instance = {
    index: i,
    name: `gw${i + 1}`,
    address,
    url: `http://${address}:8080`,
    adminUrl: `http://${address}:9180`,
    build: 'v1',
    pid: null,
    output: () => out,
    async start(build = inst.build) {
      inst.build = build
      const [cmd, ...pre] = [...n.exec(i), process.execPath]
      // The compiled dist/main.js under scripts/run-tests.mjs, src/ through tsx otherwise (as
      // test/helpers/gateway.ts): a tsx start of every instance on a loaded host took most of a
      // fleet file's time.
      const c = spawn(cmd!, [...pre, ...CLI_ENTRY, 'start', '-c', configFile, ...(cluster ? [] : ['--no-cluster'])], {
        cwd: ROOT,
        env: {
          ...process.env,
          PORTICO_LISTEN: `${address}:8080`,
          PORTICO_ADMIN_LISTEN: `${address}:9180`,
          PORTICO_ADMIN_TOKEN: ADMIN_TOKEN,
          PORTICO_BUILD: build,
          FLEET_JWT_SECRET: JWT_SECRET,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // own process group: kill() reaches the workers too
      })
      child = c
      inst.pid = c.pid ?? null
      liveChildren.add(c)
      c.stdout!.on('data', (d: Buffer) => (out += d.toString()))
      c.stderr!.on('data', (d: Buffer) => (out += d.toString()))
      exited = new Promise((res) =>
        c.once('exit', (code, signal) => {
          liveChildren.delete(c)
          res({ code, signal })
        }),
      )
      const gone = new AbortController()
      void exited.then(() => gone.abort())
      await pollUntil(() => readyz(inst.adminUrl), { timeoutMs: 90_000, intervalMs: 100, what: `${inst.name} /readyz`, signal: gone.signal }).catch((err: Error) => {
        throw new Error(gone.signal.aborted ? `${inst.name} exited during startup:\n${out.slice(-3000)}` : err.message)
      })
    },
    async stop() {
      const c = child
      if (c === null) return { code: null, signal: null }
      child = null
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
      const timer = setTimeout(() => killGroup(c, 'SIGKILL'), 30_000)
      const e = await exited
      clearTimeout(timer)
      killGroup(c, 'SIGKILL')
      return e
    },
    async kill() {
      const c = child
      if (c === null) return
      child = null
      killGroup(c, 'SIGKILL')
      await exited
    },
  }
  return inst
}

// --- HAProxy -------------------------------------------------------------------------------

export interface Haproxy {
  url: string
  /** One runtime API command (stats socket, level admin); returns its answer. */
  command(cmd: string): Promise<string>
  /** Server name → status as HAProxy sees it (UP, DOWN, DRAIN, MAINT, …). */
  states(): Promise<Record<string, { status: string; weight: number; sessions: number }>>
  close(): Promise<void>
}

function haproxyConfig(n: Net, insts: Instance[], socket: string): string {
  return `global
  stats socket ${socket} mode 600 level admin
  log stdout format raw local0 err

defaults
  mode http
  log global
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 2s
  # Idempotent requests that found a dead or closing instance are sent again, to another one.
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout 503

frontend fleet
  bind ${n.lb}:8080
  default_backend gateways

backend gateways
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  http-response set-header x-served-by %[srv_name]
  default-server check port 9180 inter 250ms fall 2 rise 2 weight 100
${insts.map((g) => `  server ${g.name} ${g.address}:8080`).join('\n')}
`
}

async function startHaproxy(n: Net, insts: Instance[], dir: string): Promise<Haproxy> {
  const socket = join(dir, 'haproxy.sock')
  const cfg = join(dir, 'haproxy.cfg')
  await writeFile(cfg, haproxyConfig(n, insts, socket))
  const check = spawnSync('haproxy', ['-c', '-f', cfg], { encoding: 'utf8' })
  if (check.status !== 0) throw new Error(`haproxy -c failed:\n${check.stdout}${check.stderr}`)
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  liveChildren.add(child)
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const command = (cmd: string) =>
    new Promise<string>((res, rej) => {
      const s = net.connect(socket)
      let answer = ''
      s.on('data', (d: Buffer) => (answer += d.toString()))
      s.on('end', () => res(answer))
      s.on('error', rej)
      s.write(`${cmd}\n`)
    })
  const hp: Haproxy = {
    url: `http://${n.lb}:8080`,
    command,
    async states() {
      const csv = await command('show stat')
      const lines = csv.split('\n').filter((l) => l.startsWith('gateways,gw'))
      const header = csv.split('\n')[0]!.replace(/^# /, '').split(',')
      const col = (name: string) => header.indexOf(name)
      const out: Record<string, { status: string; weight: number; sessions: number }> = {}
      for (const l of lines) {
        const f = l.split(',')
        out[f[1]!] = { status: f[col('status')]!, weight: Number(f[col('weight')]), sessions: Number(f[col('scur')]) }
      }
      return out
    },
    async close() {
      child.kill('SIGTERM')
      await exited
      liveChildren.delete(child)
    },
  }
  const gone = new AbortController()
  void exited.then(() => gone.abort())
  await pollUntil(async () => (await command('show info').catch(() => '')).includes('Name: HAProxy'), {
    timeoutMs: 60_000,
    what: 'haproxy runtime API',
    signal: gone.signal,
  }).catch((e: Error) => {
    throw new Error(gone.signal.aborted ? `haproxy exited during its start: ${err}` : e.message)
  })
  return hp
}

// --- origins, Redis, etcd ------------------------------------------------------------------

export interface OriginService {
  service: string
  name: string
  url: string
  close(): Promise<void>
}

async function startOriginService(host: string, service: string, name: string): Promise<OriginService> {
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      // A little latency keeps requests in flight while instances drain or die.
      setTimeout(() => {
        const body = JSON.stringify({ service, origin: name, url: req.url })
        res.writeHead(200, { 'content-type': 'application/json', 'x-origin': name, 'content-length': Buffer.byteLength(body) })
        res.end(body)
      }, 3)
    })
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((r) => server.listen(0, host, r))
  const port = (server.address() as AddressInfo).port
  return {
    service,
    name,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

function tcpReady(host: string, port: number, probe: string, expect: string): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect(port, host)
    s.setTimeout(500)
    s.once('connect', () => s.write(probe))
    s.once('data', (d) => {
      s.destroy()
      res(String(d).includes(expect))
    })
    s.once('error', () => res(false))
    s.once('timeout', () => {
      s.destroy()
      res(false)
    })
  })
}

// --- the fleet -----------------------------------------------------------------------------

export interface Fleet {
  net: Net
  lb: Haproxy
  instances: Instance[]
  redis: ServerProcess
  etcd: ServerProcess
  etcdClient: Etcd3
  origins: OriginService[]
  configFile: string
  /** Registers an origin under /services/<service>/ with a lease kept alive. */
  register(o: OriginService): Promise<void>
  deregister(o: OriginService): Promise<void>
  startOrigin(service: string, name: string): Promise<OriginService>
  /** Takes instance i out of the LB (drain), stops it, starts it on `build`, puts it back once ready. */
  roll(i: number, build: string): Promise<void>
  /** Polls until HAProxy reports every listed server in `status`. */
  waitLb(status: string, names?: string[]): Promise<void>
  close(): Promise<void>
}

export function fleetConfig(n: Net): string {
  return `# One file for every instance: what differs (addresses, build label) comes from the environment.
server: { listen: "\${PORTICO_LISTEN}", drain_timeout: 10s }
admin: { listen: "\${PORTICO_ADMIN_LISTEN}", token: "\${PORTICO_ADMIN_TOKEN}" }
workers: 1
log: { level: info, access_log: false }
store:
  redis: { url: "redis://${n.redis}:6379", timeout: 200ms }
plugins:
  - name: headers
    config: { response: { set: { x-portico-build: "\${PORTICO_BUILD}" } } }
upstreams:
  users:
    discovery: { etcd: { endpoints: ["http://${n.etcd}:2379"], prefix: /services/users/ } }
  orders:
    discovery: { etcd: { endpoints: ["http://${n.etcd}:2379"], prefix: /services/orders/ } }
routes:
  - { name: users, paths: [/users, /users/*], upstream: users }
  - { name: orders, paths: [/orders, /orders/*], upstream: orders }
  - name: limited
    paths: [/limited]
    upstream: users
    plugins:
      - name: rate-limit
        config:
          key: header:x-tenant
          policy: redis
          failure_mode: open
          timeout: 200ms
          limits: [{ limit: 30, window: 1h }]
  - name: secure
    paths: [/secure, /secure/*]
    upstream: users
    plugins:
      - name: jwt
        config: { keys: [{ secret: "\${FLEET_JWT_SECRET}", algorithms: [HS256] }] }
      - name: jwt-revocation
        config: { cache_ttl: 2s, timeout: 200ms }
`
}

export interface FleetOptions {
  instances?: number
  /**
   * Cluster mode (a primary and `workers: 1` per instance), as in production; default off in
   * tests (FLEET_CLUSTER=1 turns it on): on a loaded 2-core CI machine six processes starting at
   * once took longer than a worker's 30 s load deadline, and what these scenarios test (the LB,
   * drains, shared state) is the same in single-process mode. inplace-upgrade.test.ts covers
   * cluster mode.
   */
  cluster?: boolean
}

export async function startFleet(opts: FleetOptions = {}): Promise<Fleet> {
  const count = opts.instances ?? 3
  const clustered = opts.cluster ?? process.env.FLEET_CLUSTER === '1'
  const n = makeNet(count)
  const dir = await mkdtemp(join(tmpdir(), 'portico-fleet-'))
  const cleanups: Array<() => Promise<void> | void> = [() => n.close(), () => rm(dir, { recursive: true, force: true })]
  const fleet: Partial<Fleet> = { net: n, origins: [] }
  const closeAll = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined)
  }
  try {
    const redis = await serverProcess({
      command: 'redis-server',
      args: (d) => ['--port', '6379', '--bind', n.redis, '--save', '', '--appendonly', 'no', '--dir', d, '--protected-mode', 'no'],
      ready: () => tcpReady(n.redis, 6379, 'PING\r\n', '+PONG'),
      what: `redis-server on ${n.redis}`,
    })
    cleanups.push(() => redis.close())
    const etcdUrl = `http://${n.etcd}:2379`
    const peerUrl = `http://${n.etcd}:2380`
    const etcd = await serverProcess({
      command: 'etcd',
      args: (d) => [
        '--name', 'fleet', '--data-dir', join(d, 'data'),
        '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
        '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', `fleet=${peerUrl}`, '--log-level', 'error',
      ],
      env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === 'arm64' ? 'arm64' : '' },
      ready: async () => {
        try {
          const res = await request(`${etcdUrl}/health`, { headersTimeout: 1000 })
          return (await res.body.text()).includes('"health":"true"')
        } catch {
          return false
        }
      },
      what: `etcd on ${n.etcd}`,
      readyTimeoutMs: 60_000,
    })
    cleanups.push(() => etcd.close())
    const client = new Etcd3({ hosts: etcdUrl })
    cleanups.push(() => client.close())
    const leases = new Map<OriginService, Lease>()
    fleet.redis = redis
    fleet.etcd = etcd
    fleet.etcdClient = client
    fleet.register = async (o) => {
      const lease = client.lease(30, { autoKeepAlive: true })
      lease.on('lost', () => undefined)
      await lease.put(`/services/${o.service}/${o.name}`).value(JSON.stringify({ url: o.url }))
      leases.set(o, lease)
    }
    fleet.deregister = async (o) => {
      const lease = leases.get(o)
      leases.delete(o)
      await lease?.revoke().catch(() => undefined)
      await client.delete().key(`/services/${o.service}/${o.name}`)
    }
    cleanups.push(async () => {
      for (const l of leases.values()) l.release()
    })
    fleet.startOrigin = async (service, name) => {
      const o = await startOriginService(n.origins, service, name)
      fleet.origins!.push(o)
      cleanups.push(() => o.close())
      return o
    }
    for (const [service, name] of [['users', 'users-a'], ['users', 'users-b'], ['orders', 'orders-a']] as const) {
      await fleet.register(await fleet.startOrigin(service, name))
    }

    const configFile = join(dir, 'portico.yaml')
    await writeFile(configFile, fleetConfig(n))
    fleet.configFile = configFile
    const insts = Array.from({ length: count }, (_, i) => instance(n, i, configFile, clustered))
    fleet.instances = insts
    cleanups.push(async () => {
      await Promise.all(insts.map((g) => g.stop()))
    })
    await Promise.all(insts.map((g) => g.start('v1')))

    const lb = await startHaproxy(n, insts, dir)
    cleanups.push(() => lb.close())
    fleet.lb = lb
    fleet.waitLb = async (status, names = insts.map((g) => g.name)) => {
      await pollUntil(
        async () => {
          const s = await lb.states()
          return names.every((nm) => s[nm]?.status === status)
        },
        { timeoutMs: 60_000, intervalMs: 50, what: `haproxy: ${names.join(',')} ${status}` },
      )
    }
    await fleet.waitLb('UP')
    fleet.roll = async (i, build) => {
      const g = insts[i]!
      await lb.command(`set server gateways/${g.name} state drain`)
      // Requests already sent to it finish; HAProxy sends it no new ones.
      await pollUntil(async () => (await lb.states())[g.name]?.sessions === 0, { timeoutMs: 60_000, intervalMs: 25, what: `${g.name} idle at the LB` })
      const e = await g.stop()
      if (e.code !== 0) throw new Error(`${g.name} did not drain cleanly: ${JSON.stringify(e)}\n${g.output().slice(-2000)}`)
      await g.start(build)
      await lb.command(`set server gateways/${g.name} state ready`)
      await fleet.waitLb!('UP', [g.name])
    }
    fleet.close = closeAll
    return fleet as Fleet
  } catch (err) {
    await closeAll()
    throw err
  }
}
