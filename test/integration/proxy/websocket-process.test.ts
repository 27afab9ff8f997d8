// WebSocket sessions as an operator sees them in a real gateway process: /status and /metrics
// count them while open, the access log has one line per session (101, duration, bytes both ways),
// and SIGTERM closes what is still open at the drain timeout with close code 1001.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startGateway, adminJson } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'
import { closed, nextMessage, openWs, startWsOrigin } from '../../helpers/ws.js'

test('status, metrics, access log and SIGTERM drain of WebSocket sessions', { timeout: 120_000 }, async () => {
  const origin = await startWsOrigin()
  const gw = await startGateway({
    config: {
      server: { drain_timeout: '500ms' },
      log: { level: 'info', access_log: true },
      upstreams: { o: { targets: [{ url: origin.url }] } },
      routes: [{ name: 'chat', paths: ['/chat'], upstream: 'o', websocket: { enabled: true, idle_timeout: 0 } }],
    },
    args: ['--no-cluster'],
    readyTimeoutMs: 60_000,
  })
  try {
    const ws = gw.url.replace('http://', 'ws://')
    const logged = await openWs(`${ws}/chat`, { headers: { 'x-request-id': 'ws-session-1' } })
    logged.send('hello')
    assert.equal(await nextMessage(logged), 'hello')
    const other = await openWs(`${ws}/chat`)

    const status = await pollUntil(
      async () => {
        const s = await adminJson<{ websockets?: { open: number; routes: Record<string, number> } }>(gw, '/status')
        return s.body.websockets?.open === 2 ? s.body : undefined
      },
      { what: '2 sessions in /status', timeoutMs: 10_000 },
    )
    assert.equal(status.websockets!.routes.chat, 2)
    const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text()
    assert.match(metrics, /portico_websocket_connections\{route="chat"\} 2/)
    assert.match(metrics, /portico_websocket_handshakes_total\{route="chat",result="accepted"\} 2/)

    const done = closed(logged)
    logged.close(1000)
    await done
    const line = await pollUntil(
      () =>
        gw
          .stdout()
          .split('\n')
          .filter((l) => l.includes('"request_id":"ws-session-1"'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)[0],
      { what: 'the session access log line', timeoutMs: 10_000 },
    )
    assert.equal(line.status, 101)
    assert.equal(line.route, 'chat')
    assert.equal(line.method, 'GET')
    assert.ok((line.bytes as number) >= 7, 'bytes sent to the client: the echo frame at least')
    assert.ok((line.bytes_received as number) >= 11, 'bytes from the client: the masked frame at least')
    assert.ok((line.duration_ms as number) >= 0)

    // SIGTERM: the open session gets 1001 once the drain timeout has passed.
    const otherClosed = closed(other)
    const stopping = gw.stop(30_000)
    const { code } = await otherClosed
    assert.equal(code, 1001)
    const exit = await stopping
    assert.equal(exit.code, 0)
  } finally {
    await gw.stop()
    await origin.close()
  }
})
