#!/usr/bin/env node
// Runs the Dockerfile's steps without a Docker engine: each stage gets a temporary root, WORKDIR
// maps below it, COPY copies from the build context (or from an earlier stage), RUN runs the same
// shell command there with the stage's ENV; then the runtime stage's ENTRYPOINT + CMD start as an
// unprivileged user (USER node → uid/gid 65534 here, the machine has no "node" user) in a network
// namespace of its own and on one CPU (as a container would; root only), HEALTHCHECK's command must pass, and
// STOPSIGNAL must drain and exit 0.
//
//   node scripts/docker-steps.mjs            every step, `npm ci` included (minutes)
//   node scripts/docker-steps.mjs --reuse    `npm ci` and `npm prune` replaced by a read-only
//                                            symlink to this checkout's node_modules, and
//                                            `npm run build` by a copy of its dist/ (for npm test)
//
// apt-get lines are not run (they install into the image, not this machine); the binaries they
// install must be present here (tini: Debian package tini). Prints one line per step; exit 0 = all passed.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..')
const reuse = process.argv.includes('--reuse')
const UID = 65534

/** Dockerfile → stages of { name, from, steps: [{ op, args, raw }] } (continuations joined, comments dropped). */
function parseDockerfile(text) {
  const lines = []
  let cur = ''
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd()
    if (cur === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue
    if (line.endsWith('\\')) cur += line.slice(0, -1) + ' '
    else {
      lines.push(cur + line)
      cur = ''
    }
  }
  const stages = []
  for (const l of lines) {
    const m = /^(\w+)\s+(.*)$/s.exec(l.trim())
    if (m === null) throw new Error(`cannot parse: ${l}`)
    const op = m[1].toUpperCase()
    const args = m[2].trim()
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      stages.push({ from: f[1], name: f[2] ?? String(stages.length), steps: [] })
    } else {
      if (stages.length === 0) throw new Error(`${op} before FROM`)
      stages.at(-1).steps.push({ op, args })
    }
  }
  return stages
}

const json = (s) => (s.startsWith('[') ? JSON.parse(s) : ['/bin/sh', '-c', s])

function parseEnv(args) {
  const out = {}
  for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) out[m[1]] = m[2].replace(/^"|"$/g, '')
  return out
}

function log(msg) {
  process.stdout.write(`docker-steps: ${msg}\n`)
}

