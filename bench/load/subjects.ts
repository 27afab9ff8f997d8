// The subjects under load: each starts as its own process on the proxy core and proxies to the
// scenario's first origin (Portico gets the scenario's own config). A subject that cannot start
// throws; run.ts reports it as failed and carries on with the others.
import { closeSync, existsSync, mkdirSync, openSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { freePort, get, h2get, startProc, waitFor, which } from './procs.js'
import type { Proc } from './procs.js'
import { tlsFiles, type Scenario } from './scenarios.js'
import { repoRoot } from './scripts.js'
import type { ScriptName } from './scripts.js'

export interface SubjectEnv {
  scenario: Scenario
  /** h1Url: the HTTP/1.1 port of origin-h2.ts (HTTP/2 scenarios), for nginx's proxy_pass. */
  origins: Array<{ url: string; pid: number; h1Url?: string }>
  scripts: Record<ScriptName, string>
  /** This scenario's scratch directory (removed at the end of the run). */
  tmp: string
  /** Core to pin the subject to; undefined when pinning is off. */
  core: number | undefined
  readyTimeoutMs: number
}

export interface Running {
  /** The pid whose CPU and RSS are measured. */
  pid: number
  /** Base URL the load goes to (no path). */
  url: string
  /** The process we started (none for `direct`). */
  proc: Proc | null
  notes: string[]
  /** Called after each measured run: bytes of access log written since the last call, if any. */
  drainLog?(): number
  stop(): Promise<void>
}

export interface Subject {
  name: string
  role: 'reference' | 'floor' | 'gateway' | 'baseline' | 'peer'
  /** Why the subject cannot run on this machine, or null. */
  unavailable(): string | null
  /** Only in the scenarios this accepts (unset: every scenario). */
  appliesTo?(sc: Scenario): boolean
  start(env: SubjectEnv): Promise<Running>
}

const require = createRequire(import.meta.url)
const NGINX = which('nginx') ?? which('/usr/sbin/nginx')

function missingPackage(...names: string[]): string | null {
  for (const name of names) {
    try {
      require.resolve(name)
    } catch {
      return `package ${name} is not installed`
    }
  }
  return null
}

/** Wait for a started subject to be ready; a subject that never gets there is stopped, not left running on the proxy core. */
async function ready(proc: Proc, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  try {
    await waitFor(proc, what, check, timeoutMs)
  } catch (err) {
    await proc.stop()
    throw err
  }
}

async function waitServing(proc: Proc, url: string, path: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<void> {
  await ready(proc, `GET ${path} → 200`, async () => (await get(url + path, headers)).status === 200, timeoutMs)
}

/**
 * A Node.js proxy from one of the transpiled scripts (floor and the peers). With `jwt`, it runs only
 * in scenarios with jwtPeers and verifies each request's token with fast-jwt (see floor.ts).
 */
function nodeScript(name: string, role: Subject['role'], script: ScriptName, packages: string[], jwt = false, http2 = false): Subject {
  return {
    name,
    role,
    unavailable: () => missingPackage(...packages, ...(jwt ? ['fast-jwt'] : [])),
    // The HTTP/1.1 proxies sit out the HTTP/2 scenarios and the h2 floor sits out the others.
    // Of these, only the two floors terminate TLS (TLS_CERT/TLS_KEY): the TLS scenarios' × floor
    // (floor-h2 in h2-tls, the HTTP/1.1 floor in the others).
    appliesTo: (sc: Scenario) => (sc.http2 !== undefined) === http2 && (!jwt || sc.jwtPeers !== undefined) && (sc.tls === undefined || script === 'floor' || script === 'floor-h2'),
    async start(env) {
      const port = await freePort()
      const origin = env.origins[0]?.url ?? ''
      const j = jwt ? env.scenario.jwtPeers : undefined
      const jwtEnv = j ? { JWT_ALG: j.alg, JWT_KEY: j.key, JWT_ISS: j.issuer, JWT_AUD: j.audience } : {}
      const proc = startProc(name, process.execPath, [env.scripts[script]], {
        core: env.core,
        env: { ...process.env, NODE_ENV: 'production', PORT: String(port), ORIGIN: origin, ...jwtEnv, ...(env.scenario.tls ? { TLS_CERT: tlsFiles.cert, TLS_KEY: tlsFiles.key } : {}) },
      })
      const url = `${env.scenario.tls ? 'https' : 'http'}://127.0.0.1:${port}`
      if (http2) await ready(proc, `an ${env.scenario.tls ? 'h2' : 'h2c'} answer`, async () => (await h2get(url, '/')).status === 200, env.readyTimeoutMs)
      else await waitServing(proc, url, env.scenario.path, env.readyTimeoutMs, j ? env.scenario.headers : {})
      return { pid: proc.pid, url, proc, notes: j ? [`verifies every request's ${j.alg} token with fast-jwt (cache off)`] : [], stop: () => proc.stop() }
    },
  }
}

const direct: Subject = {
  name: 'direct',
  role: 'reference',
  unavailable: () => null,
  async start(env) {
    const origin = env.origins[0]
    if (!origin) throw new Error('no origin')
    return {
      pid: origin.pid,
      url: origin.url,
      proc: null,
      notes: ['no proxy: load goes straight to the origin; its CPU figure is the origin process, which shares the load core'],
      stop: async () => {},
    }
  },
}

/** Portico from a checkout whose dist/ is built: this one, or another for an A/B of two builds. */
function porticoFrom(name: string, root: string): Subject {
  const file = name.replace(/\W+/g, '-')
  return {
    name,
    role: 'gateway',
    unavailable: () => null,
    async start(env) {
      if (!existsSync(join(root, 'dist', 'main.js'))) throw new Error(`${join(root, 'dist', 'main.js')} is missing (run \`npm run build\` there)`)
      const [port, adminPort] = [await freePort(), await freePort()]
      const config = env.scenario.gatewayConfig({ port, adminPort, origins: env.origins.map((o) => o.url) })
      const configPath = join(env.tmp, `${file}.yaml`)
      writeFileSync(configPath, stringify(config))
      // The access log goes to a real file (appending, so truncating it between runs is safe), which
      // costs what a file-backed log costs in production, and lets us check it was written.
      const logPath = join(env.tmp, `${file}-access.log`)
      const fd = openSync(logPath, 'a')
      let proc: Proc
      try {
        proc = startProc(name, process.execPath, [join(root, 'bin', 'portico.js'), 'start', '-c', configPath], {
          core: env.core,
          cwd: root,
          env: { ...process.env, NODE_ENV: 'production' },
          stdout: fd,
        })
      } finally {
        closeSync(fd)
      }
      const admin = `http://127.0.0.1:${adminPort}`
      await ready(proc, 'GET /readyz → 200 on the admin port', async () => (await get(`${admin}/readyz`)).status === 200, env.readyTimeoutMs)
      const url = `${env.scenario.tls ? 'https' : 'http'}://127.0.0.1:${port}`
      return {
        pid: proc.pid,
        url,
        proc,
        notes: [
          'as deployed: primary + 1 worker (workers: 1), both pinned to the proxy core; CPU counts both, RSS is the worker (the primary is in rssTotalMB)',
          'access log on, stdout appended to a file in the temp dir',
          ...(root === repoRoot ? [] : [`built from ${root}`]),
        ],
        drainLog() {
          const bytes = statSync(logPath).size
          truncateSync(logPath, 0)
          return bytes
        },
        stop: () => proc.stop(),
      }
    },
  }
}

const nginx: Subject = {
  name: 'nginx',
  role: 'baseline',
  unavailable: () => (NGINX ? null : 'nginx is not installed'),
  async start(env) {
    const port = await freePort()
    const dir = join(env.tmp, 'nginx')
    mkdirSync(dir, { recursive: true })
    const h2 = env.scenario.http2?.kind
    // HTTP/2 in front: nginx's proxy_pass speaks HTTP/1.x only, so the h2 scenario goes to the
    // origin's HTTP/1.1 port; grpc_pass speaks h2c to the origin's HTTP/2 port.
    const origin = new URL((h2 === 'h2' ? env.origins[0]?.h1Url : env.origins[0]?.url) ?? '')
    const location =
      h2 === 'grpc'
        ? 'grpc_pass grpc://origin;'
        : `proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";`
    // keepalive_requests: nginx closes a keep-alive connection after 1000 requests by default (both
    // client side and upstream side); the Node servers have no such limit, so lift it for parity.
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  upstream origin {
    server ${origin.host};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port}${h2 ? ' http2' : ''}${env.scenario.tls ? ' ssl' : ''};
    keepalive_requests 1000000;${env.scenario.tls ? `
    ssl_certificate ${tlsFiles.cert};
    ssl_certificate_key ${tlsFiles.key};
    ssl_protocols TLSv1.2 TLSv1.3;` : ''}
    location / {
      ${location}
    }
  }
}
`,
    )
    // master_process off: one process that is both master and worker, so one pid to measure.
    const proc = startProc('nginx', NGINX as string, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off; master_process off;'], {
      core: env.core,
    })
    const url = `${env.scenario.tls ? 'https' : 'http'}://127.0.0.1:${port}`
    if (h2) await ready(proc, `an ${env.scenario.tls ? 'h2' : 'h2c'} answer`, async () => (await h2get(url, '/')).status === 200, env.readyTimeoutMs)
    else await waitServing(proc, url, env.scenario.path, env.readyTimeoutMs)
    const how =
      h2 === 'grpc'
        ? 'listen http2 (h2c) → grpc_pass'
        : h2 === 'h2'
          ? `listen http2 (${env.scenario.tls ? 'ssl, h2 by ALPN' : 'h2c'}) → proxy_pass over HTTP/1.1`
          : env.scenario.tls
            ? 'listen ssl (HTTPS, HTTP/1.1), default session cache and tickets'
            : 'HTTP/1.1'
    return { pid: proc.pid, url, proc, notes: [`one process (master_process off), ${how}, upstream keepalive 64, access_log off`], stop: () => proc.stop() }
  },
}

export const subjects: Subject[] = [
  direct,
  nodeScript('floor', 'floor', 'floor', ['undici']),
  nodeScript('floor-h2', 'floor', 'floor-h2', [], false, true),
  porticoFrom('portico', repoRoot),
  // BENCH_COMPARE=<another checkout>: that build as a second subject in the same interleaved
  // slices, for an A/B of a change (two separate runs differ by more than most changes do).
  ...(process.env.BENCH_COMPARE ? [porticoFrom('portico@compare', process.env.BENCH_COMPARE)] : []),
  nginx,
  nodeScript('http-proxy', 'peer', 'peers/http-proxy', ['http-proxy']),
  // The jwt scenarios' peers: the same proxies, verifying the token with fast-jwt on every request.
  nodeScript('floor+fast-jwt', 'peer', 'floor', ['undici'], true),
  nodeScript('http-proxy+fast-jwt', 'peer', 'peers/http-proxy', ['http-proxy'], true),
  nodeScript('fast-gateway', 'peer', 'peers/fast-gateway', ['fast-gateway']),
  nodeScript('@fastify/http-proxy', 'peer', 'peers/fastify-http-proxy', ['fastify', '@fastify/http-proxy']),
]
