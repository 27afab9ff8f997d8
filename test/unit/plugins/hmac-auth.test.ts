// hmac-auth: the documented worked example (docs/plugins/hmac-auth.md) recomputed, header parsing,
// schema defaults, and the plugin's checks on hand-made contexts with a fixed clock.
import { describe, test, mock } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import hmacAuth from '../../../src/plugins/hmac-auth/index.js'
import { authorization, bodyDigest, parseAuthorization, signature, stringToSign } from '../../../src/plugins/hmac-auth/sign.js'
import { Consumers } from '../../../src/plugins/consumers.js'
import { RequestContext } from '../../../src/core/context.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import type { LocalReply } from '../../../src/core/verdict.js'
import { isValidPluginConfig } from '../../helpers/plugin-config.js'

// The worked example of docs/plugins/hmac-auth.md, byte for byte.
const EXAMPLE = {
  secret: 'example-secret-0123456789',
  keyId: 'shop-1',
  parts: {
    method: 'POST',
    path: '/api/orders',
    query: 'dry_run=1',
    timestamp: 1700000000,
    nonce: '4f1c9a0e7b2d',
    headers: [['host', 'api.example.com'], ['content-type', 'application/json']] as Array<[string, string]>,
    body: '{"qty":3}',
  },
  digest: '0fb24fa07a4a24da9a3ff773eac8e762f3fd262d6543983e7cd142dc45f70752',
  stringToSign:
    'HMAC-SHA256\n1700000000\n4f1c9a0e7b2d\nPOST\n/api/orders\ndry_run=1\nhost content-type\nhost:api.example.com\ncontent-type:application/json\n' +
    '0fb24fa07a4a24da9a3ff773eac8e762f3fd262d6543983e7cd142dc45f70752',
  signature: 'z9NJlRfWDlrqbV8r8SqweOqjxdVA8Wl7YQHhRzRxtBs=',
  header:
    'HMAC-SHA256 keyId="shop-1", ts="1700000000", nonce="4f1c9a0e7b2d", headers="host content-type", signature="z9NJlRfWDlrqbV8r8SqweOqjxdVA8Wl7YQHhRzRxtBs="',
}

describe('hmac-auth wire format', () => {
  test('the documented worked example: digest, string-to-sign, signature and header', () => {
    assert.equal(bodyDigest(EXAMPLE.parts.body), EXAMPLE.digest)
    assert.equal(stringToSign(EXAMPLE.parts), EXAMPLE.stringToSign)
    assert.equal(signature(EXAMPLE.secret, EXAMPLE.stringToSign), EXAMPLE.signature)
    // Independently of sign.ts: plain HMAC over the documented string.
    assert.equal(createHmac('sha256', EXAMPLE.secret).update(EXAMPLE.stringToSign).digest('base64'), EXAMPLE.signature)
    assert.equal(authorization(EXAMPLE.keyId, EXAMPLE.parts, EXAMPLE.secret), EXAMPLE.header)
  })

  test('parseAuthorization accepts the header and refuses malformed ones', () => {
    const p = parseAuthorization(EXAMPLE.header)!
    assert.equal(p.keyId, 'shop-1')
    assert.equal(p.timestamp, 1700000000)
    assert.deepEqual(p.headers, ['host', 'content-type'])
    assert.equal(p.signature.length, 32)
    for (const bad of [
      '',
      'Bearer abc',
      EXAMPLE.header.replace('keyId', 'keyid'),
      EXAMPLE.header + ', extra="1"',
      EXAMPLE.header + ', ts="1"',
      EXAMPLE.header.replace('ts="1700000000"', 'ts="-1"'),
      EXAMPLE.header.replace('nonce="4f1c9a0e7b2d"', 'nonce="short"'),
      EXAMPLE.header.replace('host content-type', 'host host'),
      EXAMPLE.header.replace('host content-type', 'Host'),
      EXAMPLE.header.replace(/signature="[^"]+"/, 'signature="AAAA"'),
      EXAMPLE.header.replace(', nonce="4f1c9a0e7b2d"', ''),
    ]) {
      assert.equal(parseAuthorization(bad), undefined, bad)
    }
  })
})

