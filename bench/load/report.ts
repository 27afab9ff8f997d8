// Results: per-round measurements in, one summary row per subject out, printed as a table and
// written as JSON + markdown. Every figure is the median over rounds (RSS: the largest seen).
import type { LoadResult } from './load.js'

export interface Measurement {
  round: number
  throughput: LoadResult
  /** Subject CPU (user + system) during the throughput run, per completed request. */
  cpuUsPerReq: number
  /** The origin's CPU per request in the same run: if it moves, the origin side changed. */
  originCpuUsPerReq: number
  /** VmRSS right after the throughput run of the subject's largest process (per worker, for gateways that fork). */
  rssMB: number
  /** VmRSS of the subject's whole process tree (primary + workers) at the same moment. */
  rssTotalMB?: number
  fixedRate: LoadResult
  /** Subject CPU per request during the fixed-rate run (less batching than at saturation). */
  cpuUsPerReqAtRate: number
  /** Machine CPU used by other processes during each run, in % of one core. */
  noisePct: { throughput: number; fixedRate: number }
  /** Access-log bytes written per request during the throughput run (Portico only). */
  logBytesPerReq?: number
}

export interface SubjectResult {
  name: string
  role: string
  status: 'ok' | 'failed' | 'skipped'
  reason?: string
  notes: string[]
  rounds: Measurement[]
  summary?: Summary
}

export interface Summary {
  rps: number
  cpuUsPerReq: number
  cpuRatioToFloor: number | null
  p50Ms: number
  p99Ms: number
  rssMB: number
  rssTotalMB?: number
  errors: number
  originCpuUsPerReq: number
  cpuUsPerReqAtRate: number
  noisePct: number
  logBytesPerReq?: number
}

export interface ScenarioResult {
  name: string
  description: string
  subjects: SubjectResult[]
}

/** CPU of an instance with no traffic (run.ts measureIdle). */
export interface IdleResult {
  name: string
  status: 'ok' | 'failed'
  reason?: string
  /** Milliseconds of CPU per second, every process and thread of the subject. */
  cpuMsPerS?: number
}

export function idleLine(idle: IdleResult[]): string {
  return `idle CPU (no traffic): ${idle.map((i) => (i.status === 'ok' ? `${i.name} ${i.cpuMsPerS!.toFixed(2)} ms/s` : `${i.name} failed (${i.reason})`)).join(', ')}`
}

/** Memory per open HTTP/2 stream (run.ts measureStreams). */
export interface StreamsResult {
  name: string
  status: 'ok' | 'failed'
  reason?: string
  /** Streams whose 200 head arrived (the target is sessions × perSession). */
  streams?: number
  /** VmRSS of the serving process (Portico's worker) after one request, and with the streams open. */
  rssBeforeMB?: number
  rssOpenMB?: number
  bytesPerStream?: number
}

export function streamsLine(r: StreamsResult[]): string {
  const one = (x: StreamsResult): string =>
    x.status === 'ok'
      ? `${x.name} ${x.streams} streams: RSS ${x.rssBeforeMB!.toFixed(1)} → ${x.rssOpenMB!.toFixed(1)} MB, ${(x.bytesPerStream! / 1024).toFixed(1)} KB/stream`
      : `${x.name} failed (${x.reason})`
  const p = r.find((x) => x.name === 'portico' && x.status === 'ok')
  const f = r.find((x) => x.name === 'floor-h2' && x.status === 'ok')
  const ratio = p && f && f.bytesPerStream! > 0 ? `; portico vs floor-h2: ${(p.bytesPerStream! / f.bytesPerStream!).toFixed(2)}× per stream` : ''
  return `open HTTP/2 streams (worker RSS): ${r.map(one).join(', ')}${ratio}`
}

export interface Report {
  startedAt: string
  finishedAt: string
  machine: Record<string, string>
  settings: Record<string, string | number>
  method: string[]
  idle?: IdleResult[]
  streams?: StreamsResult[]
  scenarios: ScenarioResult[]
}

