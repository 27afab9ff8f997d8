// Secrets sealed at rest in a real etcd (config_center.etcd.secrets): a consumer's key written
// through the admin API is stored as "sealed:…" (etcdctl shows no credential) and serves; a sealed
// value copied into another resource is isolated, not used; after a rotation (new key, the old one
// in previous_encryption_keys) an instance still opens what the old key sealed, and one without
// the key isolates the sealed resource and says why.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { request } from 'undici'
import { startEtcd, type EtcdServer } from '../../helpers/etcd.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

const PREFIX = '/portico-secrets/'
const KEY = 'alice-key-0123456789-abcdef'
const OLD = randomBytes(32).toString('base64')
const NEW = randomBytes(32).toString('base64')
let etcd: EtcdServer
let origin: Origin
let dir: string
let client: Etcd3
const gateways: Gateway[] = []

before(async () => {
  ;[etcd, origin, dir] = await Promise.all([startEtcd(), startOrigin(), mkdtemp(join(tmpdir(), 'portico-etcd-secrets-'))])
  client = new Etcd3({ hosts: [etcd.url] })
})
after(async () => {
  client?.close()
  await Promise.all(gateways.map((g) => g.stop()))
  await origin?.close()
  await etcd?.close()
  await rm(dir, { recursive: true, force: true })
})

async function start(n: number, secrets: Record<string, unknown> | undefined): Promise<Gateway> {
  const gw = await startGateway({
    args: ['--no-cluster'],
    env: { SEALING_KEY: NEW, OLD_SEALING_KEY: OLD, FIRST_KEY: OLD },
    config: {
      config_center: { etcd: { endpoints: [etcd.url], prefix: PREFIX, timeout: '2s', cache_file: join(dir, `cache-${n}.json`), fleet: { enabled: false }, ...(secrets === undefined ? {} : { secrets }) } },
      upstreams: {},
      routes: [],
    },
  })
  gateways.push(gw)
  return gw
}

const admin = async (gw: Gateway, method: string, path: string, body?: unknown) => {
  const r = await request(`${gw.adminUrl}${path}`, { method: method as 'PUT', headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: r.statusCode, text: await r.body.text() }
}
const get = async (gw: Gateway, apikey?: string) => {
  const r = await request(`${gw.url}/private/x`, { headers: apikey === undefined ? {} : { apikey } })
  await r.body.dump()
  return r.statusCode
}
const isolated = async (gw: Gateway) => {
  const s = JSON.parse(await (await request(`${gw.adminUrl}/status`)).body.text()) as { config_center: { isolated: Array<{ name: string; errors: Array<{ path: string; message: string }> }> } }
  return s.config_center.isolated
}

test('a key written through the admin API is sealed in etcd and serves; copied elsewhere it is isolated', async () => {
  const a = await start(0, { encryption_key: '${env:FIRST_KEY}' })
  assert.equal((await admin(a, 'PUT', '/admin/upstreams/u', { targets: [{ url: origin.url }] })).status, 201)
  assert.equal((await admin(a, 'PUT', '/admin/routes/private', { paths: ['/private/*'], upstream: 'u', plugins: [{ name: 'key-auth' }] })).status, 201)
  const put = await admin(a, 'PUT', '/admin/consumers/alice', { credentials: { key_auth: [KEY] } })
  assert.equal(put.status, 201, put.text)

  const raw = (await client.get(`${PREFIX}consumers/alice`).string())!
  assert.ok(!raw.includes(KEY), 'no plaintext key in etcd')
  assert.match(raw, /"key_auth":\["sealed:pe1\./)
  assert.equal(await get(a, KEY), 200, 'the sealed key opens and authenticates')
  assert.equal(await get(a, 'wrong-key-0123456789'), 401)

  // The same sealed value under another consumer: bound to consumers/alice, it does not open there.
  await client.put(`${PREFIX}consumers/mallory`).value(raw)
  await pollUntil(async () => (await isolated(a)).some((i) => i.name === 'mallory'), { timeoutMs: 15_000, what: 'mallory isolated' })
  const m = (await isolated(a)).find((i) => i.name === 'mallory')!
  assert.equal(m.errors[0]!.path, 'credentials.key_auth[0]')
  assert.match(m.errors[0]!.message, /does not authenticate/)
  assert.equal(await get(a, KEY), 200, 'alice still serves')
  await client.delete().key(`${PREFIX}consumers/mallory`)
})

test('after a rotation the old key still opens; without any key the sealed resource is isolated', async () => {
  const rotated = await start(1, { encryption_key: '${env:SEALING_KEY}', previous_encryption_keys: ['${env:OLD_SEALING_KEY}'] })
  assert.equal(await get(rotated, KEY), 200, 'sealed with the old key, opened after the rotation')
  // A write on the rotated instance seals with the new key.
  assert.equal((await admin(rotated, 'PUT', '/admin/consumers/bob', { credentials: { key_auth: ['bob-key-0123456789-abcdef'] } })).status, 201)
  const bob = (await client.get(`${PREFIX}consumers/bob`).string())!
  const alice = (await client.get(`${PREFIX}consumers/alice`).string())!
  const kid = (v: string) => /"sealed:pe1\.([0-9a-f]{8})\./.exec(v)![1]
  assert.notEqual(kid(bob), kid(alice), 'new writes use the new key')

  const keyless = await start(2, undefined)
  await pollUntil(async () => (await isolated(keyless)).some((i) => i.name === 'alice'), { timeoutMs: 15_000, what: 'alice isolated without a key' })
  assert.match((await isolated(keyless)).find((i) => i.name === 'alice')!.errors[0]!.message, /encryption_key is not set/)
  assert.equal(await get(keyless, KEY), 401, 'an unopened key authenticates nobody')
})
