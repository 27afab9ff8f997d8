// The Dockerfile, without a Docker engine (none runs on CI machines): a structural lint of the
// rules that matter for this image (hadolint is neither a Debian nor an npm package), then
// scripts/docker-steps.mjs runs its steps for real: COPY from the context, `npm run build` in a
// temporary directory, the runtime stage started through its ENTRYPOINT (tini, Debian package
// tini) as an unprivileged user in a network namespace of its own, HEALTHCHECK's command passing
// against /readyz, and STOPSIGNAL draining to exit 0. `npm ci` is replaced by the checkout's
// node_modules and `npm run build` by a copy of its dist/ (--reuse) to keep `npm test` bounded;
// `node scripts/docker-steps.mjs` runs both for real.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '../..')
const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
const instructions = text
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
  .map((l) => {
    const m = /^(\w+)\s+(.*)$/.exec(l.trim())!
    return { op: m[1]!.toUpperCase(), args: m[2]! }
  })
const stages: Array<{ from: string; name: string; body: typeof instructions }> = []
for (const i of instructions) {
  if (i.op === 'FROM') {
    const [from, , name] = i.args.split(/\s+/)
    stages.push({ from: from!, name: name ?? String(stages.length), body: [] })
  } else stages.at(-1)!.body.push(i)
}
const final = stages.at(-1)!
const last = (op: string) => final.body.filter((i) => i.op === op).at(-1)

test('multi-stage, pinned Node 20 bases, and COPY --from names an earlier stage', () => {
  assert.ok(stages.length >= 2, 'a build stage and a runtime stage')
  for (const s of stages) {
    assert.match(s.from, /^node:20\.\d+/, `${s.name}: FROM a pinned node:20.x tag (Node 20 only; no :latest)`)
  }
  for (const i of final.body.filter((x) => x.op === 'COPY' && x.args.startsWith('--from='))) {
    const from = /^--from=(\S+)/.exec(i.args)![1]!
    assert.ok(stages.slice(0, -1).some((s) => s.name === from), `COPY --from=${from} names an earlier stage`)
  }
  assert.ok(!final.body.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args)), 'the runtime stage installs nothing from npm: dependencies come from the build stage')
})

test('dependencies from the lockfile; apt without recommends and without its lists left behind', () => {
  const runs = instructions.filter((i) => i.op === 'RUN').map((i) => i.args)
  assert.ok(runs.some((r) => /\bnpm ci\b/.test(r)), 'npm ci (the lockfile), not npm install')
  assert.ok(!runs.some((r) => /\bnpm install\b/.test(r)))
  assert.ok(runs.some((r) => /npm prune --omit=dev/.test(r)), 'dev dependencies pruned before the copy')
  for (const r of runs.filter((x) => /apt-get install/.test(x))) {
    assert.match(r, /--no-install-recommends/)
    assert.match(r, /-y\b/)
    assert.match(r, /rm -rf \/var\/lib\/apt\/lists/)
  }
})

test('runtime: non-root USER, tini as ENTRYPOINT, HEALTHCHECK on /readyz, SIGTERM, exec-form CMD', () => {
  const user = last('USER')
  assert.ok(user !== undefined && !/^(root|0)(:|$)/.test(user.args), 'USER is not root')
  assert.ok(final.body.indexOf(user) < final.body.indexOf(last('CMD')!), 'USER before CMD')
  assert.deepEqual(JSON.parse(last('ENTRYPOINT')!.args), ['/usr/bin/tini', '--'])
  assert.match(last('HEALTHCHECK')!.args, /\/readyz/)
  assert.match(last('HEALTHCHECK')!.args, /--start-period=/)
  assert.equal(last('STOPSIGNAL')?.args, 'SIGTERM')
  assert.ok(JSON.parse(last('CMD')!.args)[0] === 'node', 'exec form: the signal reaches tini, not a shell')
  assert.deepEqual(last('EXPOSE')!.args.split(/\s+/), ['8080', '9180'])
})

test('every COPY source exists in the build context, and .dockerignore keeps node_modules and dist out', () => {
  for (const i of instructions.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from='))) {
    const parts = i.args.split(/\s+/)
    for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `COPY ${src}`)
  }
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')
  for (const p of ['node_modules', 'dist', '.git']) assert.ok(ignore.includes(p), `.dockerignore: ${p}`)
})

const canRun = process.getuid?.() === 0 && spawnSync('tini', ['--version']).status === 0
test('scripts/docker-steps.mjs: build, start as an unprivileged user under tini, HEALTHCHECK passes, SIGTERM drains to exit 0', { skip: !canRun && 'needs root (setpriv, ip netns) and tini (Debian package tini)', timeout: 280_000 }, async () => {
  const child = spawn(process.execPath, [join(ROOT, 'scripts/docker-steps.mjs'), '--reuse'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
  assert.equal(code, 0, out)
  assert.match(out, /HEALTHCHECK passed/)
  assert.match(out, /run as uid 65534/)
  assert.match(out, /SIGTERM → drained, exit 0/)
})
