// headers plugin through a real gateway and a real origin: what the origin receives and what the
// client receives.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { request } from 'undici'
import { pluginGateway } from '../../helpers/scaffold.js'

/** Echoes the request headers as JSON and sends a few headers of its own for the response rules. */
function origin(req: IncomingMessage, res: ServerResponse): void {
  req.resume()
  req.on('end', () => {
    const body = JSON.stringify(req.headers)
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      server: 'origin/1.0',
      'x-internal-debug': 'secret',
      'set-cookie': ['a=1'],
    })
    res.end(body)
  })
}

describe('headers plugin', () => {
  const gw = pluginGateway({
    origin,
    routes: `
  - name: edited
    paths: [/edited/*]
    upstream: o
    plugins:
      - name: headers
        config:
          request:
            rename: { X-Client-Token: x-token }
            remove: [Authorization, cookie]
            set: { X-Gateway: portico, X-Route: "route=$route id=$request_id" }
            add: { X-Tag: [one, two] }
          response:
            rename: { Server: x-origin-server }
            remove: [x-internal-debug]
            set: { X-Frame-Options: DENY }
            add: { Set-Cookie: "b=2" }
  - name: plain
    paths: [/plain/*]
    upstream: o
`,
  })

  test('request headers are set, added, renamed and removed before reaching the origin', async () => {
    const r = await request(`${gw.url}/edited/x`, {
      headers: { authorization: 'Bearer abc', cookie: 'sid=1', 'x-client-token': 't1', 'x-tag': 'zero', 'x-gateway': 'spoofed', 'x-request-id': 'rid-42' },
    })
    assert.equal(r.statusCode, 200)
    const seen = (await r.body.json()) as Record<string, string>
    assert.equal(seen.authorization, undefined)
    assert.equal(seen.cookie, undefined)
    assert.equal(seen['x-client-token'], undefined)
    assert.equal(seen['x-token'], 't1')
    assert.equal(seen['x-gateway'], 'portico')
    assert.equal(seen['x-route'], 'route=edited id=rid-42')
    // Node joins repeated request headers with ", ".
    assert.equal(seen['x-tag'], 'zero, one, two')
  })

  test('response headers are renamed, removed, set and added before reaching the client', async () => {
    const r = await request(`${gw.url}/edited/y`)
    await r.body.dump()
    assert.equal(r.headers['x-origin-server'], 'origin/1.0')
    assert.equal(r.headers.server, undefined)
    assert.equal(r.headers['x-internal-debug'], undefined)
    assert.equal(r.headers['x-frame-options'], 'DENY')
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2'])
  })

  test('a route without the plugin is untouched', async () => {
    const r = await request(`${gw.url}/plain/z`, { headers: { authorization: 'Bearer abc' } })
    const seen = (await r.body.json()) as Record<string, string>
    assert.equal(seen.authorization, 'Bearer abc')
    assert.equal(seen['x-gateway'], undefined)
    assert.equal(r.headers.server, 'origin/1.0')
    assert.equal(r.headers['x-internal-debug'], 'secret')
  })

  test('a config that would inject a header is refused before it can load', async () => {
    await assert.rejects(
      gw.reload(gw.config(`
  - name: bad
    paths: [/bad]
    upstream: o
    plugins:
      - { name: headers, config: { request: { set: { X-A: "a\\r\\nX-Injected: 1" } } } }
`)),
      /request\.set\.X-A/,
    )
    // The previous Snapshot keeps serving.
    const r = await request(`${gw.url}/edited/still`)
    assert.equal(r.statusCode, 200)
    await r.body.dump()
  })
})
