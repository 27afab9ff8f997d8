// The admin API's pure parts: redaction of write-only fields, restoring placeholders on a round
// trip, RFC 7396 merge patch, resource-level changes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { REDACTED, placeholdersLeft, redact, restoreRedacted } from '../../../src/control/admin/redact.js'
import { changes, etagOf, mergePatch, put, remove } from '../../../src/control/admin/resources.js'

const doc = {
  admin: { token: 'tok-123', tokens: [{ name: 'a', role: 'admin', sha256: 'ab'.repeat(32) }] },
  store: { redis: { url: 'redis://:hunter2@10.0.0.1:6379/0' } },
  tracing: { otlp: { endpoint: 'http://c:4318', headers: { 'x-api-key': 'k-1' } } },
  upstreams: { u: { targets: [{ url: 'http://u:1' }] } },
  routes: [{ name: 'r', paths: ['/'], upstream: 'u', plugins: [{ name: 'jwt', config: { keys: [{ secret: 's'.repeat(32), algorithms: ['HS256'] }] } }] }],
  consumers: [{ name: 'c', credentials: { key_auth: ['k'.repeat(20), '${ALICE_KEY}'], hmac_auth: [{ key_id: 'c1', secret: 'h'.repeat(20) }] } }],
  acme: { eab: { kid: 'kid-1', hmac_key: 'eab-mac-key' }, storage: { backend: 'redis', encryption_key: 'E'.repeat(43), previous_encryption_keys: ['P'.repeat(43)] } },
}

test('redact hides every write-only field and keeps pure ${ENV} references', () => {
  const r = redact(doc)
  const text = JSON.stringify(r)
  for (const secret of ['tok-123', 'ab'.repeat(32), 'hunter2', 'k-1', 's'.repeat(32), 'k'.repeat(20), 'h'.repeat(20), 'eab-mac-key', 'E'.repeat(43), 'P'.repeat(43)]) assert.ok(!text.includes(secret), secret)
  assert.equal(r.store.redis.url, `redis://:${REDACTED}@10.0.0.1:6379/0`)
  assert.deepEqual(r.consumers[0]!.credentials.key_auth, [REDACTED, '${ALICE_KEY}'])
  assert.equal(r.routes[0]!.name, 'r')
})

test('restoring a redacted copy gives back the original; reordered named lists pair by name', () => {
  assert.deepEqual(restoreRedacted(redact(doc), doc), doc)
  const reordered = { ...redact(doc), consumers: [{ name: 'z' }, ...redact(doc).consumers] }
  const back = restoreRedacted(reordered, doc) as typeof doc
  assert.deepEqual(back.consumers[1], doc.consumers[0])
  assert.deepEqual(placeholdersLeft(back), [])
  // A placeholder with nothing behind it stays and is reported.
  assert.deepEqual(placeholdersLeft(restoreRedacted({ consumers: [{ name: 'n', credentials: { key_auth: [REDACTED] } }] }, doc)), ['consumers[0].credentials.key_auth[0]'])
  // A new value is taken as is.
  const changed = restoreRedacted({ store: { redis: { url: 'redis://:new@10.0.0.1:6379/0' } } }, doc) as typeof doc
  assert.equal(changed.store.redis.url, 'redis://:new@10.0.0.1:6379/0')
})

test('hmac credentials pair by key_id: dropping the first keeps the second one its own secret', () => {
  const two = { consumers: [{ name: 'c', credentials: { hmac_auth: [{ key_id: 'a', secret: 'a'.repeat(20) }, { key_id: 'b', secret: 'b'.repeat(20) }] } }] }
  const edited = { consumers: [{ name: 'c', credentials: { hmac_auth: [{ key_id: 'b', secret: REDACTED }] } }] }
  assert.deepEqual(restoreRedacted(edited, two), { consumers: [{ name: 'c', credentials: { hmac_auth: [{ key_id: 'b', secret: 'b'.repeat(20) }] } }] })
  // A new key_id has no stored secret: the placeholder stays, and the write is refused for it.
  const renamed = restoreRedacted({ consumers: [{ name: 'c', credentials: { hmac_auth: [{ key_id: 'z', secret: REDACTED }] } }] }, two)
  assert.deepEqual(placeholdersLeft(renamed), ['consumers[0].credentials.hmac_auth[0].secret'])
})

test('merge patch (RFC 7396): objects merge, null deletes, arrays replace; __proto__ stays a plain key', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { b: { c: null, x: 1 }, e: [2], f: 'y' }), { a: 1, b: { d: 3, x: 1 }, e: [2], f: 'y' })
  const evil = mergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>
  assert.equal(Object.getPrototypeOf(evil), Object.prototype)
  assert.ok(Object.hasOwn(evil, '__proto__'))
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
})

test('changes are per resource; put keeps order; remove removes; ETags follow content', () => {
  const next = remove(put(put(doc, 'routes', 'r2', { paths: ['/2'], upstream: 'u' }), 'upstreams', 'u', { targets: [{ url: 'http://u:2' }] }), 'consumers', 'c')
  assert.deepEqual(
    changes(doc, { ...next, log: { level: 'debug' } }).map((c) => [c.kind, c.name, c.op]),
    [['routes', 'r2', 'create'], ['upstreams', 'u', 'update'], ['consumers', 'c', 'delete'], ['settings', 'log', 'create']],
  )
  assert.equal(etagOf({ a: 1, b: 2 }), etagOf({ b: 2, a: 1 }))
  assert.notEqual(etagOf({ a: 1 }), etagOf({ a: 2 }))
})
