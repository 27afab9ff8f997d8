// cors plugin: schema, origin matching, preflight answers, Vary merging, response-phase edits.
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import cors from '../../../src/plugins/cors/index.js'
import type { CorsConfig } from '../../../src/plugins/cors/schema.js'
import { compilePolicy, exposeAllValue, isPreflight, mergeVary, originAllowed, preflightHeaders } from '../../../src/plugins/cors/policy.js'
import { RequestContext } from '../../../src/core/context.js'
import type { LocalReply, UpstreamHead } from '../../../src/core/verdict.js'
import { validatePluginConfig, isValidPluginConfig } from '../../helpers/plugin-config.js'


function accepts(config: unknown): CorsConfig {
  return validatePluginConfig<CorsConfig>('cors', structuredClone(config))
}
function rejects(config: unknown): void {
  assert.equal(isValidPluginConfig('cors', structuredClone(config)), false, `expected invalid: ${JSON.stringify(config)}`)
}

const env = testPluginEnv('r')
const APP = 'https://app.example.com'
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'

function context(method: string, headers: IncomingHttpHeaders): RequestContext {
  return new RequestContext({ method, headers } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
}

/** What the exchange does (src/proxy/exchange.ts): ctx.responseHeaders over the upstream's, then the response phase. */
function respond(inst: ReturnType<typeof cors.create>, ctx: RequestContext, upstream: Record<string, string | string[]>): Record<string, string | string[]> {
  const head: UpstreamHead = { status: 200, headers: { ...upstream, ...ctx.responseHeaders } }
  inst.response!(ctx, head)
  return head.headers
}

describe('cors schema', () => {
  test('defaults', () => {
    assert.deepEqual(accepts({}), {
      origins: [],
      methods: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'],
      allow_headers: 'reflect',
      expose_headers: [],
      credentials: false,
      max_age: '10m',
      preflight_continue: false,
      private_network: false,
    })
  })

  test('accepts exact, wildcard, null and regex origins and every option', () => {
    accepts({
      origins: [APP, 'http://localhost:3000', 'null', '~https://[a-z]+\\.example\\.com'],
      methods: ['GET', 'M-SEARCH'],
      allow_headers: ['Content-Type', 'Authorization'],
      expose_headers: ['x-total-count'],
      credentials: true,
      max_age: 3600000,
      preflight_continue: true,
      private_network: true,
    })
    accepts({ origins: ['*'], allow_headers: '*', expose_headers: '*' })
  })

  test('refuses "*" together with credentials', () => {
    rejects({ origins: ['*'], credentials: true })
    rejects({ origins: [APP, '*'], credentials: true })
    accepts({ origins: ['*'], credentials: false })
  })

  test('refuses origins with a path, trailing slash or no scheme', () => {
    for (const o of [`${APP}/`, `${APP}/api`, 'app.example.com', `${APP}?x`, '', ' https://a.com']) rejects({ origins: [o] })
  })

  test('refuses bad methods, header names, durations and unknown keys', () => {
    rejects({ methods: ['*'] })
    rejects({ methods: ['GET POST'] })
    rejects({ allow_headers: ['x a'] })
    rejects({ allow_headers: 'all' })
    rejects({ expose_headers: ['x\r\ny'] })
    rejects({ max_age: '10 minutes' })
    rejects({ origin: [APP] })
  })
})

describe('cors policy', () => {
  test('exact origins match case-insensitively; nothing else matches', () => {
    const p = compilePolicy(accepts({ origins: ['https://App.Example.com'] }))
    assert.equal(originAllowed(p, APP), true)
    assert.equal(originAllowed(p, 'HTTPS://APP.EXAMPLE.COM'), true)
    assert.equal(originAllowed(p, 'https://app.example.com.evil.io'), false)
    assert.equal(originAllowed(p, 'http://app.example.com'), false)
    assert.equal(originAllowed(p, 'null'), false)
  })

  test('regex origins are anchored', () => {
    const p = compilePolicy(accepts({ origins: ['~https://[a-z]+\\.example\\.com'] }))
    assert.equal(originAllowed(p, 'https://shop.example.com'), true)
    assert.equal(originAllowed(p, 'https://shop.example.com.evil.io'), false)
    assert.equal(originAllowed(p, 'https://evil.io/?https://shop.example.com'), false)
  })

  test('an invalid regex or "*" with credentials fails at create()', () => {
    assert.throws(() => cors.create(accepts({ origins: ['~https://(unclosed'] }), env), /invalid regular expression "~https:\/\/\(unclosed"/)
    assert.throws(() => cors.create({ origins: ['*'], credentials: true }, env), /cannot be combined/)
  })

  test('"null" matches only when listed', () => {
    assert.equal(originAllowed(compilePolicy(accepts({ origins: ['null'] })), 'null'), true)
    assert.equal(originAllowed(compilePolicy(accepts({ origins: [APP] })), 'null'), false)
  })

  test('a preflight is OPTIONS with Origin and Access-Control-Request-Method', () => {
    assert.equal(isPreflight('OPTIONS', { origin: APP, 'access-control-request-method': 'PUT' }), true)
    assert.equal(isPreflight('OPTIONS', { origin: APP }), false)
    assert.equal(isPreflight('OPTIONS', { 'access-control-request-method': 'PUT' }), false)
    assert.equal(isPreflight('GET', { origin: APP, 'access-control-request-method': 'PUT' }), false)
  })

  test('preflight answer for an allowed origin (defaults: reflect headers, 600s)', () => {
    const p = compilePolicy(accepts({ origins: [APP] }))
    assert.deepEqual(preflightHeaders(p, APP, { 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type,x-trace' }), {
      vary: PREFLIGHT_VARY,
      'access-control-allow-origin': APP,
      'access-control-allow-methods': 'GET, HEAD, PUT, PATCH, POST, DELETE',
      'access-control-allow-headers': 'content-type,x-trace',
      'access-control-max-age': '600',
    })
  })

  test('preflight answer for a disallowed origin carries no Access-Control-* header', () => {
    const p = compilePolicy(accepts({ origins: [APP] }))
    assert.deepEqual(preflightHeaders(p, 'https://evil.io', { 'access-control-request-method': 'PUT' }), { vary: PREFLIGHT_VARY })
  })

  test('a malformed Access-Control-Request-Headers is not echoed', () => {
    const p = compilePolicy(accepts({ origins: [APP] }))
    const h = preflightHeaders(p, APP, { 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-a, <script>' })
    assert.equal(h['access-control-allow-headers'], undefined)
  })

  test('credentials: allow-credentials, the origin itself, and "*" lists reflected', () => {
    const p = compilePolicy(accepts({ origins: [APP], credentials: true, allow_headers: '*', max_age: '1h' }))
    const h = preflightHeaders(p, APP, { 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' })
    assert.equal(h['access-control-allow-origin'], APP)
    assert.equal(h['access-control-allow-credentials'], 'true')
    assert.equal(h['access-control-allow-headers'], 'authorization')
    assert.equal(h['access-control-max-age'], '3600')
  })

  test('wildcard origin and headers without credentials are sent as "*"', () => {
    const p = compilePolicy(accepts({ origins: ['*'], allow_headers: '*', methods: ['GET'] }))
    const h = preflightHeaders(p, 'https://anyone.io', { 'access-control-request-method': 'GET' })
    assert.equal(h['access-control-allow-origin'], '*')
    assert.equal(h['access-control-allow-headers'], '*')
    assert.equal(h['access-control-allow-methods'], 'GET')
    assert.equal(h['access-control-allow-credentials'], undefined)
  })

  test('private network access is answered only when enabled and asked for', () => {
    const on = compilePolicy(accepts({ origins: [APP], private_network: true }))
    const req = { 'access-control-request-method': 'GET', 'access-control-request-private-network': 'true' }
    assert.equal(preflightHeaders(on, APP, req)['access-control-allow-private-network'], 'true')
    assert.match(preflightHeaders(on, APP, req).vary!, /Access-Control-Request-Private-Network/)
    assert.equal(preflightHeaders(on, APP, { 'access-control-request-method': 'GET' })['access-control-allow-private-network'], undefined)
    const off = compilePolicy(accepts({ origins: [APP] }))
    assert.equal(preflightHeaders(off, APP, req)['access-control-allow-private-network'], undefined)
  })

  test('mergeVary keeps what is there and adds once', () => {
    assert.equal(mergeVary(undefined, 'Origin'), 'Origin')
    assert.equal(mergeVary('', 'Origin'), 'Origin')
    assert.equal(mergeVary('Accept-Encoding', 'Origin'), 'Accept-Encoding, Origin')
    assert.equal(mergeVary('accept-encoding, origin', 'Origin'), 'accept-encoding, origin')
    assert.equal(mergeVary(['Accept', 'Accept-Language'], 'Origin'), 'Accept, Accept-Language, Origin')
    assert.equal(mergeVary('*', 'Origin'), '*')
  })

  test('exposeAllValue lists header names but never Set-Cookie', () => {
    assert.equal(exposeAllValue({ 'x-a': '1', 'set-cookie': ['a'], 'content-type': 't' }), 'x-a, content-type')
  })
})

describe('cors instance', () => {
  test('preflight is answered with a 204 local reply', () => {
    const inst = cors.create(accepts({ origins: [APP] }), env)
    const v = inst.access!(context('OPTIONS', { origin: APP, 'access-control-request-method': 'DELETE' })) as LocalReply
    assert.equal(v.status, 204)
    assert.equal(v.headers?.['access-control-allow-origin'], APP)
    const denied = inst.access!(context('OPTIONS', { origin: 'https://evil.io', 'access-control-request-method': 'DELETE' })) as LocalReply
    assert.deepEqual(denied, { status: 204, headers: { vary: PREFLIGHT_VARY } })
  })

  test('preflight_continue passes the preflight through and leaves the upstream answer alone', () => {
    const inst = cors.create(accepts({ origins: [APP], preflight_continue: true }), env)
    const ctx = context('OPTIONS', { origin: APP, 'access-control-request-method': 'DELETE' })
    assert.equal(inst.access!(ctx), undefined)
    const upstream = { 'access-control-allow-origin': APP, 'access-control-allow-methods': 'DELETE', vary: 'Origin' }
    assert.deepEqual(respond(inst, ctx, upstream), upstream)
  })

  test('actual request from an allowed origin: ACAO, credentials, expose, merged Vary, upstream ACA* replaced', () => {
    const inst = cors.create(accepts({ origins: [APP], credentials: true, expose_headers: ['X-Total'] }), env)
    const ctx = context('GET', { origin: APP })
    assert.equal(inst.access!(ctx), undefined)
    // Set in access too, so replies made by later plugins (401, 429) carry them.
    assert.equal(ctx.responseHeaders?.['access-control-allow-origin'], APP)
    const out = respond(inst, ctx, { vary: 'Accept-Encoding', 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET', 'x-total': '3' })
    assert.deepEqual(out, {
      vary: 'Accept-Encoding, Origin',
      'access-control-allow-origin': APP,
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-total',
      'x-total': '3',
    })
  })

  test('disallowed origin: proxied, no ACA* (upstream ones removed), Vary: Origin', () => {
    const inst = cors.create(accepts({ origins: [APP] }), env)
    const ctx = context('POST', { origin: 'https://evil.io' })
    assert.equal(inst.access!(ctx), undefined)
    assert.equal(ctx.responseHeaders, null)
    assert.deepEqual(respond(inst, ctx, { 'access-control-allow-origin': '*', 'content-type': 'text/plain' }), {
      'content-type': 'text/plain',
      vary: 'Origin',
    })
  })

  test('no Origin: nothing set but Vary: Origin, so caches keep the variants apart', () => {
    const inst = cors.create(accepts({ origins: [APP] }), env)
    const ctx = context('GET', {})
    assert.equal(inst.access!(ctx), undefined)
    assert.deepEqual(respond(inst, ctx, {}), { vary: 'Origin' })
  })

  test('"*" origin: the same answer for everyone, no Vary', () => {
    const inst = cors.create(accepts({ origins: ['*'], expose_headers: '*' }), env)
    for (const headers of [{ origin: 'https://anyone.io' }, {}]) {
      const ctx = context('GET', headers)
      inst.access!(ctx)
      assert.deepEqual(respond(inst, ctx, { 'x-a': '1' }), { 'x-a': '1', 'access-control-allow-origin': '*', 'access-control-expose-headers': '*' })
    }
  })

  test('expose_headers "*" with credentials lists the response\'s own header names', () => {
    const inst = cors.create(accepts({ origins: [APP], credentials: true, expose_headers: '*' }), env)
    const ctx = context('GET', { origin: APP })
    inst.access!(ctx)
    const out = respond(inst, ctx, { 'x-a': '1', 'set-cookie': ['s=1'] })
    assert.equal(out['access-control-expose-headers'], 'x-a, vary')
  })
})
