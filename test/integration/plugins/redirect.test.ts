// redirect through a real gateway: Location, status, strip_prefix + preserve_path, https redirect
// behind a trusted proxy.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'

describe('redirect plugin', () => {
  const gw = pluginGateway({
    extra: `
server: { listen: 127.0.0.1:0, trusted_proxies: [127.0.0.1] }
`,
    routes: `
  - name: moved
    paths: [/old/*]
    strip_prefix: /old
    upstream: o
    plugins: [ { name: redirect, config: { to: "https://new.example.com/v2", preserve_path: true, status: 308 } } ]
  - name: secure
    paths: [/secure/*]
    upstream: o
    plugins: [ { name: redirect, config: { https: true, status: 301 } } ]
`,
  })

  test('moved: 308 with the stripped path and the query appended', async () => {
    const r = await request(`${gw.url}/old/users/7?x=1`)
    assert.equal(r.statusCode, 308)
    assert.equal(r.headers.location, 'https://new.example.com/v2/users/7?x=1')
    assert.equal(r.headers['content-length'], '0')
    await r.body.dump()
    assert.equal(gw.up.seen.length, 0)
  })

  test('https: plain requests get a 301 to https on the same host; requests a trusted proxy marks https are proxied', async () => {
    const r = await request(`${gw.url}/secure/a?b=c`, { headers: { host: 'shop.example.com' } })
    assert.equal(r.statusCode, 301)
    assert.equal(r.headers.location, 'https://shop.example.com/secure/a?b=c')
    await r.body.dump()
    const p = await request(`${gw.url}/secure/a`, { headers: { 'x-forwarded-proto': 'https' } })
    assert.equal(p.statusCode, 200)
    await p.body.dump()
  })
})
