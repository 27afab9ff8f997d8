// Revocations (src/state/revocations.ts) on the memory Store, and the jwt-revocation plugin:
// jti and sub revocation, pub/sub between two services, the "valid" cache, failure modes.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Revocations } from '../../../src/state/revocations.js'
import { MemoryStore } from '../../../src/state/memory.js'
import type { Store } from '../../../src/state/store.js'
import jwtRevocation from '../../../src/plugins/jwt-revocation/index.js'
import { RequestContext } from '../../../src/core/context.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import type { LocalReply } from '../../../src/core/verdict.js'

const now = () => Math.floor(Date.now() / 1000)

describe('Revocations', () => {
  test('jti revocation reaches another subscriber even with a warm "valid" cache', async () => {
    const store = new MemoryStore()
    const writer = new Revocations(store)
    const reader = new Revocations(store, { cacheTtlMs: 60_000 })
    await reader.start()
    const t = { jti: 'j1', sub: 's', iat: now() }
    assert.equal(await reader.isRevoked(t), false)
    assert.equal(reader.isRevoked(t), false, 'cached, synchronous')
    await writer.revokeJti('j1', now() + 60)
    assert.equal(reader.isRevoked(t), true)
    assert.equal(await reader.isRevoked({ jti: 'j2', sub: 's', iat: now() }), false)
    await reader.close()
    await store.close()
  })

  test('sub revocation: tokens issued before the cut-off (or without iat) are revoked; later ones are not', async () => {
    const store = new MemoryStore()
    const r = new Revocations(store)
    await r.revokeSub('alice', now(), 60_000)
    assert.equal(await r.isRevoked({ sub: 'alice', iat: now() - 10 }), true)
    assert.equal(await r.isRevoked({ sub: 'alice' }), true)
    assert.equal(await r.isRevoked({ sub: 'alice', iat: now() + 10 }), false)
    // A fresh process (no local state) reads it from the Store.
    const other = new Revocations(store)
    assert.equal(await other.isRevoked({ sub: 'alice', iat: now() - 10 }), true)
    // Revoking again with an earlier time keeps the later cut-off.
    await r.revokeSub('alice', now() - 1000, 1000)
    assert.equal(await new Revocations(store).isRevoked({ sub: 'alice', iat: now() - 10 }), true)
    assert.equal(await r.isRevoked({}), false)
    await store.close()
  })

  test('an already expired jti is not stored', async () => {
    const store = new MemoryStore()
    await new Revocations(store).revokeJti('old', now() - 1)
    assert.equal(await store.get('rev:jti:old'), null)
    await store.close()
  })
})

describe('jwt-revocation plugin', () => {
  function ctx(claims?: Record<string, unknown>): RequestContext {
    const c = new RequestContext({ method: 'GET', headers: {} } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
    c.claims = claims
    return c
  }
  const down: Store = Object.assign(Object.create(MemoryStore.prototype) as Store, {
    kind: 'broken',
    healthy: () => false,
    subscribe: async () => async () => undefined,
  })

  test('revoked → 401 invalid_token; no claims → pass; Store down → closed 503 / open pass', async () => {
    const store = new MemoryStore()
    const config = { failure_mode: 'closed' as const, timeout: '100ms', cache_ttl: '5s', max_entries: 100 }
    const inst = jwtRevocation.create(config, testPluginEnv('r', store))
    assert.equal(inst.access!(ctx()), undefined)
    assert.equal(await inst.access!(ctx({ jti: 'a', sub: 'x', iat: now() })), undefined)
    await new Revocations(store).revokeJti('b', now() + 60)
    const r = (await inst.access!(ctx({ jti: 'b', sub: 'x', iat: now() }))) as LocalReply
    assert.equal(r.status, 401)
    assert.match(String(r.headers?.['www-authenticate']), /invalid_token/)
    await inst.close?.()

    const closed = jwtRevocation.create(config, testPluginEnv('r', down))
    assert.equal(((await closed.access!(ctx({ jti: 'c' }))) as LocalReply).error, 'auth_unavailable')
    await closed.close?.()
    const open = jwtRevocation.create({ ...config, failure_mode: 'open' }, testPluginEnv('r', down))
    assert.equal(await open.access!(ctx({ jti: 'c' })), undefined)
    await open.close?.()
    await store.close()
  })
})
