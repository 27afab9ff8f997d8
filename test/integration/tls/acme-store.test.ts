// The fleet-mode ACME storage (src/tls/acme/store-storage.ts) on a real redis-server, and the same
// scripts on the memory Store: what lands in Redis is sealed (no PEM, no key in clear), a value
// opens only under its own key name and a configured key, the lock is exclusive with growing
// fences, expires when its holder stops renewing, is released only by its owner, and a write by a
// holder whose lock was taken over is refused. Publications reach a watcher.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { pollUntil } from '../../helpers/poll.js'
import { RedisStore } from '../../../src/state/redis.js'
import { MemoryStore } from '../../../src/state/memory.js'
import { AcmeStoreStorage } from '../../../src/tls/acme/store-storage.js'
import { Envelope } from '../../../src/core/envelope.js'
import { parseEncryptionKey } from '../../../src/config/tls-checks.js'
import { FencedOutError } from '../../../src/tls/acme/storage.js'
import type { Store } from '../../../src/state/store.js'

let redis: RedisServer
let store: RedisStore
let raw: Redis

const KEY = randomBytes(32)
const envelope = new Envelope(KEY)
const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n'
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nsecretkeymaterial\n-----END PRIVATE KEY-----\n'

before(async () => {
  redis = await startRedis()
  store = new RedisStore({ url: redis.url, timeoutMs: 2000, prefix: 'portico:' })
  await store.ready(5000)
  raw = new Redis(redis.url)
})
after(async () => {
  raw?.disconnect()
  await store?.close()
  await redis?.close()
})

const storage = (s: Store, env = envelope) => new AcmeStoreStorage(s, { directoryUrl: 'https://ca.test/dir', envelope: env })

test('encryption key forms: hex and base64 of 32 bytes; anything else named, never echoed', () => {
  assert.deepEqual(parseEncryptionKey(KEY.toString('hex')), KEY)
  assert.deepEqual(parseEncryptionKey(KEY.toString('base64')), KEY)
  assert.deepEqual(parseEncryptionKey(KEY.toString('base64url')), KEY)
  assert.throws(() => parseEncryptionKey('hunter2'), (e: Error) => /32 bytes/.test(e.message) && !e.message.includes('hunter2'))
  assert.throws(() => parseEncryptionKey(randomBytes(16).toString('base64')), /32 bytes/)
})

test('what the store holds is sealed; it opens under its own key name and a configured key only', async () => {
  const s = storage(store)
  await s.saveAccountKey(PEM_KEY)
  await s.saveAccountUrl('https://ca.test/acct/1')
  await s.saveCertificate({ name: 'shop', certPem: PEM_CERT, keyPem: PEM_KEY, names: ['shop.test'] }, { issued_at: 'now' })
  const keys = await raw.keys('portico:acme:*')
  assert.ok(keys.includes('portico:acme:{cert:shop}'), keys.join())
  for (const k of keys) {
    const t = await raw.type(k)
    if (t !== 'string') continue
    const v = (await raw.get(k))!
    assert.ok(!v.includes('BEGIN'), `${k} holds PEM in clear`)
    assert.ok(!v.includes('secretkeymaterial') && !v.includes('ca.test/acct'), `${k} holds a secret in clear`)
  }
  const sealed = (await raw.get('portico:acme:{cert:shop}'))!
  assert.match(sealed, /^pe1\.[0-9a-f]{8}\./)
  // Read back, also by a second instance with the same key.
  const other = storage(store, new Envelope(Buffer.from(KEY)))
  assert.equal((await other.certificate('shop'))?.keyPem, PEM_KEY)
  assert.equal(await other.accountKey(), PEM_KEY)
  assert.equal(await other.accountUrl(), 'https://ca.test/acct/1')
  assert.deepEqual(await other.certificateNames(), ['shop'])
  // A value copied over another key does not open (the key name is authenticated).
  const acctKey = keys.find((k) => k.endsWith(':key'))!
  await raw.set(acctKey, sealed)
  await assert.rejects(other.accountKey(), /does not authenticate/)
  // A wrong key: the error names the key id, not a key.
  const stranger = storage(store, new Envelope(randomBytes(32)))
  await assert.rejects(stranger.certificate('shop'), (e: Error) => e.message.includes(envelope.keyId) && !e.message.includes(KEY.toString('base64')))
  // Rotation: the new key seals, the previous one still opens the old values.
  const rotated = storage(store, new Envelope(randomBytes(32), [KEY]))
  assert.equal((await rotated.certificate('shop'))?.certPem, PEM_CERT)
})

