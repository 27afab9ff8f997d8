#!/usr/bin/env node
// Runs every test file under test/ and bench/ with node:test through tsx, two files at a time (2 cores;
// three made timing-sensitive failover tests fail on a busy host), longest first, and ends with the
// plain line "N passed, N failed" that CI reads.
//
// Longest first: with two slots, a 50-75 s file that starts last runs alone at the end while the
// other slot idles. The expected times come from scripts/test-durations.json (each file's wall time
// from a run under load; refresh with `PORTICO_TEST_TIMES=scripts/test-durations.json node
// scripts/run-tests.mjs`); a file it does not list yet counts as the median of its folder's files.
//
// It first brings dist/ up to date (an incremental tsc build, a few seconds when nothing changed)
// and tells the test helpers so through PORTICO_TEST_DIST=1: gateways and CLI commands the tests
// spawn then run the compiled JavaScript, as users do, instead of compiling through tsx in every
// process and every cluster worker (at a load average of 20-40 a tsx start took 17-60 s, past
// the tests' start deadlines).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { performance } from 'node:perf_hooks'
import { dirname, join } from 'node:path'

function buildDist() {
  // tsc's incremental state outlives a deleted dist/; without the output it would emit nothing.
  if (!existsSync('dist/main.js')) rmSync('node_modules/.cache/portico-build.tsbuildinfo', { force: true })
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
  if (tsc.status !== 0) {
    console.log('build of dist/ failed (see above)')
    console.log('0 passed, 1 failed')
    process.exit(1)
  }
  const validator = spawnSync(process.execPath, ['scripts/build-validator.mjs'], { stdio: 'inherit' })
  if (validator.status !== 0) {
    console.log('build of dist/config/document-validator.cjs failed (see above)')
    console.log('0 passed, 1 failed')
    process.exit(1)
  }
}

// The web console (ui/ → dist/ui/, Vite, ~2 s): rebuilt when missing or older than its sources, so
// the console tests never run against a stale bundle.
function newest(dir) {
  let t = 0
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    t = Math.max(t, st.isDirectory() ? newest(p) : st.mtimeMs)
  }
  return t
}

function buildUi() {
  const built = existsSync('dist/ui/index.html') ? statSync('dist/ui/index.html').mtimeMs : 0
  if (built > Math.max(newest('ui'), statSync('schema/portico.config.json').mtimeMs)) return
  const vite = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', 'ui/vite.config.ts'], { stdio: 'inherit' })
  if (vite.status !== 0) {
    console.log('build of dist/ui/ failed (see above)')
    console.log('0 passed, 1 failed')
    process.exit(1)
  }
}

function find(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...find(p))
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

/** Longest expected first (see the top); ties and unknown folders by name. */
function longestFirst(files) {
  let known = {}
  try {
    known = JSON.parse(readFileSync('scripts/test-durations.json', 'utf8'))
  } catch {
    // no durations: the order by name
  }
  const median = (xs) => (xs.length === 0 ? 0 : xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)])
  const inDir = new Map()
  for (const [f, ms] of Object.entries(known)) inDir.set(dirname(f), [...(inDir.get(dirname(f)) ?? []), ms])
  const overall = median(Object.values(known))
  const expected = (f) => known[f] ?? (inDir.has(dirname(f)) ? median([...inDir.get(dirname(f))]) : overall)
  return [...files].sort((a, b) => expected(b) - expected(a) || (a < b ? -1 : 1))
}

