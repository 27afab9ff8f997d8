// store.redis shapes: one of url / cluster / sentinel, each with TLS and ACL auth; errors at their
// YAML paths for none, several, a prefix with braces, a node that is not host:port. And the hash
// tag escaping of rate-limit keys (one slot per decision whatever the client sends).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { generateMulti } from 'cluster-key-slot'
import { loadConfigText, formatErrors } from '../../../src/config/index.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { rateLimitKeys, tagSafe } from '../../../src/plugins/rate-limit/index.js'

const doc = (redis: string) => `store:\n  redis: ${redis}\nupstreams: { o: { targets: [ { url: "http://127.0.0.1:1" } ] } }\nroutes: []\n`

describe('store.redis config', () => {
  for (const [what, redis] of [
    ['a single node', '{ url: "redis://127.0.0.1:6379" }'],
    ['a single node with ACL user and TLS', '{ url: "rediss://127.0.0.1:6380", username: portico, password: s3cret, tls: { verify: true, server_name: redis.internal } }'],
    ['a cluster', '{ cluster: { nodes: [10.0.0.1:7000, "[::1]:7001", redis-2.svc:7002] }, password: x, timeout: 150ms }'],
    ['sentinel', '{ sentinel: { sentinels: [s1:26379, s2:26379], name: mymaster, password: y }, username: u, password: p }'],
  ] as const) {
    test(`accepts ${what}`, () => {
      const r = loadConfigText(doc(redis), 'c.yaml', { checks: INSTALLED_CHECKS })
      assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
    })
  }

  for (const [what, redis, pattern] of [
    ['no topology', '{ timeout: 100ms }', /store\.redis[\s\S]*needs one of url, cluster or sentinel/],
    ['two topologies', '{ url: "redis://a:1", cluster: { nodes: [a:1] } }', /store\.redis[\s\S]*url and cluster: choose one/],
    ['a prefix with braces', '{ url: "redis://a:1", prefix: "gw{1}:" }', /store\.redis\.prefix/],
    ['a node that is not host:port', '{ cluster: { nodes: ["redis://a:1"] } }', /store\.redis\.cluster\.nodes\[0\]/],
    ['sentinel without a name', '{ sentinel: { sentinels: [a:1] } }', /store\.redis\.sentinel/],
  ] as const) {
    test(`refuses ${what}`, () => {
      const r = loadConfigText(doc(redis), 'c.yaml', { checks: INSTALLED_CHECKS })
      assert.ok(!r.ok, 'must be refused')
      assert.match(formatErrors(r.errors), pattern)
    })
  }
})

describe('rate-limit hash tags', () => {
  test('braces and percent signs are escaped one-to-one', () => {
    assert.equal(tagSafe('plain-key_1.2'), 'plain-key_1.2')
    assert.equal(tagSafe('a{b}c%'), 'a%7Bb%7Dc%25')
    assert.notEqual(tagSafe('a{b'), tagSafe('a%7Bb'))
  })

  test('every limit of a decision is in one slot, whatever the key', () => {
    for (const key of ['', '}', '{', '{}', '}{', 'a}b{c', '%7D', '{{{{', 'x'.repeat(200)]) {
      const keys = rateLimitKeys('route}{', key, [':0:1:1:1', ':1:2:2:2', ':3:4:4:4']).map((k) => `portico:${k}`)
      assert.notEqual(generateMulti(keys), -1, JSON.stringify(keys))
    }
  })
})
