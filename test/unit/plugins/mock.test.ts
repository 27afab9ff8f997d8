// mock: schema and the precomputed reply.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin from '../../../src/plugins/mock/index.js'
import type { RequestContext } from '../../../src/core/context.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { isValidPluginConfig } from '../../helpers/plugin-config.js'

const ctx = {} as RequestContext

test('schema accepts text and JSON bodies; refuses reserved headers, CRLF values and odd statuses', () => {
  assert.ok(isValidPluginConfig('mock', { status: 201, body: { ok: true }, headers: { 'x-mock': '1' } }))
  assert.ok(isValidPluginConfig('mock', { body: 'hello', content_type: 'text/html; charset=utf-8' }))
  assert.ok(isValidPluginConfig('mock', { body: [1, 2] }))
  assert.equal(isValidPluginConfig('mock', { status: 99 }), false)
  assert.equal(isValidPluginConfig('mock', { status: 600 }), false)
  assert.equal(isValidPluginConfig('mock', { headers: { 'content-length': '5' } }), false)
  assert.equal(isValidPluginConfig('mock', { headers: { 'Transfer-Encoding': 'chunked' } }), false)
  assert.equal(isValidPluginConfig('mock', { headers: { 'x-a': 'v\r\nx-b: injected' } }), false)
  assert.equal(isValidPluginConfig('mock', { content_type: 'text/plain\r\nx: y' }), false)
  assert.equal(isValidPluginConfig('mock', { delay: 5 }), false)
})

test('JSON body gets application/json; text gets text/plain; the reply is built once', () => {
  const j = plugin.create({ status: 201, body: { ok: true } }, testPluginEnv())
  const r1 = j.access!(ctx) as { status: number; body: Buffer; headers: Record<string, string> }
  assert.equal(r1.status, 201)
  assert.equal(r1.body.toString(), '{"ok":true}')
  assert.equal(r1.headers['content-type'], 'application/json')
  assert.equal(j.access!(ctx), r1)
  const t = plugin.create({ body: 'hi', headers: { 'X-Mock': 'yes' } }, testPluginEnv())
  const r2 = t.access!(ctx) as { body: Buffer; headers: Record<string, string> }
  assert.equal(r2.headers['content-type'], 'text/plain; charset=utf-8')
  assert.equal(r2.headers['x-mock'], 'yes')
  const c = plugin.create({ body: '<p>x</p>', content_type: 'text/html' }, testPluginEnv())
  assert.equal((c.access!(ctx) as { headers: Record<string, string> }).headers['content-type'], 'text/html')
})
