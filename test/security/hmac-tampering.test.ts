// Someone on the path changes what a signed request means without touching what was signed. By
// default an hmac-auth signature covers the method, the path and query as sent, host, the signed
// timestamp (the request's date) and the body's SHA-256; when a body is present its Content-Type
// must be signed too, so a body cannot be re-labelled (JSON read as a form, or the reverse). Real
// gateway and origin (default in-memory nonce store).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { pluginGateway } from '../helpers/scaffold.js'
import { authorization } from '../../src/plugins/hmac-auth/sign.js'

const SECRET = 'hmac-secret-0123456789abcdef'

describe('hmac-auth default coverage', () => {
  const gw = pluginGateway({
    extra: `
consumers:
  - { name: carol, credentials: { hmac_auth: [ { key_id: carol-1, secret: "${SECRET}" } ] } }
`,
    routes: `
  - { name: signed, paths: [/s/*], upstream: o, plugins: [ { name: hmac-auth } ] }
`,
  })

  const host = () => `127.0.0.1:${gw.port}`
  function send(opts: { method?: string; path: string; body?: string; signed: Array<[string, string]>; sent?: Record<string, string> }) {
    const method = opts.method ?? 'POST'
    const [path, query = ''] = opts.path.split('?') as [string, string?]
    const auth = authorization('carol-1', { method, path, query, timestamp: Math.floor(Date.now() / 1000), nonce: randomBytes(12).toString('base64url'), headers: opts.signed, body: opts.body ?? '' }, SECRET)
    return request(`${gw.url}${opts.path}`, { method: method as 'POST', headers: { authorization: auth, ...opts.sent }, body: opts.body })
  }

  test('a body whose Content-Type is not signed → 401', async () => {
    const before = gw.up.seen.length
    const r = await send({ path: '/s/o', body: '{"qty":3}', signed: [['host', host()]], sent: { 'content-type': 'application/x-www-form-urlencoded' } })
    await r.body.dump()
    assert.equal(r.statusCode, 401)
    assert.equal(gw.up.seen.length, before)
  })

  test('Content-Type signed → 200; changed on the way → 401', async () => {
    const ok = await send({ path: '/s/o', body: '{"qty":3}', signed: [['host', host()], ['content-type', 'application/json']], sent: { 'content-type': 'application/json' } })
    await ok.body.dump()
    assert.equal(ok.statusCode, 200)
    const bad = await send({ path: '/s/o', body: '{"qty":3}', signed: [['host', host()], ['content-type', 'application/json']], sent: { 'content-type': 'text/plain' } })
    await bad.body.dump()
    assert.equal(bad.statusCode, 401)
  })

  test('a body without Content-Type cannot be given one on the way → 401', async () => {
    // The client signed only host for a body it sent without a type; a type added later is unsigned.
    const r = await send({ path: '/s/o', body: 'qty=3', signed: [['host', host()]], sent: { 'content-type': 'application/json' } })
    await r.body.dump()
    assert.equal(r.statusCode, 401)
  })

  test('no body: host alone suffices (method, path, query and timestamp are always signed)', async () => {
    const r = await send({ method: 'GET', path: '/s/o?a=1', signed: [['host', host()]] })
    await r.body.dump()
    assert.equal(r.statusCode, 200)
  })
})
