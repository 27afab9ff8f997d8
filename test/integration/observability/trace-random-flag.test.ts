// W3C Trace Context Level 2 `random` trace-flag (bit 2, 0x02): propagated from the client's
// traceparent, set on traces the gateway starts, not claimed for a trace continued from B3. Real
// gateway and origin (the origin shows the traceparent it received); sampled and unsampled paths.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startOrigin, echo, freePort, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'

async function upstreamFlags(gw: InProcGateway, headers: Record<string, string>): Promise<string> {
  const r = await request(`${gw.url}/x`, { headers })
  const seen = ((await r.body.json()) as { headers: Record<string, string> }).headers
  return seen.traceparent!.split('-')[3]!
}

for (const ratio of [1, 0]) {
  describe(`random trace-flag, sample_ratio ${ratio}`, () => {
    let origin: Origin
    let gw: InProcGateway
    before(async () => {
      origin = await startOrigin(echo)
      // Nothing listens at the endpoint: exports fail quietly; only propagation is under test.
      gw = await startInProc(`
tracing:
  sample_ratio: ${ratio}
  otlp: { endpoint: http://127.0.0.1:${await freePort()}/v1/traces, timeout: 200ms }
  propagators: [w3c, b3]
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: all, paths: ["/*"], upstream: o } ]
`)
    })
    after(async () => {
      await gw.close()
      await origin.close()
    })

    test('sampled + random from the client: both kept', async () => {
      assert.equal(await upstreamFlags(gw, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03' }), '03')
    })
    test('unsampled + random from the client: random kept', async () => {
      assert.equal(await upstreamFlags(gw, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02' }), '02')
    })
    test('without random from the client: not added', async () => {
      assert.equal(await upstreamFlags(gw, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }), '01')
      assert.equal(await upstreamFlags(gw, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }), '00')
    })
    test('a trace the gateway starts has the random flag', async () => {
      const flags = parseInt(await upstreamFlags(gw, {}), 16)
      assert.equal(flags & 2, 2)
      assert.equal(flags & 1, ratio)
    })
    test('a trace continued from B3 does not claim random ids', async () => {
      const flags = parseInt(await upstreamFlags(gw, { 'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': String(ratio) }), 16)
      assert.equal(flags & 2, 0)
    })
  })
}
