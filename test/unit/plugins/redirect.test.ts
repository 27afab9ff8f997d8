// redirect: schema and Location building, including attempts to redirect to another host.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import plugin from '../../../src/plugins/redirect/index.js'
import type { RequestContext } from '../../../src/core/context.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { isValidPluginConfig } from '../../helpers/plugin-config.js'

const ctx = (path: string, query = '', extra: Record<string, unknown> = {}) =>
  ({ path, upstreamPath: path, query, host: 'api.example.com', upstreamHeaders: { 'x-forwarded-proto': 'http' }, ...extra }) as unknown as RequestContext
const loc = (config: Record<string, unknown>, c: RequestContext) => {
  const r = plugin.create(config as never, testPluginEnv()).rewrite!(c) as { status: number; headers: { location: string } } | undefined
  return r === undefined ? undefined : `${r.status} ${r.headers.location}`
}

test('schema', () => {
  assert.ok(isValidPluginConfig('redirect', { to: 'https://new.example.com/base', status: 308 }))
  assert.ok(isValidPluginConfig('redirect', { to: '/docs' }))
  assert.ok(isValidPluginConfig('redirect', { https: true }))
  assert.equal(isValidPluginConfig('redirect', { to: 'javascript:alert(1)' }), false)
  assert.equal(isValidPluginConfig('redirect', { to: '//evil.example' }), false)
  assert.equal(isValidPluginConfig('redirect', { to: 'https://a.example/\r\nx' }), false)
  assert.equal(isValidPluginConfig('redirect', { status: 200 }), false)
  assert.equal(isValidPluginConfig('redirect', { status: 304 }), false)
  assert.throws(() => plugin.create({} as never, testPluginEnv()), /set `to`/)
})

test('to, with or without path and query', () => {
  assert.equal(loc({ to: 'https://new.example.com/v2' }, ctx('/a/b', 'x=1')), '302 https://new.example.com/v2?x=1')
  assert.equal(loc({ to: 'https://new.example.com/v2/', preserve_path: true, status: 301 }, ctx('/a/b', 'x=1')), '301 https://new.example.com/v2/a/b?x=1')
  assert.equal(loc({ to: '/docs?lang=en', preserve_query: true }, ctx('/x', 'p=2')), '302 /docs?lang=en&p=2')
  assert.equal(loc({ to: '/docs', preserve_query: false }, ctx('/x', 'p=2')), '302 /docs')
})

test('a path of several slashes never becomes a protocol-relative Location', () => {
  assert.equal(loc({ to: '/', preserve_path: true }, ctx('//evil.example/x')), '302 /evil.example/x')
  assert.equal(loc({ to: '/', preserve_path: true }, ctx('/\\evil.example')), '302 /evil.example')
  assert.equal(loc({ https: true }, ctx('//evil.example')), '302 https://api.example.com/evil.example')
})

test('https: plain requests are redirected to the same host; https ones continue; odd Host is refused', () => {
  assert.equal(loc({ https: true, status: 308 }, ctx('/a', 'q=1')), '308 https://api.example.com/a?q=1')
  assert.equal(loc({ https: true, https_port: 8443 }, ctx('/a')), '302 https://api.example.com:8443/a')
  assert.equal(loc({ https: true }, ctx('/a', '', { upstreamHeaders: { 'x-forwarded-proto': 'https' } })), undefined)
  const bad = plugin.create({ https: true } as never, testPluginEnv()).rewrite!(ctx('/a', '', { host: 'evil.example/x@y' })) as { status: number }
  assert.equal(bad.status, 400)
})
