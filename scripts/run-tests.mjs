#!/usr/bin/env node
// Runs every test file under test/ with node:test through tsx, two files at a time (2 cores),
// and ends with the plain line "N passed, N failed" that CI reads.
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function find(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...find(p))
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

const only = process.argv.slice(2)
const files = only.length > 0 ? only : find('test').sort()
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', '--test-reporter=spec', '--test-reporter-destination=stdout', ...files],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_ENV: 'test' } },
)
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
  const failed = num('fail') + num('cancelled')
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(code === 0 && failed === 0 ? 0 : 1)
})