export function median(values: number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/** Fill in each subject's summary; the CPU ratio is against the floor of the same scenario. */
export function summarize(subjects: SubjectResult[]): void {
  for (const s of subjects) {
    if (s.rounds.length === 0) continue
    const m = (f: (r: Measurement) => number): number => median(s.rounds.map(f))
    const logs = s.rounds.map((r) => r.logBytesPerReq).filter((v): v is number => v !== undefined)
    s.summary = {
      rps: m((r) => r.throughput.rps),
      cpuUsPerReq: m((r) => r.cpuUsPerReq),
      cpuRatioToFloor: null,
      p50Ms: m((r) => r.fixedRate.p50Ms),
      p99Ms: m((r) => r.fixedRate.p99Ms),
      rssMB: Math.max(...s.rounds.map((r) => r.rssMB)),
      rssTotalMB: Math.max(...s.rounds.map((r) => r.rssTotalMB ?? r.rssMB)),
      errors: s.rounds.reduce((a, r) => a + r.throughput.non2xx + r.throughput.socketErrors + r.fixedRate.non2xx + r.fixedRate.socketErrors, 0),
      originCpuUsPerReq: m((r) => r.originCpuUsPerReq),
      cpuUsPerReqAtRate: m((r) => r.cpuUsPerReqAtRate),
      noisePct: Math.max(...s.rounds.map((r) => Math.max(r.noisePct.throughput, r.noisePct.fixedRate))),
      ...(logs.length > 0 ? { logBytesPerReq: median(logs) } : {}),
    }
  }
  const floor = subjects.find((s) => s.role === 'floor')?.summary?.cpuUsPerReq
  for (const s of subjects) {
    if (s.summary && floor) s.summary.cpuRatioToFloor = s.summary.cpuUsPerReq / floor
  }
}

const HEAD = ['subject', 'req/s', 'CPU µs/req', '× floor (CPU)', 'p50 ms', 'p99 ms', 'RSS MB', 'errors', 'noise %']

function cells(s: SubjectResult): string[] {
  const x = s.summary
  if (!x) return [s.name, s.status, '—', '—', '—', '—', '—', '—', '—']
  const name = s.role === 'reference' ? `${s.name} (ref)` : s.name
  return [
    name,
    x.rps.toFixed(0),
    x.cpuUsPerReq.toFixed(1),
    // direct's CPU is the origin's, not a proxy's: a ratio to the floor would compare unlike things.
    x.cpuRatioToFloor === null || s.role === 'reference' ? '—' : `${x.cpuRatioToFloor.toFixed(2)}×`,
    // No fixed-rate run in the HTTP/2 scenarios: no latency figure.
    Number.isFinite(x.p50Ms) ? x.p50Ms.toFixed(3) : '—',
    Number.isFinite(x.p99Ms) ? x.p99Ms.toFixed(3) : '—',
    x.rssMB.toFixed(1),
    String(x.errors),
    x.noisePct.toFixed(0),
  ]
}

/** "CPU per request vs floor: nginx 0.24×, portico 1.40×, ..." plus Portico against nginx. */
export function ratiosLine(subjects: SubjectResult[]): string {
  const measured = subjects.filter((s) => s.summary && s.role !== 'reference' && s.role !== 'floor')
  const parts = measured.map((s) => `${s.name} ${s.summary?.cpuRatioToFloor?.toFixed(2) ?? '?'}×`)
  let line = `CPU per request vs floor: ${parts.join(', ') || 'nothing measured'}`
  const p = subjects.find((s) => s.name === 'portico')?.summary
  const n = subjects.find((s) => s.name === 'nginx')?.summary
  if (p && n) line += `; portico vs nginx: ${(p.cpuUsPerReq / n.cpuUsPerReq).toFixed(2)}×`
  const c = subjects.find((s) => s.name === 'portico@compare')?.summary
  if (p && c) line += `; portico vs portico@compare: ${(p.cpuUsPerReq / c.cpuUsPerReq).toFixed(3)}×`
  for (const peer of ['floor+fast-jwt', 'http-proxy+fast-jwt']) {
    const x = subjects.find((s) => s.name === peer)?.summary
    if (p && x) line += `; portico vs ${peer}: ${(p.cpuUsPerReq / x.cpuUsPerReq).toFixed(2)}×`
  }
  // The fixed-rate run's CPU per request: costs per unit of time (timers, flushes) show here, not
  // at saturation, where they are spread over many more requests.
  const f = subjects.find((s) => s.role === 'floor')?.summary
  if (p && f && Number.isFinite(p.cpuUsPerReqAtRate) && Number.isFinite(f.cpuUsPerReqAtRate)) {
    line += `; at the fixed rate: portico ${p.cpuUsPerReqAtRate.toFixed(1)} vs floor ${f.cpuUsPerReqAtRate.toFixed(1)} µs/req (${(p.cpuUsPerReqAtRate / f.cpuUsPerReqAtRate).toFixed(2)}×)`
  }
  return line
}

/** Above this share of a core used by other processes, say that the figures are disturbed. */
const NOISY_PCT = 10

function problems(subjects: SubjectResult[]): string[] {
  const out = subjects.filter((s) => s.status !== 'ok').map((s) => `${s.name}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`)
  const noise = Math.max(0, ...subjects.map((s) => s.summary?.noisePct ?? 0))
  if (noise > NOISY_PCT) out.push(`other processes used up to ${noise.toFixed(0)}% of a core during the measurements: the figures (latency first) are disturbed; rerun on a quiet machine`)
  return out
}

export function textTable(sc: ScenarioResult): string {
  const rows = [HEAD, ...sc.subjects.map(cells)]
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  const fmt = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  const out = [`scenario ${sc.name}: ${sc.description}`, fmt(rows[0] as string[]), ...rows.slice(1).map(fmt), ratiosLine(sc.subjects)]
  for (const p of problems(sc.subjects)) out.push(`  ! ${p}`)
  return out.join('\n')
}

export function markdown(r: Report): string {
  const out: string[] = ['# Portico load benchmark', '', `Run ${r.startedAt} → ${r.finishedAt}`, '', '| machine | |', '|---|---|']
  for (const [k, v] of Object.entries(r.machine)) out.push(`| ${k} | ${v} |`)
  out.push('', '| setting | |', '|---|---|')
  for (const [k, v] of Object.entries(r.settings)) out.push(`| ${k} | ${v} |`)
  if (r.idle !== undefined && r.idle.length > 0) out.push('', '## Idle', '', idleLine(r.idle))
  if (r.streams !== undefined && r.streams.length > 0) out.push('', '## Open HTTP/2 streams', '', streamsLine(r.streams))
  for (const sc of r.scenarios) {
    out.push('', `## Scenario \`${sc.name}\``, '', sc.description, '')
    out.push(`| ${HEAD.join(' | ')} |`, `|${HEAD.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`)
    for (const s of sc.subjects) out.push(`| ${cells(s).join(' | ')} |`)
    out.push('', ratiosLine(sc.subjects), '')
    for (const p of problems(sc.subjects)) out.push(`- **${p}**`)
    for (const s of sc.subjects) {
      const extra = [...s.notes]
      if (s.summary) {
        extra.push(`origin CPU ${s.summary.originCpuUsPerReq.toFixed(1)} µs/req`, `CPU at fixed rate ${s.summary.cpuUsPerReqAtRate.toFixed(1)} µs/req`)
        if (s.summary.logBytesPerReq !== undefined) extra.push(`access log ${s.summary.logBytesPerReq.toFixed(0)} bytes/req`)
      }
      if (extra.length > 0) out.push(`- ${s.name}: ${extra.join('; ')}`)
    }
  }
  out.push('', '## Method', '', ...r.method.map((m) => `- ${m}`), '')
  return out.join('\n')
}
