#!/usr/bin/env node
// npm test's checks before the tests: ESLint, the type check of src/test/bench/scripts and that of
// ui/, at the same time (each is one single-threaded process; one after another they took 2-2.5 min
// of CI's 15 on a loaded 2-core machine). Each one's output is printed whole once it ends, so the
// three never interleave; the exit code is 1 if any failed. `npm run lint` and `npm run typecheck`
// stay the same commands one at a time.
import { spawn } from 'node:child_process'

const CHECKS = [
  ['lint', ['node_modules/eslint/bin/eslint.js', '.']],
  ['typecheck', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--noEmit']],
  ['typecheck ui/', ['node_modules/typescript/bin/tsc', '-p', 'ui/tsconfig.json']],
]

const results = await Promise.all(
  CHECKS.map(
    ([name, args]) =>
      new Promise((resolve) => {
        const started = Date.now()
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        child.stdout.on('data', (d) => (out += d))
        child.stderr.on('data', (d) => (out += d))
        child.on('error', (err) => resolve({ name, ok: false, out: `${out}${err.message}\n`, ms: Date.now() - started }))
        child.on('close', (code) => resolve({ name, ok: code === 0, out, ms: Date.now() - started }))
      }),
  ),
)
for (const r of results) {
  if (r.out.trim() !== '') process.stdout.write(r.out.endsWith('\n') ? r.out : `${r.out}\n`)
  console.log(`${r.ok ? 'ok' : 'FAILED'}: ${r.name} (${(r.ms / 1000).toFixed(1)} s)`)
}
process.exit(results.every((r) => r.ok) ? 0 : 1)
