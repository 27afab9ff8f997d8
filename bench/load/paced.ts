// Fixed-rate (open-loop) latency probe, run as its own process next to the origin.
//
// Why hand-written: wrk only runs closed-loop (as fast as it can), wrk2 (which has -R) is not
// packaged by most distributions, and autocannon's -R/--overallRate lets each connection fire its
// whole per-second budget back to back and then idle, which measures bursts, and it records latency
// in whole milliseconds, which hides the sub-millisecond differences between proxies. This sends
// requests on a fixed 1 ms schedule through an undici pool and times each one with hrtime.
//
// argv: url rate durationSeconds connections [headersJson]; prints one JSON line (PacedResult).
import { Pool } from 'undici'

const [url = '', rateArg = '2000', durationArg = '10', connectionsArg = '64', headersArg = '{}'] = process.argv.slice(2)
const rate = Number(rateArg)
const durationMs = Number(durationArg) * 1000
const target = new URL(url)
const headers = JSON.parse(headersArg) as Record<string, string>
// Enough connections that requests never wait for a free one unless the subject stalls; when it
// does, the wait in the pool's queue counts in the latency (the clock starts before pool.request).
const pool = new Pool(target.origin, { connections: Number(connectionsArg), keepAliveTimeout: 60_000 })
const path = target.pathname + target.search

// The first part of the run is not sampled: it opens the pool's connections and compiles this
// script, which is the generator warming up, not the subject answering.
const sampleAfterMs = Math.min(1000, durationMs / 5)
const latencies: number[] = []
let non2xx = 0
let errors = 0
let sent = 0
let inFlight = 0
// Longest gap between two ticks: when it is large the generator itself was late, not the subject.
let maxTickGapMs = 0

function fire(sample: boolean): void {
  sent++
  inFlight++
  const t0 = process.hrtime.bigint()
  pool.request({ method: 'GET', path, headers }).then(
    async ({ statusCode, body }) => {
      await body.dump()
      // Latency counts only answered requests; errors are counted apart, like wrk does.
      if (statusCode < 200 || statusCode >= 300) non2xx++
      else if (sample) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6)
      settle()
    },
    () => {
      errors++
      settle()
    },
  )
}

let finished = false
function settle(): void {
  inFlight--
  if (finished && inFlight === 0) report()
}

const start = performance.now()
let lastTick = start
const timer = setInterval(() => {
  const now = performance.now()
  maxTickGapMs = Math.max(maxTickGapMs, now - lastTick)
  lastTick = now
  const elapsed = now - start
  if (elapsed >= durationMs) {
    clearInterval(timer)
    finished = true
    if (inFlight === 0) report()
    return
  }
  // Send every request that is due by now; a late tick sends its backlog at once.
  const due = Math.floor((elapsed * rate) / 1000)
  while (sent < due) fire(elapsed >= sampleAfterMs)
}, 1)

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

function report(): void {
  const sorted = latencies.sort((a, b) => a - b)
  const result = {
    requests: sent - errors,
    sampled: sorted.length,
    durationS: (performance.now() - start) / 1000,
    non2xx,
    errors,
    p50Ms: pct(sorted, 50),
    p90Ms: pct(sorted, 90),
    p99Ms: pct(sorted, 99),
    p999Ms: pct(sorted, 99.9),
    maxMs: sorted.at(-1) ?? 0,
    maxTickGapMs,
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
  void pool.close().then(() => process.exit(0))
}
