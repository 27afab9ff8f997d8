#!/usr/bin/env node
// Runs the public HTTP caching test suite (github.com/http-tests/cache-tests, the suite behind
// cache-tests.fyi) against Portico's `cache` plugin and, when nginx is installed, against nginx
// with proxy_cache (the suite's own docker/nginx config), and compares the two.
//
//   node scripts/cache-conformance.mjs [--only portico|nginx] [--out DIR]
//
// The suite is not part of this repository and not an npm dependency of it. The script finds it:
//   1. $CACHE_TESTS_DIR (a checkout of http-tests/cache-tests), else
//   2. `git clone --depth 1 https://github.com/http-tests/cache-tests` into a temp directory.
// Its client needs only undici, taken from Portico's node_modules (no `npm install` in the suite).
// As the suite's README says for a reverse proxy: start its origin server (`npm run server`), put the
// cache in front of it, run its CLI client with --base=<the cache's URL>; the client uses PUT requests
// to set up state on the origin, which both caches pass through.
//
// Output: one JSON result file per cache in --out (default a temp dir), a summary line per cache
// (passed / failed / optional failed of the suite's own classification, lib/results.mjs), and the
// ids of the tests that pass on nginx but fail on Portico. Exit status 0 unless a run broke.
// Portico runs from source (tsx) with --no-cluster, so one memory tier serves every request.
import { spawn, execFileSync } from 'node:child_process'
import { chmod, mkdtemp, mkdir, writeFile, symlink, access, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const { values: args } = parseArgs({ options: { only: { type: 'string' }, out: { type: 'string' } } })

const exists = (p) => access(p).then(() => true, () => false)

async function locateSuite() {
  if (process.env.CACHE_TESTS_DIR) return process.env.CACHE_TESTS_DIR
  const dir = await mkdtemp(join(tmpdir(), 'cache-tests-'))
  execFileSync('git', ['clone', '--depth', '1', 'https://github.com/http-tests/cache-tests', dir], { stdio: 'inherit' })
  return dir
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function waitForPort(port, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy()
        resolve(true)
      })
      c.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

function start(cmd, argv, opts) {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  let log = ''
  child.stdout.on('data', (c) => (log += c))
  child.stderr.on('data', (c) => (log += c))
  return { child, log: () => log, stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM')))) }
}

function runClient(suite, base) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, npm_config_base: base, npm_config_id: '', npm_package_config_id: '' }
    const c = spawn(process.execPath, ['--no-warnings', 'test-engine/cli.mjs'], { cwd: suite, env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`cache-tests client exited ${code}`))))
  })
}

async function portico(originPort, work) {
  const port = await freePort()
  const adminPort = await freePort()
  const file = join(work, 'portico.yaml')
  await writeFile(
    file,
    `server: { listen: 127.0.0.1:${port} }
admin: { listen: 127.0.0.1:${adminPort} }
log: { level: warn, access_log: false }
upstreams:
  origin: { targets: [ { url: http://127.0.0.1:${originPort} } ], timeouts: { read: 30s, total: 60s } }
routes:
  - name: all
    paths: ["/*"]
    methods: [GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS]
    upstream: origin
    preserve_host: true
    plugins: [ { name: cache, config: { max_object_size: 8mb } } ]
`,
  )
  const p = start(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'start', '-c', file, '--no-cluster'], { cwd: ROOT })
  await waitForPort(port, 'portico')
  return { base: `http://127.0.0.1:${port}`, stop: p.stop, log: p.log }
}