async function main() {
  const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
  const base = mkdtempSync(join(tmpdir(), 'portico-docker-'))
  chmodSync(base, 0o755)
  const roots = new Map()
  let netns = null
  try {
    let runtime = null
    for (const stage of stages) {
      const root = join(base, stage.name)
      roots.set(stage.name, root)
      let workdir = '/'
      const env = { ...process.env }
      let user = 'root'
      const cfg = { entrypoint: [], cmd: [], healthcheck: null, stopsignal: 'SIGTERM', expose: [] }
      const at = (p) => join(root, p.startsWith('/') ? p : join(workdir, p))
      for (const { op, args } of stage.steps) {
        switch (op) {
          case 'WORKDIR':
            workdir = args.startsWith('/') ? args : join(workdir, args)
            execFileSync('mkdir', ['-p', at('.')])
            break
          case 'ENV':
            Object.assign(env, parseEnv(args))
            break
          case 'COPY': {
            const from = /^--from=(\S+)\s+/.exec(args)
            const parts = (from ? args.slice(from[0].length) : args).split(/\s+/)
            const dest = parts.pop()
            const srcRoot = from ? roots.get(from[1]) : ROOT
            if (srcRoot === undefined) throw new Error(`COPY --from=${from[1]}: no such stage`)
            for (const src of parts) {
              const s = from ? join(srcRoot, src) : join(srcRoot, src)
              if (!existsSync(s)) throw new Error(`COPY ${src}: not in the ${from ? `stage ${from[1]}` : 'build context'}`)
              const d = dest.endsWith('/') || parts.length > 1 ? join(at(dest), src.split('/').pop()) : at(dest)
              execFileSync('mkdir', ['-p', dirname(d)])
              cpSync(s, d, { recursive: true, verbatimSymlinks: true })
            }
            log(`${stage.name}: COPY ${args}`)
            break
          }
          case 'RUN': {
            if (/\bapt-get\b/.test(args)) {
              log(`${stage.name}: RUN apt-get … (installs into the image; not run here)`)
              break
            }
            let cmd = args
            if (reuse && /\bnpm (ci|prune)\b/.test(cmd)) {
              cmd = cmd.replace(/&&\s*npm prune[^&]*/, '').replace(/^npm ci.*$/, '')
              if (!existsSync(at('node_modules'))) symlinkSync(join(ROOT, 'node_modules'), at('node_modules'))
              log(`${stage.name}: RUN ${args}  (--reuse: node_modules linked read-only, npm ci/prune skipped)`)
              if (cmd.trim() === '') break
            }
            if (reuse && /^npm run build\s*$/.test(cmd.trim()) && existsSync(join(ROOT, 'dist/main.js'))) {
              // The same build `npm ci` (prepare) and the test runner just made here: a cold tsc + Vite
              // build in the stage took 35-120 s of every `npm test` to repeat it.
              cpSync(join(ROOT, 'dist'), at('dist'), { recursive: true })
              log(`${stage.name}: RUN ${cmd}  (--reuse: this checkout's dist/ copied instead)`)
              break
            }
            if (!(reuse && /\bnpm (ci|prune)\b/.test(args))) log(`${stage.name}: RUN ${cmd}`)
            execFileSync('/bin/sh', ['-c', cmd], { cwd: at('.'), env, stdio: ['ignore', 'inherit', 'inherit'] })
            break
          }
          case 'USER':
            user = args
            break
          case 'EXPOSE':
            cfg.expose = args.split(/\s+/)
            break
          case 'HEALTHCHECK':
            cfg.healthcheck = json(args.replace(/^(--\S+\s+)*CMD\s+/, ''))
            break
          case 'STOPSIGNAL':
            cfg.stopsignal = args
            break
          case 'ENTRYPOINT':
            cfg.entrypoint = json(args)
            break
          case 'CMD':
            cfg.cmd = json(args)
            break
          case 'ARG':
          case 'LABEL':
            break
          default:
            throw new Error(`unsupported instruction ${op}`)
        }
      }
      runtime = { stage, root, workdir, env, user, cfg, at }
    }
    await run(runtime)
  } finally {
    if (netns !== null) spawnSync('ip', ['netns', 'del', netns], { stdio: 'ignore' })
    rmSync(base, { recursive: true, force: true })
  }

  async function run({ root, workdir, env, user, cfg, at }) {
    if (user === 'root' || user === '0') throw new Error('the runtime stage runs as root: add USER')
    const argv = [...cfg.entrypoint, ...cfg.cmd]
    // The image's absolute config path (ENV PORTICO_CONFIG) lives below the stage root here.
    const runEnv = { ...env, PORTICO_CONFIG: at(env.PORTICO_CONFIG), PORTICO_ADMIN_TOKEN: 'docker-steps-admin-token-0123456789', HOME: root }
    execFileSync('chmod', ['-R', 'a+rX', root])
    const prefix = []
    if (process.getuid?.() === 0) {
      netns = `pfdock${process.pid}`
      execFileSync('ip', ['netns', 'add', netns])
      execFileSync('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up'])
      // One CPU, as `docker run --cpuset-cpus 0` (workers: auto then starts one worker).
      prefix.push('ip', 'netns', 'exec', netns, 'taskset', '-c', '0', 'setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups')
    } else {
      throw new Error('starting as an unprivileged user needs root here (setpriv, ip netns)')
    }
    log(`runtime: ${argv.join(' ')}  as uid ${UID} (USER ${user}) in netns ${netns}`)
    const child = spawn(prefix[0], [...prefix.slice(1), ...argv], { cwd: join(root, workdir), env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })))
    let done = null
    void exited.then((e) => (done = e))
    const health = () =>
      spawnSync('ip', ['netns', 'exec', netns, ...cfg.healthcheck], { cwd: join(root, workdir), env: runEnv, stdio: 'ignore', timeout: 5000 }).status === 0
    const deadline = Date.now() + 90_000
    while (!health()) {
      if (done !== null) throw new Error(`the gateway exited during startup (${JSON.stringify(done)}):\n${out}`)
      if (Date.now() > deadline) throw new Error(`HEALTHCHECK did not pass within 90s:\n${out}`)
      await new Promise((r) => setTimeout(r, 250))
    }
    log('runtime: HEALTHCHECK passed (/readyz 200)')
    // ip netns exec and setpriv exec in place: the spawned pid is tini's (the container's PID 1).
    const tini = child.pid
    const uid = Number(/Uid:\s+(\d+)/.exec(readFileSync(`/proc/${tini}/status`, 'utf8'))[1])
    if (uid !== UID) throw new Error(`the gateway runs as uid ${uid}, not ${UID}`)
    log(`runtime: the gateway's processes run as uid ${uid}`)
    // SIGTERM goes to PID 1 of the container, tini, which forwards it to the primary.
    process.kill(tini, cfg.stopsignal)
    const e = await exited
    if (e.code !== 0) throw new Error(`${cfg.stopsignal} did not end in a clean drain: ${JSON.stringify(e)}\n${out}`)
    if (!/"msg":"draining/.test(out) || !/"msg":"stopped"/.test(out)) throw new Error(`no drain in the log:\n${out}`)
    log(`runtime: ${cfg.stopsignal} → drained, exit 0`)
  }
}

main().then(
  () => log('all steps passed'),
  (err) => {
    process.stderr.write(`docker-steps: FAILED: ${err.message}\n`)
    process.exit(1)
  },
)
