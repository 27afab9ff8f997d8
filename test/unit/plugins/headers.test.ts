// headers plugin: schema (injection and reserved names refused), templates, rule order.
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import headers from '../../../src/plugins/headers/index.js'
import type { HeadersConfig } from '../../../src/plugins/headers/schema.js'
import { compileValue, render, valueFor } from '../../../src/plugins/headers/template.js'
import { applyRules, compileRules } from '../../../src/plugins/headers/rules.js'
import { RequestContext } from '../../../src/core/context.js'
import type { UpstreamHead } from '../../../src/core/verdict.js'
import { validatePluginConfig, isValidPluginConfig } from '../../helpers/plugin-config.js'


function accepts(config: unknown): HeadersConfig {
  return validatePluginConfig<HeadersConfig>('headers', structuredClone(config))
}
function rejects(config: unknown): void {
  assert.equal(isValidPluginConfig('headers', structuredClone(config)), false, `expected invalid: ${JSON.stringify(config)}`)
}

function context(): RequestContext {
  const req = { method: 'GET', headers: {} } as unknown as IncomingMessage
  const ctx = new RequestContext(req, {} as ServerResponse, 'req-1', 0)
  ctx.clientIp = '203.0.113.7'
  ctx.routeName = 'users-api'
  ctx.host = 'api.example.com'
  return ctx
}

const env = testPluginEnv('users-api')

describe('headers schema', () => {
  test('accepts every operation on both sides and fills defaults', () => {
    const c = accepts({
      request: { set: { 'X-Gateway': 'portico' }, add: { 'x-tag': ['a', 'b'], 'x-one': 'c' }, remove: ['cookie'], rename: { 'x-old': 'x-new' } },
      response: { set: { 'x-served-by': 'portico $request_id' }, remove: ['server'] },
    })
    assert.deepEqual(c.response?.add, {})
    assert.deepEqual(c.response?.rename, {})
    const empty = { rename: {}, remove: [], set: {}, add: {} }
    assert.deepEqual(accepts({}), { request: empty, response: empty })
  })

  test('refuses header injection in values: CR, LF, NUL, other controls, non-latin1', () => {
    for (const v of ['a\r\nx-evil: 1', 'a\nb', 'a\rb', 'a\0b', 'a\u0001b', 'a\u007fb', 'emoji \u{1F600}']) {
      rejects({ request: { set: { 'x-a': v } } })
      rejects({ response: { add: { 'x-a': [v] } } })
      rejects({ response: { add: { 'x-a': ['ok', v] } } })
    }
    accepts({ request: { set: { 'x-a': 'tab\tand space and latin1 \u00e9 and "quotes";=,' } } })
  })

  test('refuses names that are not RFC 9110 tokens', () => {
    for (const name of ['x a', 'x:a', 'x\r\na', '', 'x(a)', 'x/a', 'x@a', 'é']) {
      rejects({ request: { set: { [name]: 'v' } } })
      rejects({ request: { remove: [name] } })
      rejects({ response: { rename: { 'x-a': name } } })
      rejects({ response: { rename: { [name]: 'x-a' } } })
    }
  })

  test('refuses hop-by-hop headers on both sides, in any case and any operation', () => {
    for (const name of ['connection', 'Keep-Alive', 'proxy-connection', 'TE', 'trailer', 'Transfer-Encoding', 'upgrade']) {
      for (const side of ['request', 'response']) {
        rejects({ [side]: { set: { [name]: 'v' } } })
        rejects({ [side]: { add: { [name]: 'v' } } })
        rejects({ [side]: { remove: [name] } })
        rejects({ [side]: { rename: { [name]: 'x-a' } } })
        rejects({ [side]: { rename: { 'x-a': name } } })
      }
    }
  })

  test('refuses host and content-length on the request side; content-length on the response side', () => {
    rejects({ request: { set: { Host: 'evil.example' } } })
    rejects({ request: { rename: { 'x-host': 'host' } } })
    rejects({ request: { set: { 'content-length': '0' } } })
    rejects({ response: { set: { 'Content-Length': '0' } } })
    accepts({ response: { set: { host: 'fine, it is only a response header' } } })
    // Names that merely start with a reserved one are ordinary headers.
    accepts({ request: { set: { 'te-x': 'v', 'hosts': 'v', 'connection-id': 'v' } } })
  })

  test('refuses unknown keys and misspelt variables', () => {
    rejects({ request: { replace: { 'x-a': 'v' } } })
    rejects({ upstream: {} })
    rejects({ request: { set: { 'x-a': '$requestid' } } })
    rejects({ request: { set: { 'x-a': '$request_id_x' } } })
    accepts({ request: { set: { 'x-a': '$request_id-$client_ip $$literal costs $5 ${braces} $' } } })
  })
})

