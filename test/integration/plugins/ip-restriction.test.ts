// ip-restriction through a real gateway: allow/deny on the client address, and the spoofing attack:
// an X-Forwarded-For from a peer that is not a trusted proxy must not change the address checked.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'

const routes = (origin: string) => `
upstreams:
  o: { targets: [ { url: ${origin} } ] }
routes:
  - name: office-only
    paths: [/office/*]
    upstream: o
    plugins:
      - name: ip-restriction
        config: { allow: [10.1.2.0/24, "2001:db8::/32"] }
  - name: no-loopback
    paths: [/deny/*]
    upstream: o
    plugins:
      - name: ip-restriction
        config: { deny: [127.0.0.0/8, "::1"], message: go away }
  - name: both
    paths: [/both/*]
    upstream: o
    plugins:
      - name: ip-restriction
        config: { allow: [127.0.0.0/8], deny: [127.0.0.1] }
`

describe('ip-restriction plugin', () => {
  let up: Origin
  let untrusting: InProcGateway
  let behindProxy: InProcGateway
  before(async () => {
    up = await startOrigin()
    untrusting = await startInProc(`server: { listen: 127.0.0.1:0, trusted_proxies: [192.0.2.0/24] }\n${routes(up.url)}`)
    behindProxy = await startInProc(`server: { listen: 127.0.0.1:0, trusted_proxies: [127.0.0.1] }\n${routes(up.url)}`)
  })
  after(async () => {
    await Promise.all([untrusting.close(), behindProxy.close()])
    await up.close()
  })

  async function status(base: string, path: string, headers: Record<string, string> = {}) {
    const r = await request(`${base}${path}`, { headers })
    const body = (await r.body.json()) as { error?: string; message?: string }
    return { status: r.statusCode, body }
  }

  test('a client outside allow gets 403 forbidden', async () => {
    const r = await status(untrusting.url, '/office/x')
    assert.equal(r.status, 403)
    assert.equal(r.body.error, 'forbidden')
  })

  test('spoofed X-Forwarded-For from an untrusted peer does not pass the allow list', async () => {
    for (const xff of ['10.1.2.3', '10.1.2.3, 10.1.2.4', '2001:db8::1', 'garbage, 10.1.2.3']) {
      assert.equal((await status(untrusting.url, '/office/x', { 'x-forwarded-for': xff })).status, 403, xff)
    }
    assert.equal((await status(untrusting.url, '/office/x', { forwarded: 'for=10.1.2.3', 'x-real-ip': '10.1.2.3' })).status, 403)
  })

  test('behind a trusted proxy the forwarded client address is what is checked', async () => {
    assert.equal((await status(behindProxy.url, '/office/x', { 'x-forwarded-for': '10.1.2.3' })).status, 200)
    assert.equal((await status(behindProxy.url, '/office/x', { 'x-forwarded-for': '[2001:db8::5]' })).status, 403, 'not an address: the peer is used')
    assert.equal((await status(behindProxy.url, '/office/x', { 'x-forwarded-for': '2001:db8::5' })).status, 200)
    // The client cannot push a trusted address in front: the rightmost untrusted hop is used.
    assert.equal((await status(behindProxy.url, '/office/x', { 'x-forwarded-for': '10.1.2.3, 198.51.100.7' })).status, 403)
  })

  test('deny wins over allow and uses the configured message', async () => {
    const d = await status(untrusting.url, '/deny/x')
    assert.equal(d.status, 403)
    assert.equal(d.body.message, 'go away')
    assert.equal((await status(untrusting.url, '/both/x')).status, 403)
    assert.equal((await status(behindProxy.url, '/deny/x', { 'x-forwarded-for': '198.51.100.7' })).status, 200)
  })

  test('an invalid CIDR is refused when the config is loaded', async () => {
    await assert.rejects(untrusting.reload(`${routes(up.url)}\n  - name: bad\n    paths: [/bad]\n    upstream: o\n    plugins: [ { name: ip-restriction, config: { allow: [10.0.0.0/33] } } ]\n`))
  })
})
