// Tracing end to end: a real OTLP/HTTP receiver on loopback collects what the gateway exports;
// the origin shows what was propagated upstream.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { startOrigin, echo, freePort, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'

interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes: Array<{ key: string; value: Record<string, unknown> }>
  events?: Array<{ name: string; attributes?: Array<{ key: string; value: Record<string, unknown> }> }>
}

/** A minimal OTLP/HTTP JSON receiver: collects every span it is sent. */
async function startCollector() {
  const spans: OtlpSpan[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, spans, close: () => new Promise((r) => server.close(r)) }
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value
  return v === undefined ? undefined : (v.stringValue ?? v.intValue ?? v.boolValue)
}

describe('tracing', () => {
  let origin: Origin
  let collector: Awaited<ReturnType<typeof startCollector>>
  let gw: InProcGateway
  before(async () => {
    origin = await startOrigin(echo)
    collector = await startCollector()
    gw = await startInProc(`
tracing:
  sample_ratio: 1
  otlp: { endpoint: ${collector.url}, timeout: 2s }
  propagators: [w3c, b3]
  plugin_events: true
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: traced, paths: ["/t/*"], upstream: o, plugins: [ { name: headers, config: { request: { set: { x-traced: "yes" } } } } ] } ]
`)
  })
  after(async () => {
    await gw.close()
    await collector.close()
    await origin.close()
  })

  test('continues the client trace: server span child of the client, upstream sees the client span, tracestate kept', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c'
    const r = await request(`${gw.url}/t/a`, { headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01`, tracestate: 'vendor=opaque' } })
    const seen = ((await r.body.json()) as { headers: Record<string, string> }).headers
    const [, upTrace, upSpan, flags] = seen.traceparent!.split('-')
    assert.equal(upTrace, traceId)
    assert.equal(flags, '01')
    assert.notEqual(upSpan, 'b7ad6b7169203331')
    assert.equal(seen.tracestate, 'vendor=opaque')
    const server = await pollUntil(() => collector.spans.find((s) => s.traceId === traceId && s.kind === 2), { what: 'server span', timeoutMs: 10_000 })
    const client = await pollUntil(() => collector.spans.find((s) => s.traceId === traceId && s.kind === 3), { what: 'client span', timeoutMs: 10_000 })
    assert.equal(server.parentSpanId, 'b7ad6b7169203331')
    assert.equal(client.parentSpanId, server.spanId)
    assert.equal(client.spanId, upSpan)
    assert.equal(server.name, 'GET traced')
    assert.equal(attr(server, 'http.route'), 'traced')
    assert.equal(Number(attr(server, 'http.response.status_code')), 200)
    assert.equal(attr(client, 'http.request.method'), 'GET')
    assert.equal(Number(attr(client, 'http.response.status_code')), 200)
    // plugin_events: each request phase that ran plugins is an event on the request span.
    const ev = server.events?.find((e) => e.name === 'plugins.access')
    assert.ok(ev, 'plugins.access event')
    assert.equal(ev.attributes?.find((a) => a.key === 'plugins')?.value.stringValue, 'headers')
  })

  test('an invalid traceparent starts a new trace', async () => {
    const r = await request(`${gw.url}/t/b`, { headers: { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01' } })
    const seen = ((await r.body.json()) as { headers: Record<string, string> }).headers
    const [version, upTrace] = seen.traceparent!.split('-')
    assert.equal(version, '00')
    assert.match(upTrace!, /^[0-9a-f]{32}$/)
    assert.notEqual(upTrace, '00000000000000000000000000000000')
  })

  test('an unsampled client trace is followed: same trace id upstream, flag 00, nothing exported', async () => {
    const traceId = '5bd66ef5095369c7b0d1f8f4bd33716a'
    const r = await request(`${gw.url}/t/u`, { headers: { traceparent: `00-${traceId}-c532cb4098ac3dd2-00`, tracestate: 'k=v' } })
    const seen = ((await r.body.json()) as { headers: Record<string, string> }).headers
    const [, upTrace, upSpan, flags] = seen.traceparent!.split('-')
    assert.equal(upTrace, traceId)
    assert.equal(flags, '00')
    assert.notEqual(upSpan, 'c532cb4098ac3dd2')
    assert.equal(seen.tracestate, 'k=v')
    assert.equal(seen['x-b3-sampled'], '0')
    // A sampled request sent after it is exported; the unsampled one never is.
    const marker = '7a1b2c3d4e5f60718293a4b5c6d7e8f9'
    await (await request(`${gw.url}/t/m`, { headers: { traceparent: `00-${marker}-b7ad6b7169203331-01` } })).body.dump()
    await pollUntil(() => collector.spans.some((s) => s.traceId === marker), { what: 'marker span', timeoutMs: 10_000 })
    assert.equal(collector.spans.filter((s) => s.traceId === traceId).length, 0)
  })

  test('B3 in and out when configured', async () => {
    const traceId = '463ac35c9f6413ad48485a3953bb6124'
    const r = await request(`${gw.url}/t/c`, { headers: { 'x-b3-traceid': traceId, 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' } })
    const seen = ((await r.body.json()) as { headers: Record<string, string> }).headers
    assert.equal(seen['x-b3-traceid'], traceId)
    assert.notEqual(seen['x-b3-spanid'], 'a2fb4a1d1a96d312')
    assert.equal(seen.traceparent!.split('-')[1], traceId)
  })
})

test('a dead collector never slows or fails requests; unsampled requests still propagate', async () => {
  const origin = await startOrigin(echo)
  const deadPort = await freePort()
  const gw = await startInProc(`
tracing:
  sample_ratio: 0
  otlp: { endpoint: http://127.0.0.1:${deadPort}/v1/traces, timeout: 200ms }
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: all, paths: ["/*"], upstream: o } ]
`)
  try {
    const t0 = performance.now()
    for (let i = 0; i < 50; i++) {
      const r = await request(`${gw.url}/x`)
      assert.equal(r.statusCode, 200)
      const seen = ((await r.body.json()) as { headers: Record<string, string> }).headers
      // gateway-started trace: not sampled, random flag set (Trace Context Level 2)
      assert.match(seen.traceparent!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-02$/)
    }
    // Generous: 50 sequential local requests; the point is that no request waits on the exporter.
    assert.ok(performance.now() - t0 < 5000)
  } finally {
    await gw.close()
    await origin.close()
  }
})
