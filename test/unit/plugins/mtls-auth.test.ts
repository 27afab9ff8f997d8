// mtls-auth: schema defaults and refusals, and the field → consumer mapping on a RequestContext
// carrying a client identity (the integration test test/integration/tls/mtls.test.ts drives real
// handshakes).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import mtlsAuth from '../../../src/plugins/mtls-auth/index.js'
import type { MtlsAuthConfig } from '../../../src/plugins/mtls-auth/schema.js'
import { Consumers } from '../../../src/plugins/consumers.js'
import { RequestContext } from '../../../src/core/context.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import type { ClientIdentity } from '../../../src/core/client-identity.js'
import type { LocalReply } from '../../../src/core/verdict.js'
import { validatePluginConfig, isValidPluginConfig } from '../../helpers/plugin-config.js'


function config(c: Record<string, unknown>): MtlsAuthConfig {
  return validatePluginConfig<MtlsAuthConfig>('mtls-auth', structuredClone(c))
}

const consumers = new Consumers([{ name: 'alice', roles: ['admin'] }, { name: 'svc' }])

function ctx(id: Partial<ClientIdentity> | null): RequestContext {
  const req = { headers: {}, method: 'GET', socket: {} } as unknown as IncomingMessage
  const c = new RequestContext(req, {} as ServerResponse, 'rid', 0)
  c.clientCert = id === null ? null : { verified: true, subject: 'CN=alice, O=Example', cn: 'alice', sans: [], issuer: 'CN=CA', serial: '01', fingerprint256: 'AA', error: '', ...id }
  return c
}

test('schema: defaults, unknown keys and bad match_on refused', () => {
  const d = config({})
  assert.equal(d.match_on, 'subject_cn')
  assert.deepEqual(d.consumers, {})
  assert.equal(d.allow_unlisted, false)
  assert.equal(d.consumer_header, 'x-consumer-name')
  assert.equal(isValidPluginConfig('mtls-auth', { match_on: 'serial' }), false)
  assert.equal(isValidPluginConfig('mtls-auth', { nope: 1 }), false)
})

test('maps CN, SAN URI and email to consumers; unlisted 403; none or unverified 401', () => {
  const run = (cfg: Record<string, unknown>, c: RequestContext): LocalReply | undefined =>
    mtlsAuth.create(config(cfg), testPluginEnv('r', undefined, consumers)).access!(c) as LocalReply | undefined
  const byCn = ctx({})
  assert.equal(run({ consumers: { alice: 'alice' } }, byCn), undefined)
  assert.equal(byCn.consumer, 'alice')
  assert.deepEqual(byCn.consumerRoles, ['admin'])
  assert.equal(byCn.upstreamHeaders['x-consumer-name'], 'alice')
  const byUri = ctx({ sans: ['DNS:svc.internal', 'URI:spiffe://example.org/svc'] })
  assert.equal(run({ match_on: 'san_uri', consumers: { 'spiffe://example.org/svc': 'svc' } }, byUri), undefined)
  assert.equal(byUri.consumer, 'svc')
  assert.equal(run({ match_on: 'san_email', consumers: { 'a@x': 'alice' } }, ctx({ sans: ['email:a@x'] })), undefined)
  assert.equal(run({ match_on: 'subject', consumers: { 'CN=alice, O=Example': 'alice' } }, ctx({})), undefined)
  assert.equal(run({ consumers: { bob: 'alice' } }, ctx({}))?.status, 403)
  assert.equal(run({ consumers: {}, allow_unlisted: true }, ctx({})), undefined)
  assert.equal(run({ consumers: { alice: 'alice' } }, ctx(null))?.status, 401)
  assert.equal(run({ consumers: { alice: 'alice' } }, ctx({ verified: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }))?.status, 401)
  // A mapping to a consumer that does not exist refuses that certificate.
  assert.equal(run({ consumers: { alice: 'ghost' } }, ctx({}))?.status, 403)
})
