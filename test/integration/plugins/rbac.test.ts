// rbac through a real gateway behind jwt (HS256 tokens minted here): scopes, a dot-path roles
// claim, a global jwt with per-route rbac, and rbac without any auth plugin (401, never a pass).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { SignJWT } from 'jose'
import { pluginGateway } from '../../helpers/scaffold.js'

const SECRET = 'rbac-integration-secret-0123456789abcdef'
const token = (claims: Record<string, unknown>) =>
  new SignJWT({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET))

describe('rbac plugin', () => {
  const gw = pluginGateway({
    extra: `
plugins:
  - { name: jwt, config: { keys: [ { secret: "${SECRET}", algorithms: [HS256] } ] } }
`,
    routes: `
  - name: public
    paths: [/public/*]
    upstream: o
    plugins: [ { name: jwt, enabled: false } ]
  - name: orders
    paths: [/orders/*]
    upstream: o
    plugins: [ { name: rbac, config: { any_of: ["orders:read", "orders:admin"] } } ]
  - name: realm
    paths: [/realm/*]
    upstream: o
    plugins: [ { name: rbac, config: { all_of: [ops, oncall], claim: realm_access.roles } } ]
  - name: orphan
    paths: [/orphan/*]
    upstream: o
    plugins: [ { name: jwt, enabled: false }, { name: rbac, config: { any_of: [x] } } ]
`,
  })
  const status = async (path: string, claims?: Record<string, unknown>) => {
    const r = await request(`${gw.url}${path}`, { headers: claims === undefined ? {} : { authorization: `Bearer ${await token(claims)}` } })
    await r.body.dump()
    return r.statusCode
  }

  test('scopes, any-of', async () => {
    assert.equal(await status('/orders/1', { scope: 'profile orders:read' }), 200)
    assert.equal(await status('/orders/1', { scope: 'profile' }), 403)
    assert.equal(await status('/orders/1'), 401)
  })
  test('roles at a dot path, all-of', async () => {
    assert.equal(await status('/realm/x', { realm_access: { roles: ['ops', 'oncall', 'dev'] } }), 200)
    assert.equal(await status('/realm/x', { realm_access: { roles: ['ops'] } }), 403)
    assert.equal(await status('/realm/x', { realm_access: 'ops oncall' }), 403, 'not at the path')
  })
  test('a route where jwt is switched off stays open; rbac without identity is a 401', async () => {
    assert.equal(await status('/public/x'), 200)
    assert.equal(await status('/orphan/x', { scope: 'x' }), 401)
  })
})

// jwt with consumer_claim: a token whose claim names a declared consumer brings that consumer's
// roles (rbac from: consumer), its upstream header, and its own plugins.
describe('rbac from a consumer identified by jwt', () => {
  const gw = pluginGateway({
    origin: (req, res) => res.end(JSON.stringify({ consumer: req.headers['x-consumer-name'] ?? null, tagged: req.headers['x-tagged'] ?? null })),
    extra: `
consumers:
  - name: alice
    roles: [billing]
    plugins: [ { name: headers, config: { request: { set: { x-tagged: alice } } } } ]
  - name: bob
    roles: [support]
`,
    routes: `
  - name: billing
    paths: [/billing/*]
    upstream: o
    plugins:
      - { name: jwt, config: { keys: [ { secret: "${SECRET}", algorithms: [HS256] } ], consumer_claim: sub } }
      - { name: rbac, config: { any_of: [billing], from: consumer } }
`,
  })
  const call = async (claims: Record<string, unknown>) => {
    const r = await request(`${gw.url}/billing/1`, { headers: { authorization: `Bearer ${await token(claims)}` } })
    return { status: r.statusCode, body: r.statusCode === 200 ? ((await r.body.json()) as { consumer: string | null; tagged: string | null }) : (await r.body.dump(), null) }
  }

  test('a declared consumer with the role passes, with its header and its own plugins', async () => {
    const r = await call({ sub: 'alice' })
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, { consumer: 'alice', tagged: 'alice' })
  })
  test('a declared consumer without the role gets 403; an undeclared subject has no roles', async () => {
    assert.equal((await call({ sub: 'bob' })).status, 403)
    assert.equal((await call({ sub: 'mallory' })).status, 403)
  })
})
