// Request counters and latency histograms for the hot path, exposed through prom-client.
//
// Hand-written instead of prom-client's Counter/Histogram for the per-request series: those hash
// their label object on every inc()/observe() (sort keys, join), ~1 µs per request on the load
// benchmark. Here a series is resolved once per (route, method, status class) and an observation
// is a few array writes. The objects below implement prom-client's metric interface (get() in its
// value format), so the registry, the text exposition and the primary's cross-worker aggregation
// (AggregatorRegistry.aggregate) treat them like any other metric.
import type { Registry, MetricValue } from 'prom-client'

type Labels = Record<string, string>

export class FastCounter {
  readonly name: string
  readonly help: string
  readonly type = 'counter'
  readonly aggregator = 'sum'
  readonly #series = new Map<string, { labels: Labels; value: number }>()

  constructor(name: string, help: string, registry: Registry) {
    this.name = name
    this.help = help
    registry.registerMetric(this as never)
  }

  /** The series for these labels; keep the handle and call inc() on it. */
  series(key: string, labels: Labels): { value: number } {
    let s = this.#series.get(key)
    if (s === undefined) {
      s = { labels, value: 0 }
      this.#series.set(key, s)
    }
    return s
  }

  get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type as never,
      aggregator: 'sum',
      values: [...this.#series.values()].map((s) => ({ labels: s.labels, value: s.value })),
    }
  }

  reset(): void {
    for (const s of this.#series.values()) s.value = 0
  }
}

/** OpenMetrics exemplar: the trace of one observation in a bucket (prom-client's shape). */
export interface Exemplar {
  labelSet: { trace_id: string }
  value: number
  /** Seconds since the epoch. */
  timestamp: number
}

export interface HistogramSeries {
  readonly labels: Labels
  /** Per-bucket (non-cumulative) counts; the last slot is +Inf. */
  readonly counts: number[]
  sum: number
  count: number
  /** The last exemplar per bucket; null until an observation inside a sampled trace. */
  exemplars: Array<Exemplar | undefined> | null
}

export class FastHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly buckets: readonly number[]
  readonly #series = new Map<string, HistogramSeries>()

  constructor(name: string, help: string, buckets: readonly number[], registry: Registry) {
    this.name = name
    this.help = help
    this.buckets = buckets
    registry.registerMetric(this as never)
  }

  series(key: string, labels: Labels): HistogramSeries {
    let s = this.#series.get(key)
    if (s === undefined) {
      s = { labels, counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0, exemplars: null }
      this.#series.set(key, s)
    }
    return s
  }

  /** `traceId`: the observation happened inside a sampled trace; it becomes the bucket's exemplar. */
  observe(s: HistogramSeries, v: number, traceId?: string): void {
    const b = this.buckets
    let i = 0
    while (i < b.length && v > b[i]!) i++
    s.counts[i]!++
    s.sum += v
    s.count++
    if (traceId !== undefined) {
      const ex = (s.exemplars ??= new Array<Exemplar | undefined>(b.length + 1).fill(undefined))
      ex[i] = { labelSet: { trace_id: traceId }, value: v, timestamp: Date.now() / 1000 }
    }
  }

  get() {
    const values: Array<MetricValue<string> & { metricName: string; exemplar?: Exemplar }> = []
    for (const s of this.#series.values()) {
      let acc = 0
      const ex = s.exemplars
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i]!
        const e = ex?.[i]
        values.push({ labels: { ...s.labels, le: this.buckets[i]! }, value: acc, metricName: `${this.name}_bucket`, ...(e === undefined ? {} : { exemplar: e }) })
      }
      const inf = ex?.[this.buckets.length]
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket`, ...(inf === undefined ? {} : { exemplar: inf }) })
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` })
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type as never, aggregator: 'sum', values }
  }

  reset(): void {
    for (const s of this.#series.values()) {
      s.counts.fill(0)
      s.sum = 0
      s.count = 0
      s.exemplars = null
    }
  }
}
