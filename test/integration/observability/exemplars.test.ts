// OpenMetrics with exemplars from a real cluster (2 workers): the request latency histogram
// carries the trace id of a sampled request as a bucket exemplar after the primary's aggregation;
// Prometheus text (the default) stays exemplar-free and promtool-clean.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { startOrigin, echo, freePort, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

const OM = 'application/openmetrics-text; version=1.0.0'
let origin: Origin
let gw: Gateway

before(async () => {
  origin = await startOrigin(echo)
  const otlp = await freePort() // nothing listens: export fails quietly, requests never wait
  gw = await startGateway({
    config: {
      tracing: { sample_ratio: 0, otlp: { endpoint: `http://127.0.0.1:${otlp}/v1/traces`, timeout: '200ms' } },
      upstreams: { o: { targets: [{ url: origin.url }] } },
      routes: [{ name: 'traced', paths: ['/t/*'], upstream: 'o' }],
    },
    args: ['--workers', '2'],
  })
})
after(async () => {
  await gw?.stop()
  await origin?.close()
})

const get = async (path: string, headers: Record<string, string> = {}) => {
  const r = await request(`${gw.url}${path}`, { headers })
  await r.body.dump()
  return r.statusCode
}

/** OpenMetrics text → families and samples; throws on a line that is neither. */
function parseOpenMetrics(text: string) {
  const lines = text.split('\n')
  assert.equal(lines.at(-1), '', 'ends with a newline')
  assert.equal(lines.at(-2), '# EOF', 'ends with # EOF')
  const types = new Map<string, string>()
  const samples: Array<{ name: string; labels: string; value: number; exemplar?: { labels: string; value: number; ts: number } }> = []
  for (const line of lines.slice(0, -2)) {
    let m = /^# (HELP|TYPE|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line)
    if (m !== null) {
      if (m[1] === 'TYPE') types.set(m[2]!, m[3]!)
      continue
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)(?: # (\{[^}]*\}) (\S+) (\S+))?$/.exec(line)
    assert.ok(m !== null, `not an OpenMetrics line: ${line}`)
    samples.push({
      name: m[1]!,
      labels: m[2] ?? '',
      value: Number(m[3]),
      ...(m[4] === undefined ? {} : { exemplar: { labels: m[4], value: Number(m[5]), ts: Number(m[6]) } }),
    })
  }
  return { types, samples }
}

test('a sampled request leaves its trace id as an exemplar on the latency histogram, merged over workers', async () => {
  const traceId = randomBytes(16).toString('hex')
  const parent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`
  assert.equal(await get('/t/sampled', { traceparent: parent }), 200)
  // Unsampled requests (ratio 0, no sampled parent) leave no exemplar.
  for (let i = 0; i < 5; i++) assert.equal(await get(`/t/plain-${i}`), 200)

  const { res, om } = await pollUntil(
    async () => {
      const res = await request(`${gw.adminUrl}/metrics`, { headers: { accept: `${OM},text/plain;version=0.0.4;q=0.5` } })
      const text = await res.body.text()
      const om = parseOpenMetrics(text)
      return om.samples.some((s) => s.exemplar?.labels === `{trace_id="${traceId}"}`) ? { res, om } : undefined
    },
    { what: 'the exemplar in the OpenMetrics exposition' },
  )
  assert.match(String(res.headers['content-type']), /^application\/openmetrics-text; version=1\.0\.0/)
  const withEx = om.samples.filter((s) => s.exemplar !== undefined)
  assert.equal(withEx.length, 1, 'exactly the one sampled request')
  const s = withEx[0]!
  assert.equal(s.name, 'portico_request_duration_seconds_bucket')
  assert.match(s.labels, /route="traced"/)
  assert.ok(s.exemplar!.value > 0 && s.exemplar!.value < 5)
  assert.ok(Math.abs(s.exemplar!.ts - Date.now() / 1000) < 60, 'timestamp in seconds')
  const le = /le="([^"]+)"/.exec(s.labels)![1]!
  assert.ok(le === '+Inf' || s.exemplar!.value <= Number(le), 'the exemplar lies in its bucket')
  // Counters: family without _total, samples with it (once).
  assert.equal(om.types.get('portico_requests'), 'counter')
  assert.ok(om.samples.some((x) => x.name === 'portico_requests_total' && /route="traced"/.test(x.labels) && x.value >= 6))
  assert.ok(!om.samples.some((x) => x.name.endsWith('_total_total')))
  assert.equal(om.types.get('portico_request_duration_seconds'), 'histogram')
})

test('the default Prometheus text has no exemplars and passes promtool', async () => {
  const res = await request(`${gw.adminUrl}/metrics`)
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  const text = await res.body.text()
  assert.doesNotMatch(text, /trace_id=/)
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  assert.equal(r.error, undefined, 'promtool missing: install the Debian package prometheus')
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
})
