// response-transformer: schema, and which responses get a body rewrite (the held-body seam itself
// is exercised through a real gateway in the integration test).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin from '../../../src/plugins/response-transformer/index.js'
import type { UpstreamHead } from '../../../src/core/verdict.js'
import type { RequestContext } from '../../../src/core/context.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { isValidPluginConfig } from '../../helpers/plugin-config.js'


test('schema: headers and body rules; content-length and hop-by-hop headers refused', () => {
  assert.ok(isValidPluginConfig('response-transformer', { headers: { remove: ['server'] }, body: { remove: ['a.b'] }, max_body_bytes: 1024 }))
  assert.equal(isValidPluginConfig('response-transformer', { headers: { set: { 'content-length': '1' } } }), false)
  assert.equal(isValidPluginConfig('response-transformer', { headers: { set: { 'transfer-encoding': 'chunked' } } }), false)
  assert.equal(isValidPluginConfig('response-transformer', { body: { add: { '__proto__.x': 1 } } }), false)
  assert.equal(isValidPluginConfig('response-transformer', { max_body_bytes: 'lots' }), false)
})

test('no rules: no response handler is wired', () => {
  assert.equal(plugin.create({} as never, testPluginEnv()).response, undefined)
})

test('rewriteBody is set only for JSON, identity-encoded, bodied responses within max_body_bytes', () => {
  const inst = plugin.create({ headers: { set: { 'x-a': '1' } }, body: { remove: ['s'] }, max_body_bytes: 100 } as never, testPluginEnv())
  const ctx = (method = 'GET') => ({ method, id: 'r', clientIp: '', routeName: 'x', host: '' }) as unknown as RequestContext
  const run = (h: Record<string, string>, status = 200, method = 'GET'): UpstreamHead => {
    const head: UpstreamHead = { status, headers: { ...h } }
    void inst.response!(ctx(method), head)
    return head
  }
  const ok = run({ 'content-type': 'application/json', 'content-length': '50' })
  assert.equal(ok.headers['x-a'], '1')
  assert.ok(ok.rewriteBody !== undefined)
  assert.equal(ok.rewriteBody!.maxBytes, 100)
  assert.equal(ok.rewriteBody!.apply(Buffer.from('{"s":1,"t":2}'))!.toString(), '{"t":2}')
  assert.equal(ok.rewriteBody!.apply(Buffer.from('not json')), undefined)
  assert.ok(run({ 'content-type': 'application/json' }).rewriteBody !== undefined) // chunked: held up to the limit
  assert.equal(run({ 'content-type': 'application/json', 'content-length': '101' }).rewriteBody, undefined)
  assert.equal(run({ 'content-type': 'text/html' }).rewriteBody, undefined)
  assert.equal(run({ 'content-type': 'application/json', 'content-encoding': 'br' }).rewriteBody, undefined)
  assert.equal(run({ 'content-type': 'application/json' }, 204).rewriteBody, undefined)
  assert.equal(run({ 'content-type': 'application/json' }, 304).rewriteBody, undefined)
  assert.equal(run({ 'content-type': 'application/json' }, 200, 'HEAD').rewriteBody, undefined)
})