const only = process.argv.slice(2)
// bench/ has tests of its own (load-tool parsers, the floor proxy starting from its built script);
// examples/ too (the example plugins' tests, written against the package's test kit).
const files = longestFirst(only.length > 0 ? only : [...find('test'), ...find('bench'), ...find('examples')])
buildDist()
buildUi()
// scripts/test-runner.mjs is `node --test` keeping this order (--test sorts by name); every file's
// process inherits its --import tsx.
// Coverage (the floor in .c8rc.json): on for a whole-suite run (`npm test`, CI), off for a run of
// chosen files (a few files cannot meet a whole-suite floor); PORTICO_COVERAGE=1 forces it on,
// PORTICO_COVERAGE=0 off. V8 writes one file per process into NODE_V8_COVERAGE, spawned gateways
// and their workers included (they run dist/, which c8 maps back to src/ through the source maps),
// so the floor counts what the control plane and workers ran, not only the test processes.
// Its cost, measured: six spawning integration files took 67 s with it and 68 s without, a whole
// run 651 s wall with it on a machine shared with other work; the prune and the report add ~20 s.
// (An earlier measurement of 454 s → 939 s compared an idle CI run with a loaded one.)
const coverage = process.env.PORTICO_COVERAGE === '1' || (process.env.PORTICO_COVERAGE !== '0' && only.length === 0)
const coverageDir = coverage ? mkdtempSync(join(tmpdir(), 'portico-coverage-')) : undefined
const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/test-runner.mjs', ...files], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, NODE_ENV: 'test', PORTICO_TEST_DIST: '1', ...(coverageDir ? { NODE_V8_COVERAGE: coverageDir } : {}) },
})

/**
 * Keeps only the project's own scripts (src/ through tsx, dist/ in spawned gateways) in each
 * process's coverage file. A whole run writes ~1 GB, nearly all of it node_modules and Node's
 * internals; pruned, it is ~300 MB and c8 reports in ~4 s instead of ~13 s and 1.8 GB of memory.
 * It also drops source maps of scripts that are not files (eval'd code), on which c8 12 throws
 * ERR_INVALID_URL_SCHEME.
 */
function pruneCoverage(dir) {
  const root = new URL(`${process.cwd()}/`, 'file:').href
  const own = (url) => (url.startsWith(`${root}src/`) || url.startsWith(`${root}dist/`)) && !url.includes('/node_modules/')
  for (const name of readdirSync(dir)) {
    const file = join(dir, name)
    let data
    try {
      data = JSON.parse(readFileSync(file, 'utf8'))
    } catch {
      rmSync(file, { force: true }) // cut short (a process killed while writing): nothing to count
      continue
    }
    data.result = (data.result ?? []).filter((r) => own(r.url))
    const maps = data['source-map-cache']
    if (maps) for (const url of Object.keys(maps)) if (!own(url)) delete maps[url]
    if (data.result.length === 0) rmSync(file, { force: true })
    else writeFileSync(file, JSON.stringify(data))
  }
}

/** c8's report over what the run wrote; false when a floor of .c8rc.json is not met. */
function coverageReport() {
  if (coverageDir === undefined) return true
  const started = performance.now()
  pruneCoverage(coverageDir)
  const c8 = spawnSync(process.execPath, ['node_modules/c8/bin/c8.js', 'report', '--temp-directory', coverageDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  rmSync(coverageDir, { recursive: true, force: true })
  process.stdout.write(c8.stdout)
  console.log(`coverage: pruned and reported in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  if (c8.status === 0) {
    console.log('coverage: the floors in .c8rc.json are met (HTML report in coverage/)')
    return true
  }
  process.stdout.write(c8.stderr)
  console.log('coverage: below a floor of .c8rc.json (see above); raise the tests, not lower the floor')
  return false
}
// The whole report is kept: the summary lines come before the "failing tests" section, whose stack
// traces can run to any length, so a tail of the output may not hold them.
let out = ''
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  out += chunk.toString()
})
child.on('close', (code) => {
  // The run's own summary is the last one printed (suites print none with the spec reporter).
  const num = (label) => Number([...out.matchAll(new RegExp(`^[ℹ#] ${label} (\\d+)$`, 'gm'))].at(-1)?.[1] ?? 0)
  const passed = num('pass')
  // A missed coverage floor counts as one failed test: CI reads only the last line.
  const floorsMet = coverageReport()
  const failed = num('fail') + num('cancelled') + (floorsMet ? 0 : 1)
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(code === 0 && failed === 0 ? 0 : 1)
})
