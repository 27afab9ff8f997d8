// The metrics a running gateway exposes pass `promtool check metrics`, the shipped alert rules pass
// `promtool check rules`, and every metric the alerts and the Grafana dashboard use is one the
// gateway really exports (so a rename cannot silently break them). promtool is Debian's
// `prometheus` package (installed by the pretest step).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'undici'
import { startOrigin, echo, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { registry, enableProcessMetrics } from '../../../src/observability/metrics.js'

const ROOT = new URL('../../../', import.meta.url).pathname
let origin: Origin
let gw: InProcGateway
let exposition = ''

before(async () => {
  origin = await startOrigin(echo)
  gw = await startInProc(`
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: all, paths: ["/*"], upstream: o } ]
`)
  enableProcessMetrics()
  for (const p of ['/a', '/b']) await (await request(`${gw.url}${p}`)).body.dump()
  exposition = await registry.metrics()
})
after(async () => {
  await gw.close()
  await origin.close()
})

test('promtool check metrics accepts the exposition', () => {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' })
  assert.equal(r.error, undefined, 'promtool missing: install the Debian package prometheus')
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
})

test('promtool check rules accepts deploy/prometheus/alerts.yaml', () => {
  const r = spawnSync('promtool', ['check', 'rules', `${ROOT}deploy/prometheus/alerts.yaml`], { encoding: 'utf8' })
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
})

test('every metric used by the alerts and the dashboard is exported', async () => {
  // Series that only appear once a feature is used are registered up front (they are declared
  // with their metric, even with no series yet): the names come from the registry, not the sample.
  const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name))
  const used = new Set<string>()
  const sources = [readFileSync(`${ROOT}deploy/prometheus/alerts.yaml`, 'utf8'), readFileSync(`${ROOT}deploy/grafana/portico.json`, 'utf8')]
  for (const text of sources) for (const m of text.matchAll(/\b(portico_[a-z0-9_]+)/g)) used.add(m[1]!.replace(/_(bucket|sum|count)$/, ''))
  const missing = [...used].filter((n) => !exported.has(n))
  assert.deepEqual(missing, [], `used in deploy/ but not exported: ${missing.join(', ')}`)
})
