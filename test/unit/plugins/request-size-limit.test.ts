// request-size-limit: schema, and the decision on Content-Length, a buffered body and per consumer.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin from '../../../src/plugins/request-size-limit/index.js'
import type { RequestContext } from '../../../src/core/context.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { isValidPluginConfig } from '../../helpers/plugin-config.js'

const ctx = (headers: Record<string, string>, extra: Partial<RequestContext> = {}) =>
  ({ req: { headers }, bodyLimit: Infinity, consumer: undefined, body: undefined, ...extra }) as unknown as RequestContext

test('schema: sizes, per-consumer map; refuses unknown keys and bad sizes', () => {
  const c = {}
  assert.ok(isValidPluginConfig('request-size-limit', c))
  assert.equal((c as { max_size: string }).max_size, '1mb')
  assert.ok(isValidPluginConfig('request-size-limit', { max_size: 1024, consumers: { alice: '10mb' } }))
  assert.equal(isValidPluginConfig('request-size-limit', { max: 1 }), false)
  assert.equal(isValidPluginConfig('request-size-limit', { max_size: 'ten' }), false)
  assert.equal(isValidPluginConfig('request-size-limit', { consumers: { bob: -1 } }), false)
})

test('Content-Length over the limit is a 413 with connection: close; under it lowers ctx.bodyLimit', () => {
  const inst = plugin.create({ max_size: '1kb' }, testPluginEnv())
  assert.equal(inst.access, undefined)
  const r = inst.rewrite!(ctx({ 'content-length': '1025' })) as { status: number; error: string; headers: Record<string, string> }
  assert.equal(r.status, 413)
  assert.equal(r.error, 'payload_too_large')
  assert.equal(r.headers.connection, 'close')
  const ok = ctx({ 'content-length': '1024' })
  assert.equal(inst.rewrite!(ok), undefined)
  assert.equal(ok.bodyLimit, 1024)
  const chunked = ctx({ 'transfer-encoding': 'chunked' })
  assert.equal(inst.rewrite!(chunked), undefined)
  assert.equal(chunked.bodyLimit, 1024, 'streamed bodies are counted against the plugin limit')
  const lower = ctx({}, { bodyLimit: 10 })
  inst.rewrite!(lower)
  assert.equal(lower.bodyLimit, 10, 'never raises a lower limit')
})

test('per consumer: the consumer\'s limit applies in access, others get max_size; a buffered body is measured', () => {
  const inst = plugin.create({ max_size: 100, consumers: { big: '1kb' } }, testPluginEnv())
  assert.equal(inst.rewrite, undefined)
  assert.equal(inst.access!(ctx({ 'content-length': '500' }, { consumer: 'big' })), undefined)
  assert.equal((inst.access!(ctx({ 'content-length': '500' }, { consumer: 'small' })) as { status: number }).status, 413)
  assert.equal((inst.access!(ctx({ 'content-length': '500' })) as { status: number }).status, 413)
  assert.equal((inst.access!(ctx({}, { body: Buffer.alloc(101) })) as { status: number }).status, 413)
})