describe('hmac-auth schema', () => {
  test('defaults; failure_mode and window are checked', () => {
    const c: Record<string, unknown> = {}
    assert.ok(isValidPluginConfig('hmac-auth', c))
    assert.deepEqual(c, { window: '300s', required_headers: ['host'], required_body_headers: ['content-type'], max_body_size: '1mb', hide_credentials: true, consumer_header: 'x-consumer-name', failure_mode: 'closed', timeout: '100ms' })
    assert.equal(isValidPluginConfig('hmac-auth', { failure_mode: 'maybe' }), false)
    assert.equal(isValidPluginConfig('hmac-auth', { window: 'soon' }), false)
    assert.equal(isValidPluginConfig('hmac-auth', { required_headers: ['bad header'] }), false)
  })
})

describe('hmac-auth plugin', () => {
  const consumers = new Consumers([{ name: 'shop', credentials: { hmac_auth: [{ key_id: EXAMPLE.keyId, secret: EXAMPLE.secret }] } }])
  const inst = hmacAuth.create(
    { window: '300s', required_headers: ['host'], required_body_headers: ['content-type'], max_body_size: '1mb', hide_credentials: true, consumer_header: 'x-consumer-name', failure_mode: 'closed', timeout: '100ms' },
    testPluginEnv('r', undefined, consumers),
  )

  function ctx(auth: string, body = EXAMPLE.parts.body, url = '/api/orders?dry_run=1'): RequestContext {
    const headers = { host: 'api.example.com', 'content-type': 'application/json', authorization: auth }
    const rawHeaders = Object.entries(headers).flat()
    const c = new RequestContext({ method: 'POST', url, headers, rawHeaders } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
    c.upstreamHeaders = { ...headers }
    c.body = Buffer.from(body)
    return c
  }

  test('the worked example request is accepted at its time, once; the consumer is set and the header hidden', async () => {
    mock.method(Date, 'now', () => EXAMPLE.parts.timestamp * 1000 + 5000)
    try {
      const c = ctx(EXAMPLE.header)
      assert.equal(await inst.access!(c), undefined)
      assert.equal(c.consumer, 'shop')
      assert.equal(c.upstreamHeaders['x-consumer-name'], 'shop')
      assert.equal(c.upstreamHeaders.authorization, undefined)
      const replay = (await inst.access!(ctx(EXAMPLE.header))) as LocalReply
      assert.equal(replay.status, 401)
    } finally {
      mock.restoreAll()
    }
  })

  test('outside the window, or with a tampered body or query, it is a 401', async () => {
    mock.method(Date, 'now', () => (EXAMPLE.parts.timestamp + 301) * 1000)
    try {
      assert.equal(((await inst.access!(ctx(EXAMPLE.header))) as LocalReply).status, 401)
    } finally {
      mock.restoreAll()
    }
    mock.method(Date, 'now', () => EXAMPLE.parts.timestamp * 1000)
    try {
      const fresh = (nonce: string) => authorization(EXAMPLE.keyId, { ...EXAMPLE.parts, nonce }, EXAMPLE.secret)
      assert.equal(((await inst.access!(ctx(fresh('nonce-body-1'), '{"qty":30}'))) as LocalReply).status, 401)
      assert.equal(((await inst.access!(ctx(fresh('nonce-query-1'), EXAMPLE.parts.body, '/api/orders?dry_run=0'))) as LocalReply).status, 401)
      assert.equal(((await inst.access!(ctx(fresh('nonce-wrong-key').replace('shop-1', 'shop-2')))) as LocalReply).status, 401)
      assert.equal(await inst.access!(ctx(fresh('nonce-good-1'))), undefined)
    } finally {
      mock.restoreAll()
    }
  })
})
