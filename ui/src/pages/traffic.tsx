// Requests per second and error ratio per route, from the primary's aggregated /metrics
// (portico_requests_total{route,method,status}), sampled every 2 s into the last 5 minutes.
import { useEffect, useRef, useState } from 'preact/hooks'
import { text } from '../api'
import { Chart } from '../chart'

const SAMPLE_MS = 2000
const KEEP = 150

type Totals = Map<string, { all: number; errors: number }>

export function parseRequests(metrics: string): Totals {
  const out: Totals = new Map()
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('portico_requests_total{')) continue
    const close = line.lastIndexOf('}')
    const labels = line.slice('portico_requests_total{'.length, close)
    const value = Number(line.slice(close + 1).trim().split(' ')[0])
    const route = /(?:^|,)route="((?:[^"\\]|\\.)*)"/.exec(labels)?.[1] ?? ''
    const status = /(?:^|,)status="([^"]*)"/.exec(labels)?.[1] ?? ''
    const t = out.get(route) ?? { all: 0, errors: 0 }
    t.all += value
    if (status.startsWith('5')) t.errors += value
    out.set(route, t)
  }
  return out
}

interface Series {
  rate: number[]
  errors: number[]
}

export function Traffic() {
  const [series, setSeries] = useState<Map<string, Series>>(new Map())
  const [error, setError] = useState<string | null>(null)
  const last = useRef<{ at: number; totals: Totals } | null>(null)
  useEffect(() => {
    let live = true
    let timer: ReturnType<typeof setTimeout> | undefined
    const sample = async () => {
      try {
        const totals = parseRequests(await text('/metrics'))
        const now = Date.now()
        const prev = last.current
        last.current = { at: now, totals }
        if (prev !== null && live) {
          const dt = (now - prev.at) / 1000
          setSeries((old) => {
            const next = new Map(old)
            for (const [route, t] of totals) {
              const p = prev.totals.get(route) ?? { all: 0, errors: 0 }
              const d = Math.max(0, t.all - p.all)
              const de = Math.max(0, t.errors - p.errors)
              const s = next.get(route) ?? { rate: [], errors: [] }
              next.set(route, { rate: [...s.rate, d / dt].slice(-KEEP), errors: [...s.errors, d === 0 ? 0 : de / d].slice(-KEEP) })
            }
            return next
          })
        }
        setError(null)
      } catch (e) {
        setError((e as Error).message)
      } finally {
        if (live) timer = setTimeout(() => void sample(), SAMPLE_MS)
      }
    }
    void sample()
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [])
  const routes = [...series.keys()].sort()
  return (
    <>
      <h1>Live traffic</h1>
      <p class="muted">Per route, sampled every {SAMPLE_MS / 1000} s from /metrics (all workers), the last {Math.round((KEEP * SAMPLE_MS) / 60000)} minutes.</p>
      {error !== null && <p role="alert" class="error">{error}</p>}
      {routes.length === 0 && <p class="muted">Waiting for two samples of traffic…</p>}
      <div class="charts">
        {routes.map((r) => {
          const s = series.get(r)!
          return (
            <section key={r} class="card" aria-label={`Traffic of route ${r}`} data-route={r}>
              <h2>{r === '' ? '(no route)' : r}</h2>
              <Chart label="requests/s" values={s.rate} format={(v) => v.toFixed(1)} />
              <Chart label="error ratio (5xx)" values={s.errors} max={1} format={(v) => `${(v * 100).toFixed(0)}%`} tone="bad" />
            </section>
          )
        })}
      </div>
    </>
  )
}
