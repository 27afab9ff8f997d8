// The /metrics text from one or more registries' JSON (one per worker, plus the primary's):
// Prometheus 0.0.4 text, or OpenMetrics 1.0 with exemplars when the scraper asks for it.
//
// prom-client's AggregatorRegistry.aggregate() sums series over workers but drops exemplars, and
// its OpenMetrics output of aggregated counters doubles the `_total` suffix (it strips the suffix
// from a wrapper that get() bypasses). So for OpenMetrics the freshest exemplar per (series,
// bucket) over all workers is put back after the sums, and counter family names are fixed here.
import { AggregatorRegistry, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client'

type Metrics = Array<MetricObjectWithValues<MetricValue<string>>>
interface Exemplar {
  labelSet: Record<string, string>
  value: number
  timestamp: number
}
type Value = MetricValue<string> & { metricName?: string; exemplar?: Exemplar | null }

function seriesKey(metricName: string | undefined, labels: Record<string, unknown>): string {
  let k = metricName ?? ''
  for (const name of Object.keys(labels).sort()) k += `\u0000${name}=${String(labels[name])}`
  return k
}

export async function exposition(perProcess: Metrics[], openMetrics: boolean): Promise<string> {
  if (!openMetrics) return AggregatorRegistry.aggregate(perProcess).metrics()
  // Freshest exemplar per bucket series, whichever worker observed it.
  const exemplars = new Map<string, Map<string, Exemplar>>()
  for (const metrics of perProcess) {
    for (const m of metrics) {
      for (const v of m.values as Value[]) {
        // prom-client's own metrics carry `exemplar: null` when they have none.
        if (v.exemplar === undefined || v.exemplar === null) continue
        let byKey = exemplars.get(m.name)
        if (byKey === undefined) exemplars.set(m.name, (byKey = new Map()))
        const key = seriesKey(v.metricName, v.labels)
        const prev = byKey.get(key)
        if (prev === undefined || prev.timestamp < v.exemplar.timestamp) byKey.set(key, v.exemplar)
      }
    }
  }
  // The typings omit aggregate()'s second parameter (the content type of the registry it builds).
  const aggregate = AggregatorRegistry.aggregate as unknown as (m: Metrics[], contentType: string) => Registry
  const registry = aggregate(perProcess, Registry.OPENMETRICS_CONTENT_TYPE)
  for (const wrapper of registry.getMetricsAsArray() as unknown as Array<{ get(): { name: string; type: string; values: Value[] } }>) {
    const m = wrapper.get()
    // OpenMetrics names the counter family without `_total`; prom-client appends it to each sample.
    if (m.type === 'counter') m.name = m.name.replace(/_total$/, '')
    const byKey = exemplars.get(m.name)
    if (byKey === undefined) continue
    for (const v of m.values) {
      const e = byKey.get(seriesKey(v.metricName, v.labels))
      if (e !== undefined) v.exemplar = e
    }
  }
  return registry.metrics()
}
