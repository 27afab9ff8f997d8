// request-transformer: schema, JSON body rules, query rules, and the access handler on a fake ctx
// (no sockets; the integration test covers body reading through a real gateway).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin from '../../../src/plugins/request-transformer/index.js'
import { applyJsonRules, compileJsonRules, isIdentity, isJsonType, transformJson } from '../../../src/plugins/request-transformer/json.js'
import { applyQueryRules, compileQueryRules } from '../../../src/plugins/request-transformer/query.js'
import type { RequestContext } from '../../../src/core/context.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { isValidPluginConfig } from '../../helpers/plugin-config.js'


test('schema: accepts every section; refuses reserved headers, CRLF, prototype paths, bad replacements', () => {
  assert.ok(isValidPluginConfig('request-transformer', { headers: { set: { 'x-a': 'b' } }, query: { add: { a: ['1', '2'] } }, path: { pattern: '^/a', replacement: '/b' }, body: { set: { 'a.b': [1] } }, max_body_bytes: '64kb' }))
  assert.equal(isValidPluginConfig('request-transformer', { headers: { set: { 'content-length': '1' } } }), false)
  assert.equal(isValidPluginConfig('request-transformer', { headers: { set: { host: 'x' } } }), false)
  assert.equal(isValidPluginConfig('request-transformer', { headers: { set: { 'x-a': 'v\r\nx-b: y' } } }), false)
  assert.equal(isValidPluginConfig('request-transformer', { body: { remove: ['__proto__'] } }), false)
  assert.equal(isValidPluginConfig('request-transformer', { body: { set: { 'a.__proto__.b': 1 } } }), false)
  assert.equal(isValidPluginConfig('request-transformer', { body: { set: { 'prototype': 1 } } }), false)
  assert.equal(isValidPluginConfig('request-transformer', { body: { remove: ['a..b'] } }), false)
  assert.equal(isValidPluginConfig('request-transformer', { path: { pattern: '^/a', replacement: '/b?x' } }), false)
  assert.equal(isValidPluginConfig('request-transformer', { path: { pattern: '^/a', replacement: '/b c' } }), false)
  assert.equal(isValidPluginConfig('request-transformer', { nope: 1 }), false)
})

test('JSON rules: rename, remove, set, add in order; arrays by index; configured values are copied', () => {
  const r = compileJsonRules({ rename: { a: 'x.a' }, remove: ['b', 'list.0'], set: { 'c.d': { deep: 1 } }, add: { e: 1, 'x.a': 'kept' } }, 'w')!
  const doc = { a: 1, b: 2, list: [1, 2], e: 0 } as Record<string, unknown>
  assert.ok(applyJsonRules(r, doc))
  assert.deepEqual(doc, { list: [2], e: 0, x: { a: 1 }, c: { d: { deep: 1 } } })
  ;((doc.c as { d: { deep: number } }).d).deep = 99
  const again = { } as Record<string, unknown>
  applyJsonRules(r, again)
  assert.deepEqual(again.c, { d: { deep: 1 } })
  // a scalar on the way is not overwritten; a scalar top is not transformed
  const s = { c: 'str' }
  applyJsonRules(r, s)
  assert.equal(s.c, 'str')
  assert.equal(transformJson(r, Buffer.from('"x"')), undefined)
  assert.equal(transformJson(r, Buffer.from('{')), undefined)
  assert.equal(transformJson(r, Buffer.from('\ufeff{"b":1}'))!.toString(), '{"c":{"d":{"deep":1}},"e":1,"x":{"a":"kept"}}')
  assert.equal(compileJsonRules({}, 'w'), null)
  assert.throws(() => compileJsonRules({ remove: ['a.__proto__'] }, 'w'), /invalid field path/)
})

test('JSON rules never reach a prototype, even when the body names one', () => {
  const r = compileJsonRules({ set: { 'a.polluted': true } }, 'w')!
  const out = transformJson(r, Buffer.from('{"__proto__":{"x":1},"a":{}}'))!
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
  assert.equal(out.toString(), '{"__proto__":{"x":1},"a":{"polluted":true}}')
})

test('content types: application/json and +json only; identity encoding only', () => {
  assert.ok(isJsonType('application/json'))
  assert.ok(isJsonType('Application/JSON; charset=utf-8'))
  assert.ok(isJsonType('application/vnd.api+json'))
  assert.ok(!isJsonType('text/json-ish'))
  assert.ok(!isJsonType(undefined))
  assert.ok(isIdentity(undefined) && isIdentity('identity'))
  assert.ok(!isIdentity('gzip'))
})

test('query rules: names compared decoded, untouched parameters keep their bytes, values encoded', () => {
  const r = compileQueryRules({ rename: { 'a b': 'c' }, remove: ['x'], set: { s: 'v w' }, add: { t: ['1', '&'] } })!
  assert.equal(applyQueryRules(r, 'a+b=1&x=2&x&keep=%2F%zz&s=old&%zz=1'), 'c=1&keep=%2F%zz&%zz=1&s=v%20w&t=1&t=%26')
  assert.equal(applyQueryRules(r, ''), 's=v%20w&t=1&t=%26')
  assert.equal(compileQueryRules({}), null)
})

test('access: headers, query and path on the context; no body rules = no body read', () => {
  const inst = plugin.create(
    { headers: { set: { 'x-r': '$route' } }, query: { remove: ['k'] }, path: { pattern: '^/old/(.*)', replacement: 'new/$1' } } as never,
    testPluginEnv(),
  )
  const ctx = { routeName: 'r1', upstreamHeaders: {}, query: 'k=1&z=2', upstreamPath: '/old/a/b', req: { headers: {} } } as unknown as RequestContext
  assert.equal(inst.access!(ctx), undefined)
  assert.equal(ctx.upstreamHeaders['x-r'], 'r1')
  assert.equal(ctx.query, 'z=2')
  assert.equal(ctx.upstreamPath, '/new/a/b')
})

test('access: a body another plugin buffered is transformed in place; over max_body_bytes it is left', () => {
  const inst = plugin.create({ body: { remove: ['p'] }, max_body_bytes: 20 } as never, testPluginEnv())
  const mk = (body: string) =>
    ({ upstreamHeaders: { 'content-type': 'application/json' }, query: '', upstreamPath: '/', body: Buffer.from(body), req: { headers: {} } }) as unknown as RequestContext
  const small = mk('{"p":1,"q":2}')
  assert.equal(inst.access!(small), undefined)
  assert.equal(small.body!.toString(), '{"q":2}')
  const big = mk(JSON.stringify({ p: 'x'.repeat(30) }))
  inst.access!(big)
  assert.match(big.body!.toString(), /"p"/)
})
