// The access log of a real gateway process: one JSON line per request with the documented fields,
// and never the values of credentials.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startOrigin, echo } from '../../helpers/origin.js'
import { startGateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

test('one line per request with the documented fields; secrets never logged', async () => {
  const origin = await startOrigin(echo)
  const gw = await startGateway({
    config: {
      log: { level: 'info', access_log: true },
      upstreams: { o: { targets: [{ url: origin.url }] } },
      routes: [{ name: 'logged', paths: ['/logged/*'], upstream: 'o' }],
    },
    args: ['--no-cluster'],
  })
  try {
    const r = await request(`${gw.url}/logged/a?token=q`, {
      headers: { authorization: 'Bearer sekret-token-value', cookie: 'session=sekret-cookie-value', 'x-request-id': 'log-test-1' },
    })
    await r.body.dump()
    const nf = await request(`${gw.url}/not-routed`, { headers: { 'x-request-id': 'log-test-2' } })
    await nf.body.dump()

    const line = (id: string) =>
      gw
        .stdout()
        .split('\n')
        .filter((l) => l.includes(`"request_id":"${id}"`))
        .map((l) => JSON.parse(l) as Record<string, unknown>)[0]
    const ok = await pollUntil(() => line('log-test-1'), { what: 'access log line', timeoutMs: 5000 })
    for (const field of ['time', 'request_id', 'client_ip', 'method', 'path', 'route', 'upstream', 'status', 'bytes', 'duration_ms', 'upstream_ms']) {
      assert.ok(field in ok, `missing ${field}`)
    }
    assert.equal(ok.status, 200)
    assert.equal(ok.route, 'logged')
    assert.equal(ok.method, 'GET')
    assert.equal(ok.upstream, origin.url)
    assert.equal(ok.client_ip, '127.0.0.1')
    assert.ok((ok.bytes as number) > 0)
    assert.ok((ok.duration_ms as number) >= (ok.upstream_ms as number))

    const miss = await pollUntil(() => line('log-test-2'), { what: '404 log line' })
    assert.equal(miss.status, 404)
    assert.equal(miss.error, 'route_not_found')

    assert.doesNotMatch(gw.stdout() + gw.stderr(), /sekret/)
  } finally {
    await gw.stop()
    await origin.close()
  }
})
