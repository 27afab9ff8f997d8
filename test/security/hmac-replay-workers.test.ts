// Attack class: replaying a signed request to another worker of the same instance. Without Redis,
// hmac-auth's nonces lived per worker, so the same signed request was accepted once per worker
// (200, 200, 401, 401 over two workers). The workers now share the instance's memory Store through
// the primary (state/instance.ts). A real gateway process with two workers, new connections each.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Agent, request } from 'undici'
import { startOrigin } from '../helpers/origin.js'
import { startGateway } from '../helpers/gateway.js'
import { authorization } from '../../src/plugins/hmac-auth/sign.js'

const SECRET = 'hmac-secret-0123456789abcdef'

test('a signed request replayed over two workers without Redis is accepted once', async (t) => {
  const up = await startOrigin()
  t.after(() => up.close())
  const gw = await startGateway({
    config: {
      upstreams: { o: { targets: [{ url: up.url }] } },
      consumers: [{ name: 'carol', credentials: { hmac_auth: [{ key_id: 'carol-1', secret: SECRET }] } }],
      routes: [{ name: 'signed', paths: ['/s/*'], upstream: 'o', plugins: [{ name: 'hmac-auth' }] }],
    },
    args: ['--workers', '2'],
  })
  t.after(() => gw.stop())
  const host = `127.0.0.1:${gw.port}`
  const auth = authorization('carol-1', { method: 'GET', path: '/s/pay', query: '', timestamp: Math.floor(Date.now() / 1000), nonce: randomBytes(12).toString('base64url'), headers: [['host', host]], body: '' }, SECRET)
  const statuses: number[] = []
  const pids = new Set<string>()
  for (let i = 0; i < 8; i++) {
    // A new connection each time: the primary hands connections to the workers in turn.
    const agent = new Agent({ pipelining: 0 })
    const res = await request(`${gw.url}/s/pay`, { headers: { authorization: auth, host }, dispatcher: agent })
    await res.body.dump()
    statuses.push(res.statusCode)
    await agent.close()
  }
  for (const line of gw.stdout().split('\n')) if (line.includes('"msg":"config loaded"')) pids.add(/"pid":(\d+)/.exec(line)?.[1] ?? '')
  assert.equal(pids.size, 2, 'two workers served')
  assert.deepEqual(statuses, [200, 401, 401, 401, 401, 401, 401, 401])
})
