// Attacks on the admin config API: prototype pollution through JSON bodies, oversized bodies,
// names that try to escape the resource path, non-JSON bodies (a browser form cannot write), and
// tokens that are almost right. Each gets the documented JSON error, never a crash or a write.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { request } from 'undici'
import { startOrigin, type Origin } from '../helpers/origin.js'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { rawRequest } from '../helpers/raw.js'

const TOKEN = 'sec-admin-token-0123456789'

async function call(gw: Gateway, method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const res = await request(`${gw.adminUrl}${path}`, { method: method as 'GET', body, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers } })
  const text = await res.body.text()
  return { status: res.statusCode, text, json: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown> }
}

describe('admin API attacks', () => {
  let origin: Origin
  let gw: Gateway
  before(async () => {
    origin = await startOrigin()
    gw = await startGateway({
      config: {
        admin: { tokens: [{ name: 'ops', role: 'admin', sha256: createHash('sha256').update(TOKEN).digest('hex') }] },
        upstreams: { u: { targets: [{ url: origin.url }] } },
        routes: [{ name: 'r', paths: ['/r'], upstream: 'u' }],
      },
      args: ['--no-cluster'],
    })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('__proto__ in a body is an unknown key (422), not a prototype', async () => {
    for (const [method, path, body] of [
      ['PATCH', '/admin/routes/r', '{"__proto__": {"upstream": "evil"}}'],
      ['PATCH', '/admin/config', '{"__proto__": {"routes": []}}'],
      ['PUT', '/admin/upstreams/x', '{"targets": [{"url": "http://127.0.0.1:1"}], "constructor": {"prototype": {"x": 1}}}'],
    ] as const) {
      const r = await call(gw, method, path, body)
      assert.equal(r.status, 422, `${method} ${path}: ${r.text}`)
      assert.equal(r.json.error, 'config_invalid')
    }
    const routes = await call(gw, 'GET', '/admin/routes')
    assert.equal((routes.json.data as Array<{ upstream: string }>)[0]!.upstream, 'u')
  })

  test('names outside the grammar (dots-only tricks, slashes, encoded slashes) are 400 or 404, never another resource', async () => {
    assert.equal((await call(gw, 'GET', '/admin/routes/..%2Fupstreams')).status, 400)
    assert.equal((await call(gw, 'GET', '/admin/routes/r/extra')).status, 404)
    assert.equal((await call(gw, 'GET', '/admin/routes/%E0%A4%A')).status, 400)
    assert.equal((await call(gw, 'DELETE', '/admin/routes/' + 'a'.repeat(200))).status, 400)
  })

  test('a body over the limit is 413; a form body is 415; invalid JSON is 400', async () => {
    // Announced past the limit: refused before a byte of the body is read.
    const big = await rawRequest(gw.adminPort, `PUT /admin/config HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: ${64 * 1024 * 1024}\r\n\r\n{"x":`)
    assert.match(big, /^HTTP\/1\.1 413 /)
    assert.match(big, /"error":"payload_too_large"/)
    assert.equal((await call(gw, 'POST', '/admin/routes', 'name=r', { 'content-type': 'text/plain' })).status, 415)
    assert.equal((await call(gw, 'POST', '/admin/routes', '{"name":')).status, 400)
    // Still serving.
    assert.equal((await request(`${gw.url}/r`)).statusCode, 200)
  })

  test('a token differing in one character, a prefix, or without Bearer is refused', async () => {
    for (const auth of [`Bearer ${TOKEN.slice(0, -1)}x`, `Bearer ${TOKEN.slice(0, 10)}`, TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN} extra`]) {
      const r = await call(gw, 'GET', '/admin/config', undefined, { authorization: auth })
      assert.equal(r.status, 401, auth)
      assert.equal(r.json.error, 'unauthorized')
    }
  })
})
