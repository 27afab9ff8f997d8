// log.access_log options in a real gateway process: success lines sampled away (failures kept),
// the query logged only on request and with named parameters redacted, and upstream failures
// logged once per request at warn, rate-limited during an outage.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startOrigin, echo, freePort } from '../../helpers/origin.js'
import { startGateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

type Line = Record<string, unknown>
const lines = (out: string): Line[] =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line)

test('sampling, query redaction and rate-limited upstream error logs', async () => {
  const origin = await startOrigin(echo)
  const dead = await freePort()
  const gw = await startGateway({
    config: {
      log: { level: 'info', access_log: { sample_success: 0, include_query: true, redact_query_params: ['token', 'API_KEY'] } },
      upstreams: { o: { targets: [{ url: origin.url }] }, gone: { targets: [{ url: `http://127.0.0.1:${dead}` }] } },
      routes: [
        { name: 'ok', paths: ['/ok/*'], upstream: 'o' },
        { name: 'down', paths: ['/down/*'], upstream: 'gone' },
      ],
    },
    args: ['--no-cluster'],
  })
  try {
    for (let i = 0; i < 20; i++) {
      const r = await request(`${gw.url}/ok/${i}?token=sekret-ok`, { headers: { 'x-request-id': `ok-${i}` } })
      await r.body.dump()
      assert.equal(r.statusCode, 200)
    }
    const nf = await request(`${gw.url}/nope/x?a=1&token=sekret-1&%74oken=sekret-2&Api_Key[]=sekret-3&b=%22q%22`, { headers: { 'x-request-id': 'nf-1' } })
    await nf.body.dump()
    assert.equal(nf.statusCode, 404)

    // An outage: 40 failing requests at once.
    const codes = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const r = await request(`${gw.url}/down/${i}`, { headers: { 'x-request-id': `down-${i}` } })
        await r.body.dump()
        return r.statusCode
      }),
    )
    assert.deepEqual(new Set(codes), new Set([502]))

    const byId = (id: string) => lines(gw.stdout()).find((l) => l.request_id === id && 'status' in l && 'duration_ms' in l)
    const miss = await pollUntil(() => byId('nf-1'), { what: 'the 404 line', timeoutMs: 5000 })
    assert.equal(miss.path, '/nope/x', 'path never carries the query')
    assert.equal(miss.query, 'a=1&token=[REDACTED]&%74oken=[REDACTED]&Api_Key[]=[REDACTED]&b=%22q%22')
    await pollUntil(() => byId('down-39'), { what: 'the last 502 line', timeoutMs: 5000 })
    for (let i = 0; i < 40; i++) assert.equal(byId(`down-${i}`)?.error, 'upstream_unreachable', `every failure is in the access log (down-${i})`)
    assert.equal(
      lines(gw.stdout()).filter((l) => typeof l.request_id === 'string' && (l.request_id as string).startsWith('ok-') && 'duration_ms' in l).length,
      0,
      'sample_success 0 drops every success line',
    )

    // Warn lines: request id, route, upstream, target, code and cause; at most 10 a second, the rest counted.
    const summary = await pollUntil(() => lines(gw.stdout()).find((l) => l.msg === String(l.msg) && /counted, not logged/.test(l.msg as string)), {
      what: 'the suppressed-errors summary',
      timeoutMs: 5000,
    })
    const warns = lines(gw.stdout()).filter((l) => l.msg === 'upstream error')
    assert.ok(warns.length >= 1 && warns.length <= 20, `${warns.length} warn lines for 40 failures`)
    assert.ok((summary.suppressed as number) >= 40 - warns.length - 10, JSON.stringify(summary))
    const w = warns[0]!
    assert.equal(w.level, 40)
    assert.match(w.request_id as string, /^down-\d+$/)
    assert.equal(w.route, 'down')
    assert.equal(w.upstream, 'gone')
    assert.equal(w.target, `http://127.0.0.1:${dead}`)
    assert.equal(w.error, 'upstream_unreachable')
    assert.equal(w.cause, 'ECONNREFUSED')
    assert.equal(w.status, 502)
    assert.equal(new Set(warns.map((x) => x.request_id)).size, warns.length, 'once per request')

    assert.doesNotMatch(gw.stdout() + gw.stderr(), /sekret/)
  } finally {
    await gw.stop()
    await origin.close()
  }
})
