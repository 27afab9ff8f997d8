// A node:test reporter that adds up the top-level tests' durations per file (a file's `before`
// hooks count into its first test) and, at the end, prints the slowest files: the suite must stay
// well under CI's 15 minutes on two cores, and this says where its time goes.
export default async function* fileTimes(source) {
  const perFile = new Map()
  for await (const ev of source) {
    if ((ev.type === 'test:pass' || ev.type === 'test:fail') && ev.data.nesting === 0 && ev.data.file !== undefined) {
      perFile.set(ev.data.file, (perFile.get(ev.data.file) ?? 0) + (ev.data.details?.duration_ms ?? 0))
    }
  }
  const cwd = process.cwd() + '/'
  const slowest = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, 15)
  yield `slowest test files (sum of their top-level tests):\n`
  for (const [file, ms] of slowest) yield `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${file.replace(cwd, '')}\n`
}
