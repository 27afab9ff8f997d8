// The example plugin's own tests, written as a plugin author writes them: against the package's
// test kit (`portico/testing`), a real gateway in this process with the plugin installed.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startEchoUpstream, startTestGateway, TestConfigError, type EchoUpstream, type TestGateway } from 'portico/testing'
import apiVersion from './index.js'

const config = (upstream: string, pluginConfig: Record<string, unknown>) => ({
  upstreams: { users: { targets: [{ url: upstream }] } },
  routes: [{ name: 'users', paths: ['/users/*'], upstream: 'users', plugins: [{ name: 'api-version', config: pluginConfig }] }],
})

describe('api-version (example user plugin)', () => {
  let upstream: EchoUpstream
  let gw: TestGateway
  before(async () => {
    upstream = await startEchoUpstream()
    gw = await startTestGateway({ config: config(upstream.url, { supported: ['1', '2'], default: '2' }), plugins: [apiVersion] })
  })
  after(async () => {
    await gw?.close()
    await upstream?.close()
  })

  test('the version from the header picks the upstream path and is echoed back', async () => {
    const res = await fetch(`${gw.url}/users/7`, { headers: { 'accept-version': '1' } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('api-version'), '1')
    assert.equal(((await res.json()) as { url: string }).url, '/v1/users/7')
  })

  test('the query parameter when no header, the default when neither', async () => {
    const q = await fetch(`${gw.url}/users/7?api-version=1`)
    assert.equal(((await q.json()) as { url: string }).url, '/v1/users/7?api-version=1')
    const d = await fetch(`${gw.url}/users/7`)
    assert.equal(d.headers.get('api-version'), '2')
    assert.equal(((await d.json()) as { url: string }).url, '/v2/users/7')
  })

  test('an unsupported version is refused with the catalogue error, and nothing reaches the upstream', async () => {
    const before = upstream.requests.length
    const res = await fetch(`${gw.url}/users/7`, { headers: { 'accept-version': '9' } })
    assert.equal(res.status, 400)
    const body = (await res.json()) as { error: string; message: string }
    assert.equal(body.error, 'bad_request')
    assert.match(body.message, /API version "9" is not served here \(supported: 1, 2\)/)
    assert.equal(upstream.requests.length, before)
  })

  test('a config the plugin refuses names the path (its check) and the old config keeps serving', async () => {
    await assert.rejects(gw.reload(config(upstream.url, { supported: ['1'], default: '3' })), (err: Error) => {
      assert.ok(err instanceof TestConfigError)
      assert.match(err.message, /routes\[0\]\.plugins\[0\]\.config\.default/)
      assert.match(err.message, /"3" is not one of supported \(1\)/)
      return true
    })
    await assert.rejects(gw.reload(config(upstream.url, { supported: [] })), /supported/)
    const res = await fetch(`${gw.url}/users/7`, { headers: { 'accept-version': '1' } })
    assert.equal(res.status, 200)
  })
})