describe('headers templates', () => {
  test('a value without a variable stays the same string', () => {
    assert.equal(compileValue('portico'), 'portico')
    assert.equal(compileValue('costs $5 or ${x} or $'), 'costs $5 or ${x} or $')
    assert.equal(compileValue('a $$host b'), 'a $host b')
  })

  test('variables render from the request', () => {
    const t = compileValue('id=$request_id ip=$client_ip route=$route host=$host;')
    assert.notEqual(typeof t, 'string')
    assert.equal(valueFor(t, context()), 'id=req-1 ip=203.0.113.7 route=users-api host=api.example.com;')
    const bare = compileValue('$host')
    assert.ok(typeof bare !== 'string')
    assert.equal(render(bare, context()), 'api.example.com')
  })

  test('an unknown variable is an error that names it', () => {
    assert.throws(() => compileValue('x $requestid'), /unknown variable \$requestid/)
  })
})

describe('headers rules', () => {
  test('order is rename, remove, set, add', () => {
    const rules = compileRules(
      {
        rename: { 'X-From': 'x-to', 'x-gone': 'x-renamed-then-removed' },
        remove: ['x-renamed-then-removed', 'x-to-remove'],
        set: { 'X-Set': 'set', 'x-to': 'overwritten' },
        add: { 'x-set': 'added', 'X-Multi': ['1', '2'] },
      },
      'request',
    )
    assert.ok(rules !== null)
    const h: Record<string, string | string[] | number | undefined> = {
      'x-from': 'from',
      'x-gone': 'gone',
      'x-to-remove': 'bye',
      'x-multi': 'existing',
      'x-keep': 'keep',
    }
    applyRules(rules, h, context())
    assert.deepEqual(h, {
      'x-keep': 'keep',
      'x-to': 'overwritten',
      'x-set': ['set', 'added'],
      'x-multi': ['existing', '1', '2'],
    })
  })

  test('add never mutates an array it did not create', () => {
    const rules = compileRules({ add: { 'x-a': 'new' } }, 'request')!
    const original = ['one', 'two']
    const h: Record<string, string | string[] | number | undefined> = { 'x-a': original }
    applyRules(rules, h, context())
    assert.deepEqual(h['x-a'], ['one', 'two', 'new'])
    assert.deepEqual(original, ['one', 'two'])
  })

  test('empty sides compile to null and do not wire their phase', () => {
    assert.equal(compileRules(undefined, 'request'), null)
    assert.equal(compileRules({ set: {}, add: {}, remove: [], rename: { 'X-A': 'x-a' } }, 'request'), null)
    const onlyResponse = headers.create(accepts({ response: { remove: ['server'] } }), env)
    assert.equal(onlyResponse.access, undefined)
    assert.equal(typeof onlyResponse.response, 'function')
    const none = headers.create(accepts({}), env)
    assert.deepEqual(Object.keys(none), [])
  })

  test('the instance edits upstream headers in access and the response head in response', () => {
    const inst = headers.create(
      accepts({
        request: { set: { 'X-Request-Id-Copy': '$request_id' }, remove: ['Authorization'] },
        response: { rename: { server: 'x-origin-server' }, add: { 'set-cookie': 'b=2' } },
      }),
      env,
    )
    const ctx = context()
    ctx.upstreamHeaders = { authorization: 'Bearer x', accept: '*/*' }
    assert.equal(inst.access!(ctx), undefined)
    assert.deepEqual(ctx.upstreamHeaders, { accept: '*/*', 'x-request-id-copy': 'req-1' })
    const head: UpstreamHead = { status: 200, headers: { server: 'nginx', 'set-cookie': ['a=1'] } }
    inst.response!(ctx, head)
    assert.deepEqual(head.headers, { 'x-origin-server': 'nginx', 'set-cookie': ['a=1', 'b=2'] })
  })

  test('a misspelt variable fails create() with the field named', () => {
    assert.throws(() => headers.create({ response: { set: { 'X-A': '$hots' } } }, env), /response\.set\.X-A: unknown variable \$hots/)
  })
})
