// Load generators: a closed-loop throughput run (wrk, or autocannon when wrk is missing) and a
// fixed-rate latency run (wrk2 when present, else paced.ts). Each runs as its own process on the
// load core, and each result says which tool produced it.
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { startProc, which } from './procs.js'

export interface LoadResult {
  tool: string
  requests: number
  durationS: number
  rps: number
  p50Ms: number
  p99Ms: number
  non2xx: number
  socketErrors: number
}

export interface LoadOptions {
  url: string
  durationS: number
  connections: number
  headers: Record<string, string>
  core: number | undefined
  /** HTTP/2 scenarios: h2load with this many connections and streams per connection instead. */
  h2?: H2Load
}

export interface H2Load {
  clients: number
  streams: number
  /** Request body file (h2load -d; the request becomes a POST), for gRPC calls. */
  dataFile?: string
}

export const WRK = which('wrk')
export const H2LOAD = which('h2load')
export const WRK2 = which('wrk2')
export const AUTOCANNON = join(dirname(createRequire(import.meta.url).resolve('autocannon/package.json')), 'autocannon.js')

/** Run a process to completion and return its stdout; rejects with stderr when it fails. */
async function capture(name: string, cmd: string, args: string[], core: number | undefined): Promise<string> {
  let stdout = ''
  const proc = startProc(name, cmd, args, { core, stdout: 'pipe', onStdout: (c) => (stdout += c.toString()) })
  await proc.exited
  if (proc.exit?.code !== 0) throw new Error(`${name} failed (${proc.exit?.signal ?? `code ${proc.exit?.code}`}): ${proc.stderrTail() || stdout.slice(-500)}`)
  return stdout
}

const headerArgs = (flag: string, headers: Record<string, string>, sep: string): string[] =>
  Object.entries(headers).flatMap(([k, v]) => [flag, `${k}${sep}${v}`])

/** Closed-loop throughput: as many requests as `connections` keep-alive connections can get through. */
export async function throughput(o: LoadOptions): Promise<LoadResult> {
  if (o.h2) return h2load(o, o.h2)
  if (WRK) {
    const args = ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--latency', ...headerArgs('-H', o.headers, ': '), o.url]
    return parseWrk(await capture('wrk', WRK, args, o.core), 'wrk')
  }
  const args = [AUTOCANNON, '-c', String(o.connections), '-d', String(o.durationS), '-j', ...headerArgs('-H', o.headers, '='), o.url]
  return parseAutocannon(await capture('autocannon', process.execPath, args, o.core))
}

/** Open-loop latency at a fixed request rate. */
export async function fixedRate(o: LoadOptions & { rate: number; pacedScript: string }): Promise<LoadResult> {
  if (WRK2) {
    const args = ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, `-R${o.rate}`, '--latency', ...headerArgs('-H', o.headers, ': '), o.url]
    return parseWrk(await capture('wrk2', WRK2, args, o.core), 'wrk2')
  }
  const args = [o.pacedScript, o.url, String(o.rate), String(o.durationS), String(o.connections), JSON.stringify(o.headers)]
  const r = JSON.parse(await capture('paced', process.execPath, args, o.core)) as {
    requests: number
    durationS: number
    non2xx: number
    errors: number
    p50Ms: number
    p99Ms: number
  }
  return {
    tool: 'paced.ts',
    requests: r.requests,
    durationS: r.durationS,
    rps: r.requests / r.durationS,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    non2xx: r.non2xx,
    socketErrors: r.errors,
  }
}

/** h2load (nghttp2-client): `clients` h2c connections, `streams` concurrent streams on each, closed loop. */
async function h2load(o: LoadOptions, h: H2Load): Promise<LoadResult> {
  if (!H2LOAD) throw new Error('h2load is not installed (Debian package nghttp2-client)')
  const args = [`-c${h.clients}`, `-m${h.streams}`, '-t1', `-D${o.durationS}`, ...headerArgs('-H', o.headers, ': '), ...(h.dataFile ? ['-d', h.dataFile] : []), o.url]
  return parseH2load(await capture('h2load', H2LOAD, args, o.core))
}

/**
 * Parse h2load's report. It prints no percentiles, only min/max/mean of "time for request", so
 * p50Ms carries the mean and p99Ms the max (the table's latency columns come from the fixed-rate
 * run, which the HTTP/2 scenarios do not have). A gRPC call counts as succeeded on a 2xx: h2load
 * does not read grpc-status (the probe before the run checks it is 0).
 */
export function parseH2load(text: string): LoadResult {
  // Over https:// h2load offers http/1.1 after h2 in ALPN, and falls back to it when the server
  // picks none, then carries on: a run that is not HTTP/2 is refused rather than reported as one.
  if (/^No protocol negotiated/m.test(text)) throw new Error('h2load: the server negotiated no protocol by ALPN (h2 expected)')
  const alpn = /^Application protocol: (\S+)$/m.exec(text)?.[1]
  // Over cleartext (prior knowledge) h2load reports "h2c": HTTP/2 too, with nothing negotiated.
  if (alpn !== undefined && alpn !== 'h2' && alpn !== 'h2c') throw new Error(`h2load: the server negotiated ${alpn} by ALPN, not h2`)
  const fin = /finished in ([\d.]+)(us|ms|s|m),/.exec(text)
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text)
  if (!fin || !req) throw new Error(`h2load: unexpected output: ${text.slice(0, 500)}`)
  const t = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(text)
  const durationS = toMs(fin[1] as string, fin[2] as string) / 1000
  // "succeeded" is done with a 2xx; the status-code line also counts streams whose head arrived
  // but that had not ended when the duration ran out, so it can exceed "done".
  const ok = Number(req[4])
  const done = Number(req[3])
  return {
    tool: 'h2load',
    requests: ok,
    durationS,
    rps: ok / durationS,
    p50Ms: t ? toMs(t[5] as string, t[6] as string) : NaN,
    p99Ms: t ? toMs(t[3] as string, t[4] as string) : NaN,
    non2xx: done - ok,
    // errored includes failed; timeouts are separate.
    socketErrors: Number(req[6]) + Number(req[7]),
  }
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }

function toMs(value: string, unit: string): number {
  return Number(value) * (UNIT_MS[unit] ?? NaN)
}

/** Parse wrk's (and wrk2's) text report. */
export function parseWrk(text: string, tool: string): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(text)
  if (!total) throw new Error(`${tool}: unexpected output: ${text.slice(0, 500)}`)
  // wrk prints "50%  1.23ms"; wrk2's HdrHistogram block prints "50.000%  1.23ms".
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}(?:\\.0+)?%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text)
    return m ? toMs(m[1] as string, m[2] as string) : NaN
  }
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text)
  const requests = Number(total[1])
  const durationS = toMs(total[2] as string, total[3] as string) / 1000
  return {
    tool,
    requests,
    durationS,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? requests / durationS),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  }
}

/** Parse autocannon's -j output (latency percentiles are whole milliseconds there). */
export function parseAutocannon(json: string): LoadResult {
  const r = JSON.parse(json) as {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    requests: { total: number }
    latency: { p50: number; p99: number }
  }
  return {
    tool: 'autocannon',
    requests: r.requests.total,
    durationS: r.duration,
    rps: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    // autocannon counts timeouts inside errors as well; errors alone is the socket-level total.
    socketErrors: r.errors,
  }
}
