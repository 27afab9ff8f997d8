// A node:test reporter that prints, at the end, the slowest test files by wall time: the suite must
// stay well under CI's 15 minutes on two cores, and this says where its time goes.
//
// Node 20 reports each file's subprocess as a nesting-0 test named after the file, with only a
// test:complete event; its duration is the file's whole wall time (process start, tsx, before/after
// hooks, tests). Files with no such event (a run given inline tests) fall back to the sum of their
// top-level tests.
//
// With PORTICO_TEST_TIMES=<path>, the per-file wall times are also written there as JSON
// ({ "test/x.test.ts": ms }), the form scripts/run-tests.mjs reads to start the longest files first.
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'

export default async function* fileTimes(source) {
  const wall = new Map()
  const summed = new Map()
  for await (const ev of source) {
    const file = ev.data?.file
    if (file === undefined || ev.data.nesting !== 0) continue
    // (named by the path as given to the runner, relative or not; `file` is absolute)
    if (ev.type === 'test:complete' && resolve(ev.data.name) === file) {
      wall.set(file, ev.data.details?.duration_ms ?? 0)
    } else if (ev.type === 'test:pass' || ev.type === 'test:fail') {
      summed.set(file, (summed.get(file) ?? 0) + (ev.data.details?.duration_ms ?? 0))
    }
  }
  for (const [file, ms] of summed) if (!wall.has(file)) wall.set(file, ms)
  const cwd = process.cwd() + '/'
  const rel = (file) => file.replace(cwd, '')
  const all = [...wall].sort((a, b) => b[1] - a[1])
  const total = all.reduce((s, [, ms]) => s + ms, 0)
  yield `slowest test files (wall time of each file's process; ${all.length} files, ${(total / 1000).toFixed(0)} s in all):\n`
  for (const [file, ms] of all.slice(0, 25)) yield `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${rel(file)}\n`
  const out = process.env.PORTICO_TEST_TIMES
  if (out) {
    writeFileSync(out, JSON.stringify(Object.fromEntries(all.map(([f, ms]) => [rel(f), Math.round(ms)])), null, 1) + '\n')
  }
}
