// What /metrics shows after real traffic: per-route counters and bytes, per-target upstream
// latency, in-flight gauge. (The cross-worker aggregation is covered in control/admin tests.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startOrigin } from '../../helpers/origin.js'
import { startInProc } from '../../helpers/inproc.js'
import { registry } from '../../../src/observability/metrics.js'

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue
    const inside = line.slice(name.length + 1, line.indexOf('}'))
    if (want.every((w) => inside.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}

test('route, byte and per-target upstream series reflect the traffic', async () => {
  const a = await startOrigin((_req, res) => res.end('a'.repeat(10)))
  const b = await startOrigin((_req, res) => res.end('b'.repeat(10)))
  const gw = await startInProc(`
upstreams: { o: { targets: [ { url: ${a.url} }, { url: ${b.url} } ] } }
routes: [ { name: metered, paths: ["/*"], upstream: o } ]
`)
  try {
    for (let i = 0; i < 6; i++) await (await request(`${gw.url}/x`, { method: 'POST', body: 'hello' })).body.dump()
    await (await request(`${gw.url}/nowhere/../../`, { method: 'GET' })).body.dump()
    const text = await registry.metrics()
    assert.equal(sample(text, 'portico_requests_total', { route: 'metered', method: 'POST', status: '2xx' }), 6)
    assert.equal(sample(text, 'portico_request_bytes_total', { route: 'metered' }), 30)
    // The GET normalizes to / and is served by the same route: 7 responses of 10 bytes.
    assert.equal(sample(text, 'portico_response_bytes_total', { route: 'metered' }), 70)
    assert.equal(sample(text, 'portico_request_duration_seconds_count', { route: 'metered', method: 'POST' }), 6)
    assert.equal(sample(text, 'portico_upstream_duration_seconds_count', { upstream: 'o', target: a.url }), 4)
    assert.equal(sample(text, 'portico_upstream_duration_seconds_count', { upstream: 'o', target: b.url }), 3)
    assert.equal(sample(text, 'portico_requests_in_flight', {}) ?? Number(/^portico_requests_in_flight (\d+)/m.exec(text)?.[1]), 0)
    assert.doesNotMatch(text, /nowhere/, 'raw paths never become label values')
  } finally {
    await gw.close()
    await a.close()
    await b.close()
  }
})

test('config version/hash, 401/403 refusals by code', async () => {
  const origin = await startOrigin((_req, res) => res.end('ok'))
  const gw = await startInProc(`
consumers: [ { name: alice, credentials: { key_auth: [ "alice-key-0123456789abcdef" ] } } ]
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: guarded, paths: ["/*"], upstream: o, plugins: [ { name: key-auth } ] } ]
`)
  try {
    for (let i = 0; i < 3; i++) await (await request(`${gw.url}/x`)).body.dump()
    const ok = await request(`${gw.url}/x`, { headers: { apikey: 'alice-key-0123456789abcdef' } })
    assert.equal(ok.statusCode, 200)
    await ok.body.dump()
    const text = await registry.metrics()
    assert.match(text, /^portico_config_info\{version="\d+",hash="[0-9a-f]{12}"\} 1$/m)
    assert.equal(sample(text, 'portico_auth_failures_total', { route: 'guarded', status: '401' }), 3)
  } finally {
    await gw.close()
    await origin.close()
  }
})