async function nginx(originPort, work) {
  const port = await freePort()
  const prefix = join(work, 'nginx')
  await mkdir(join(prefix, 'cache/tmp'), { recursive: true })
  await mkdir(join(prefix, 'logs'), { recursive: true })
  // Started as root, nginx's workers run as nobody: they must reach and write the cache directories.
  for (const d of [work, prefix, join(prefix, 'cache'), join(prefix, 'cache/tmp')]) await chmod(d, 0o777)
  // The suite's docker/nginx/nginx.conf, with paths and ports of this run.
  await writeFile(
    join(prefix, 'nginx.conf'),
    `daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${prefix}/cache/tmp;
  proxy_cache_path ${prefix}/cache levels=1:2 keys_zone=my-cache:8m max_size=1000m inactive=600m;
  proxy_temp_path ${prefix}/cache/tmp;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${originPort};
      proxy_cache my-cache;
      proxy_cache_revalidate on;
      proxy_http_version 1.1;
    }
  }
}
`,
  )
  const p = start('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], {})
  await waitForPort(port, 'nginx')
  return { base: `http://127.0.0.1:${port}`, stop: p.stop, log: p.log }
}

function score(tests, results, determine) {
  const counts = {}
  const byId = {}
  for (const suite of tests) {
    for (const t of suite.tests) {
      const r = determine(tests, t.id, results, true)[2]
      byId[t.id] = r
      counts[r] = (counts[r] ?? 0) + 1
    }
  }
  return { counts, byId }
}

const suite = await locateSuite()
await mkdir(join(suite, 'node_modules'), { recursive: true })
if (!(await exists(join(suite, 'node_modules/undici')))) await symlink(join(ROOT, 'node_modules/undici'), join(suite, 'node_modules/undici'))
const out = args.out ?? (await mkdtemp(join(tmpdir(), 'cache-conformance-')))
await mkdir(out, { recursive: true })
const work = await mkdtemp(join(tmpdir(), 'cache-conformance-work-'))

const { default: tests } = await import(pathToFileURL(join(suite, 'tests/index.mjs')).href)
const { determineTestResult } = await import(pathToFileURL(join(suite, 'test-engine/lib/results.mjs')).href)

const subjects = []
if (args.only !== 'nginx') subjects.push(['portico', portico])
if (args.only !== 'portico') {
  let have = true
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' })
  } catch {
    have = false
    console.error('nginx is not installed (Debian: apt-get install -y nginx): skipped')
  }
  if (have) subjects.push(['nginx', nginx])
}

const scores = {}
let failed = false
for (const [name, make] of subjects) {
  // A fresh origin per subject: the suite keeps per-test state on the server.
  const originPort = await freePort()
  const origin = start(process.execPath, ['test-engine/server/server.mjs'], {
    cwd: suite,
    env: { ...process.env, npm_config_port: String(originPort), npm_config_protocol: 'http', npm_config_pidfile: join(work, `${name}-origin.pid`) },
  })
  let subject
  try {
    await waitForPort(originPort, 'cache-tests origin')
    subject = await make(originPort, work)
    const results = await runClient(suite, subject.base)
    await writeFile(join(out, `${name}.json`), JSON.stringify(results, null, 2))
    scores[name] = score(tests, results, determineTestResult)
    const c = scores[name].counts
    console.log(`${name}: ${c['✅'] ?? 0} passed, ${c['⛔️'] ?? 0} failed, ${c['⚠️'] ?? 0} optional failed, ${c['⚪️'] ?? 0} dependency failed, ${c['🔹'] ?? 0} setup failed, ${c['⁉️'] ?? 0} harness failed (results: ${join(out, name + '.json')})`)
  } catch (err) {
    failed = true
    console.error(`${name}: ${err.message}\n${subject?.log() ?? ''}`)
  } finally {
    await subject?.stop()
    await origin.stop()
  }
}

if (scores.portico && scores.nginx) {
  const worse = Object.keys(scores.nginx.byId).filter((id) => scores.nginx.byId[id] === '✅' && scores.portico.byId[id] !== '✅')
  console.log(`pass on nginx, not on portico (${worse.length}): ${worse.join(' ') || '-'}`)
  const better = Object.keys(scores.portico.byId).filter((id) => scores.portico.byId[id] === '✅' && scores.nginx.byId[id] !== '✅')
  console.log(`pass on portico, not on nginx: ${better.length}`)
}
await rm(work, { recursive: true, force: true })
process.exit(failed ? 1 : 0)
