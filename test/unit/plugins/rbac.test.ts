// rbac plugin: schema, roles from claims (lists, space-separated scopes, dot paths) and from the
// consumer, any-of / all-of, 401 without identity and 403 without the roles.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import rbac, { rolesOf } from '../../../src/plugins/rbac/index.js'
import type { RbacConfig } from '../../../src/plugins/rbac/schema.js'
import { RequestContext } from '../../../src/core/context.js'
import type { LocalReply } from '../../../src/core/verdict.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { validatePluginConfig, isValidPluginConfig } from '../../helpers/plugin-config.js'

function accepts(config: unknown): RbacConfig {
  return validatePluginConfig<RbacConfig>('rbac', structuredClone(config))
}

function ctxWith(claims?: Record<string, unknown>, consumer?: string, roles?: string[]): RequestContext {
  const ctx = new RequestContext({ method: 'GET', headers: {} } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
  ctx.claims = claims
  ctx.consumer = consumer
  ctx.consumerRoles = roles
  return ctx
}
const check = (config: unknown, ctx: RequestContext) => rbac.create(accepts(config), testPluginEnv()).access!(ctx) as LocalReply | undefined

describe('rbac schema', () => {
  test('defaults and refusals', () => {
    assert.deepEqual(accepts({ any_of: ['read'] }), { any_of: ['read'], all_of: [], from: 'claims', claim: 'scope' })
    for (const bad of [{}, { any_of: [] }, { all_of: [] }, { any_of: ['a'], from: 'header' }, { any_of: [''] }, { any_of: ['a'], extra: 1 }]) {
      assert.equal(isValidPluginConfig('rbac', structuredClone(bad)), false, JSON.stringify(bad))
    }
    assert.throws(() => rbac.create({ any_of: [], all_of: [] }, testPluginEnv()), /requires nothing/)
  })
})

describe('rbac decisions', () => {
  test('rolesOf: lists and space-separated strings', () => {
    assert.deepEqual(rolesOf('read  write'), ['read', 'write'])
    assert.deepEqual(rolesOf(['a', 1, 'b']), ['a', 'b'])
    assert.deepEqual(rolesOf(undefined), [])
    assert.deepEqual(rolesOf({ a: 1 }), [])
  })
  test('any_of on the scope claim', () => {
    assert.equal(check({ any_of: ['write', 'admin'] }, ctxWith({ scope: 'read write' })), undefined)
    const r = check({ any_of: ['admin'] }, ctxWith({ scope: 'read write' }))
    assert.equal(r?.status, 403)
    assert.equal(r?.error, 'forbidden')
    assert.equal(r?.headers?.['www-authenticate'], 'Bearer error="insufficient_scope"')
    assert.doesNotMatch(JSON.stringify(r), /admin/, 'the missing role is not named')
  })
  test('all_of, and both together', () => {
    assert.equal(check({ all_of: ['read', 'write'] }, ctxWith({ scope: 'read write' })), undefined)
    assert.equal(check({ all_of: ['read', 'admin'] }, ctxWith({ scope: 'read write' }))?.status, 403)
    assert.equal(check({ all_of: ['read'], any_of: ['x', 'write'] }, ctxWith({ scope: 'read write' })), undefined)
    assert.equal(check({ all_of: ['read'], any_of: ['x'] }, ctxWith({ scope: 'read write' }))?.status, 403)
  })
  test('dot path and namespaced claims', () => {
    assert.equal(check({ any_of: ['admin'], claim: 'realm_access.roles' }, ctxWith({ realm_access: { roles: ['admin'] } })), undefined)
    assert.equal(check({ any_of: ['admin'], claim: 'https://x.io/roles' }, ctxWith({ 'https://x.io/roles': ['admin'] })), undefined)
    assert.equal(check({ any_of: ['admin'], claim: 'roles' }, ctxWith({ scope: 'admin' }))?.status, 403)
  })
  test('roles from the consumer', () => {
    assert.equal(check({ any_of: ['ops'], from: 'consumer' }, ctxWith(undefined, 'bob', ['ops'])), undefined)
    const r = check({ any_of: ['ops'], from: 'consumer' }, ctxWith(undefined, 'bob', ['dev']))
    assert.equal(r?.status, 403)
    assert.equal(r?.headers, undefined)
    assert.equal(check({ any_of: ['ops'], from: 'consumer' }, ctxWith({ scope: 'ops' }))?.status, 401, 'claims are not consumer roles')
    assert.equal(check({ all_of: ['ops', 'read'], from: 'both' }, ctxWith({ scope: 'read' }, 'bob', ['ops'])), undefined)
  })
  test('no identity at all → 401', () => {
    assert.equal(check({ any_of: ['read'] }, ctxWith())?.status, 401)
  })
})
