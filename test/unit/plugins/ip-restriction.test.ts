// ip-restriction: list compilation, IPv4/IPv6/mapped addresses, allow/deny precedence, schema.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import ipRestriction, { compileList, inList } from '../../../src/plugins/ip-restriction/index.js'
import { RequestContext } from '../../../src/core/context.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import type { LocalReply } from '../../../src/core/verdict.js'
import { isValidPluginConfig } from '../../helpers/plugin-config.js'

describe('ip-restriction lists', () => {
  test('IPv4, IPv6, single addresses and IPv4-mapped IPv6', () => {
    const l = compileList(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'], 'allow')!
    assert.ok(inList(l, '10.255.0.1'))
    assert.ok(!inList(l, '11.0.0.1'))
    assert.ok(inList(l, '2001:db8:1::1'))
    assert.ok(!inList(l, '2001:db9::1'))
    assert.ok(inList(l, '192.0.2.7'))
    assert.ok(!inList(l, '192.0.2.8'))
    assert.ok(inList(l, '::ffff:10.1.1.1'))
    assert.ok(!inList(l, 'not-an-ip'))
    assert.equal(compileList([], 'allow'), null)
  })

  test('invalid entries are refused at create time', () => {
    for (const bad of ['10.0.0.0/33', '2001:db8::/129', '300.1.1.1', '10.0.0.0/x', ':::']) {
      assert.throws(() => compileList([bad], 'deny'), /ip-restriction/, bad)
    }
  })

  test('schema defaults and pattern', () => {
    const c = {}
    assert.ok(isValidPluginConfig('ip-restriction', c))
    assert.deepEqual(c, { allow: [], deny: [], message: 'access denied' })
    assert.equal(isValidPluginConfig('ip-restriction', { allow: ['example.com'] }), false)
    assert.equal(isValidPluginConfig('ip-restriction', { other: 1 }), false)
  })
})

describe('ip-restriction plugin', () => {
  const env = testPluginEnv()
  const ctx = (ip: string) => {
    const c = new RequestContext({ method: 'GET', headers: {} } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
    c.clientIp = ip
    return c
  }
  test('deny wins over allow; empty allow lets others through; an unparsable address is refused', () => {
    const inst = ipRestriction.create({ allow: ['10.0.0.0/8'], deny: ['10.0.0.1'], message: 'no' }, env)
    assert.equal(inst.access!(ctx('10.2.3.4')), undefined)
    assert.equal((inst.access!(ctx('10.0.0.1')) as LocalReply).status, 403)
    assert.equal((inst.access!(ctx('8.8.8.8')) as LocalReply).error, 'forbidden')
    const denyOnly = ipRestriction.create({ allow: [], deny: ['::1'], message: 'no' }, env)
    assert.equal(denyOnly.access!(ctx('127.0.0.1')), undefined)
    assert.equal((denyOnly.access!(ctx('::1')) as LocalReply).status, 403)
    assert.equal((denyOnly.access!(ctx('')) as LocalReply).status, 403)
  })
})