test('the account key: the first instance to save it wins, the others use it', async () => {
  const s1 = new AcmeStoreStorage(store, { directoryUrl: 'https://other-ca.test/dir', envelope })
  const s2 = new AcmeStoreStorage(store, { directoryUrl: 'https://other-ca.test/dir', envelope })
  const [a, b] = await Promise.all([s1.saveAccountKey('key-one'), s2.saveAccountKey('key-two')])
  assert.equal(a, b)
  assert.equal(await s1.accountKey(), a)
  for (const k of await raw.keys('portico:acme:account:*:key')) assert.equal(await raw.pttl(k), -1, 'the account key never expires')
})

for (const [label, make] of [
  ['redis', () => store],
  ['memory', () => new MemoryStore()],
] as const) {
  test(`lock (${label}): exclusive, growing fences, owner-only release`, async () => {
    const s = storage(make())
    const name = `lock-${label}`
    const a = await s.lock(name, 10_000)
    assert.ok(a !== null)
    assert.equal(await s.lock(name, 10_000), null, 'a second holder while the first holds it')
    await a.release()
    const b = await s.lock(name, 10_000)
    assert.ok(b !== null && b.fence > a.fence)
    // A release by a holder whose lock is gone deletes nothing of the next holder's.
    await a.release()
    assert.equal(await s.lock(name, 10_000), null)
    await b.release()
  })
}

test('lock: a crashed holder (no more renewals) frees it after its ttl; its late write is refused', async () => {
  const s = storage(store)
  // The "crashed" instance: its own connection, closed while it holds the lock.
  const doomedStore = new RedisStore({ url: redis.url, timeoutMs: 2000, prefix: 'portico:' })
  await doomedStore.ready(5000)
  const c = (await storage(doomedStore).lock('crash', 600))!
  assert.ok(c !== null)
  assert.match((await s.lockHolder('crash'))!, new RegExp(`/${process.pid}/`), 'the owner token names host and pid')
  await doomedStore.close()
  assert.equal(await s.lock('crash', 10_000), null, 'still held right after the crash')
  // The holder itself, cut off from Redis, counts its lock as lost once a ttl passed without a renewal.
  await pollUntil(() => c.lost, { timeoutMs: 5000, what: 'the cut-off holder counting its lock lost' })
  const d = await pollUntil(() => s.lock('crash', 10_000), { timeoutMs: 10_000, intervalMs: 50, what: 'the expired lock taken over' })
  assert.ok(d.fence > c.fence)
  const cert = { name: 'crash', certPem: PEM_CERT, keyPem: PEM_KEY, names: ['x.test'] }
  // The old holder's late write (its fence) is refused; the newer holder's stands.
  await assert.rejects(s.saveCertificate({ ...cert, keyPem: 'stale' }, {}, c), FencedOutError)
  await s.saveCertificate(cert, {}, d)
  assert.equal((await s.certificate('crash'))?.keyPem, PEM_KEY)
  assert.equal(d.lost, false)
  await d.release()
  assert.equal(await raw.exists('portico:acme:{cert:crash}:lock'), 0)
})

test('lock: renewed while held (outlives its ttl), lost when taken over', async () => {
  const s = storage(store)
  const t0 = Date.now()
  const l = (await s.lock('renew', 300))!
  // Several ttls later it is still held, by the same owner.
  await pollUntil(async () => Date.now() > t0 + 1200 && (await raw.get('portico:acme:{cert:renew}:lock')) === l.owner, { timeoutMs: 5000, what: 'the lock held past its ttl' })
  assert.equal(await s.lock('renew', 300), null)
  assert.equal(l.lost, false)
  // Someone else has it now (an expiry during a Redis stall, say): the old holder learns it.
  await raw.set('portico:acme:{cert:renew}:lock', 'someone-else', 'PX', 10_000)
  await pollUntil(() => l.lost, { timeoutMs: 5000, what: 'the holder noticing the loss' })
  await l.release()
  assert.equal(await raw.get('portico:acme:{cert:renew}:lock'), 'someone-else', 'release deletes only its own lock')
})

test('publications reach watchers (pub/sub, and the version poll)', async () => {
  const s = storage(store)
  let seen = 0
  const stop = await s.watch(() => seen++)
  await s.saveCertificate({ name: 'pub', certPem: PEM_CERT, keyPem: PEM_KEY, names: ['pub.test'] }, {})
  await pollUntil(() => seen > 0, { timeoutMs: 5000, what: 'the publication' })
  await stop()
})
