// store.redis TLS blocks (src/state/redis-tls.ts): PEMs from *_file keys, from inline PEM (what a
// ${file:} reference becomes), or from the older path-valued ca/cert/key; a client certificate
// needs its key and a matching one; errors name config keys and paths, never a key's content.
// And the config cross-checks of the same rules, at their YAML paths.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createPki, type Ca, type Issued } from '../../helpers/pki.js'
import { redisTlsOptions } from '../../../src/state/redis-tls.js'
import { loadConfigText, formatErrors } from '../../../src/config/index.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let client: Issued
let other: Issued

before(async () => {
  pki = await createPki()
  ca = await pki.ca('Redis TLS unit CA')
  ;[client, other] = await Promise.all([ca.issue({ cn: 'portico', client: true }), ca.issue({ cn: 'someone-else', client: true })])
})
after(() => pki?.remove())

describe('redisTlsOptions', () => {
  test('no block: plain TCP', () => {
    assert.equal(redisTlsOptions('store.redis.tls', undefined), undefined)
  })

  for (const [what, block] of [
    ['the *_file keys', () => ({ ca_file: ca.certFile, cert_file: client.certFile, key_file: client.keyFile })],
    ['inline PEM (a ${file:} reference, resolved)', () => ({ ca: ca.cert, cert: client.cert, key: client.key })],
    ['the older path-valued ca/cert/key', () => ({ ca: ca.certFile, cert: client.certFile, key: client.keyFile })],
  ] as const) {
    test(`a client certificate from ${what}: one prepared context, verification on`, () => {
      const o = redisTlsOptions('store.redis.tls', block())!
      assert.ok(o.secureContext !== undefined)
      assert.equal(o.rejectUnauthorized, true)
      assert.equal(o.servername, undefined)
    })
  }

  test('server_name is the name verified for every node; verify: false turns verification off', () => {
    assert.equal(redisTlsOptions('store.redis.tls', { server_name: 'redis.internal' })!.servername, 'redis.internal')
    assert.equal(redisTlsOptions('store.redis.tls', { verify: false })!.rejectUnauthorized, false)
  })

  test('a certificate without its key, or a key that is not the certificate\'s, is refused without quoting the key', () => {
    assert.throws(() => redisTlsOptions('store.redis.sentinel.tls', { cert_file: client.certFile }), /store\.redis\.sentinel\.tls: a client certificate needs both/)
    let msg = ''
    try {
      redisTlsOptions('store.redis.tls', { cert: client.cert, key: other.key })
    } catch (err) {
      msg = (err as Error).message
    }
    assert.match(msg, /^store\.redis\.tls: the client certificate, its key or the CA cannot be used \(/)
    assert.ok(!msg.includes('PRIVATE KEY') && !msg.includes(other.key.split('\n')[1]!), msg)
  })

  test('an unreadable file is named by its key and path; a broken inline key is not quoted', async () => {
    assert.throws(() => redisTlsOptions('store.redis.tls', { cert_file: client.certFile, key_file: '/nonexistent/portico.key' }), /store\.redis\.tls\.key_file: cannot read "\/nonexistent\/portico\.key" \(ENOENT\)/)
    const broken = `-----BEGIN PRIVATE KEY-----\nTm90QUtleUJ1dFNlY3JldE1hdGVyaWFs\n-----END PRIVATE KEY-----\n`
    let msg = ''
    try {
      redisTlsOptions('store.redis.tls', { cert: client.cert, key: broken })
    } catch (err) {
      msg = (err as Error).message
    }
    assert.match(msg, /^store\.redis\.tls: /)
    assert.ok(!msg.includes('Tm90QUtleUJ1dFNlY3JldE1hdGVyaWFs'), msg)
  })
})

describe('store.redis tls config', () => {
  const doc = (redis: string) => `store:\n  redis: ${redis}\nupstreams: { o: { targets: [ { url: "http://127.0.0.1:1" } ] } }\nroutes: []\n`
  const load = (redis: string) => loadConfigText(doc(redis), join(ca.dir, 'c.yaml'), { checks: INSTALLED_CHECKS })

  test('accepts *_file keys, ${file:} references (resolved to the PEM) and a sentinel.tls block', async () => {
    await writeFile(join(ca.dir, 'client.key'), client.key)
    const r = load(
      `{ sentinel: { sentinels: [s1:26379], name: m, tls: { ca_file: /etc/s-ca.pem, cert_file: /etc/s.pem, key_file: /etc/s.key, server_name: sentinel.internal } }, tls: { ca_file: /etc/ca.pem, cert: "\${file:${client.certFile}}", key: "\${file:client.key}" } }`,
    )
    assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
    const tls = r.config.store!.redis!.tls!
    assert.equal(tls.cert, client.cert.replace(/\n$/, ''))
    assert.equal(tls.key, client.key.replace(/\n$/, ''))
    assert.equal(r.config.store!.redis!.sentinel!.tls!.server_name, 'sentinel.internal')
  })

  for (const [what, redis, pattern] of [
    ['a certificate without a key', '{ url: "rediss://a:1", tls: { cert_file: /c.pem } }', /store\.redis\.tls[\s\S]*needs both cert_file \(or cert\) and key_file/],
    ['a key without a certificate, in sentinel.tls', '{ sentinel: { sentinels: [a:1], name: m, tls: { key_file: /k.pem } } }', /store\.redis\.sentinel\.tls[\s\S]*needs both/],
    ['cert and cert_file together', '{ url: "rediss://a:1", tls: { cert: /c.pem, cert_file: /c.pem, key_file: /k.pem } }', /store\.redis\.tls\.cert[\s\S]*cert and cert_file name the same thing/],
    ['an unknown key in sentinel.tls', '{ sentinel: { sentinels: [a:1], name: m, tls: { ca_flie: /ca.pem } } }', /store\.redis\.sentinel\.tls[\s\S]*ca_flie/],
  ] as const) {
    test(`refuses ${what}`, () => {
      const r = load(redis)
      assert.ok(!r.ok, 'must be refused')
      assert.match(formatErrors(r.errors), pattern)
    })
  }
})
