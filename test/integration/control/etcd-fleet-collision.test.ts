// Two instances on one etcd configured with the same fleet node_id (a copy-pasted bootstrap file,
// two pods given one name). The code says it and does not refuse it (fleet.ts, #register): what a
// user sees is asserted here.
// - The second to register logs a warning naming the key and the other process (hostname, pid,
//   started_at); the first logs one too, when the watch shows it the other's record.
// - There is one record, `<fleet prefix>twin`, holding whichever instance wrote last; /admin/fleet
//   and /status list one instance, `self` only on the instance whose record it is.
// - Both keep serving traffic and both follow etcd.
// - The one holding the record stops (SIGTERM revokes its lease, which deletes the key): the other,
//   still live, writes its record again at once (TTL 30 s, so that is not a lease expiry at work).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { request } from 'undici'
import { startEtcd, type EtcdServer } from '../../helpers/etcd.js'
import { adminJson, startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

const PREFIX = '/portico-fleet-collision/'
const KEY = `${PREFIX}_fleet/twin`

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

async function put(gw: Gateway, path: string, body: unknown): Promise<number> {
  const res = await request(`${gw.adminUrl}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  await res.body.dump()
  return res.statusCode
}

async function served(gw: Gateway, path: string): Promise<string | null> {
  const res = await request(`${gw.url}${path}`)
  const text = await res.body.text()
  return res.statusCode === 200 ? text : null
}

describe('fleet: two instances with the same node_id', () => {
  let etcd: EtcdServer
  let dir: string
  let client: Etcd3
  let a: Gateway
  let b: Gateway

  const boot = (n: string) => ({
    log: { level: 'info' },
    config_center: { etcd: { endpoints: [etcd.url], prefix: PREFIX, timeout: '2s', cache_file: join(dir, `cache-${n}.json`), fleet: { node_id: 'twin', ttl: '30s' } } },
    upstreams: {},
    routes: [],
  })
  const stored = async (): Promise<Json> => {
    const v = await client.get(KEY).string()
    return v === null ? null : JSON.parse(v)
  }

  before(async () => {
    ;[etcd, dir] = await Promise.all([startEtcd(), mkdtemp(join(tmpdir(), 'portico-fleet-collision-'))])
    client = new Etcd3({ hosts: [etcd.url] })
    // A first, registered, then B: B is the one that finds the key held.
    a = await startGateway({ config: boot('a'), args: ['--no-cluster'] })
    await pollUntil(async () => (await stored())?.pid === a.pid, { timeoutMs: 30_000, what: "A's record" })
    b = await startGateway({ config: boot('b'), args: ['--no-cluster'] })
  })
  after(async () => {
    client?.close()
    await Promise.all([a?.stop(), b?.stop()])
    await etcd?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('both warn, naming the node_id and the other process', async () => {
    await b.waitForOutput(/another instance holds this node_id/, 30_000)
    const warning = (gw: Gateway) => gw.stdout().split('\n').find((l) => l.includes('another instance holds this node_id'))
    const wb = JSON.parse(warning(b)!)
    assert.equal(wb.level, 40)
    assert.equal(wb.key, KEY)
    assert.equal(wb.other.pid, a.pid)
    assert.match(wb.msg, /give each instance its own config_center\.etcd\.fleet\.node_id/)
    // A registered first and found nothing; it learns of B from the watch.
    await a.waitForOutput(/another instance holds this node_id/, 30_000)
    const wa = JSON.parse(warning(a)!)
    assert.equal(wa.key, KEY)
    assert.equal(wa.other.pid, b.pid)
  })

  test('one record: /admin/fleet and /status on both list one instance, self only where it is that process', async () => {
    await pollUntil(async () => (await stored())?.pid === b.pid, { timeoutMs: 30_000, what: "B's record (the last written)" })
    for (const gw of [a, b]) {
      const f = await pollUntil(async () => {
        const r = await adminJson<Json>(gw, '/admin/fleet')
        return r.body.total === 1 && r.body.data[0].pid === b.pid ? r.body : null
      }, { timeoutMs: 30_000, what: 'the one record in the view' })
      assert.equal(f.id, 'twin')
      assert.equal(f.key, KEY)
      assert.equal(f.registered, true)
      assert.equal(f.data[0].id, 'twin')
      assert.equal(f.data[0].self, gw === b, 'self marks the record of this process only')
      const s = (await adminJson<Json>(gw, '/status')).body
      assert.equal(s.fleet.id, 'twin')
      assert.equal(s.fleet.registered, true)
      assert.equal(s.fleet.count, 1)
    }
  })

  test('both serve traffic and follow etcd', async () => {
    assert.equal(await put(a, '/admin/upstreams/u', { targets: [{ url: 'http://127.0.0.1:9' }] }), 201)
    assert.equal(await put(a, '/admin/routes/hello', { paths: ['/hello'], upstream: 'u', plugins: [{ name: 'mock', config: { body: 'hi' } }] }), 201)
    for (const gw of [a, b]) await pollUntil(async () => (await served(gw, '/hello')) === 'hi', { timeoutMs: 30_000, what: '/hello served' })
    // Each reload rewrites the record of the instance that reloaded: it holds one of the two.
    const written = BigInt((await adminJson<Json>(a, '/status')).body.config_center.revision)
    const r = await pollUntil(async () => {
      const r = await stored()
      return r !== null && r.config.revision !== null && BigInt(r.config.revision) >= written ? r : null
    }, { timeoutMs: 30_000, what: 'a record at the written revision' })
    assert.ok([a.pid, b.pid].includes(r.pid), `the record is one of the two (${r.pid})`)
  })

  test("the holder stops (its revoke deletes the key): the live one writes its record again", async () => {
    const holder = (await stored())!.pid === a.pid ? a : b
    const survivor = holder === a ? b : a
    const exit = await holder.stop()
    assert.equal(exit.code, 0)
    assert.match(holder.stdout(), /fleet: lease revoked; record removed/)
    const r = await pollUntil(async () => {
      const r = await stored()
      return r?.pid === survivor.pid ? r : null
    }, { timeoutMs: 20_000, what: "the survivor's record back (its TTL is 30 s: not an expiry)" })
    assert.equal(r.id, 'twin')
    await survivor.waitForOutput(/fleet: this instance's record was deleted while it is live/, 10_000)
    const f = await pollUntil(async () => {
      const f = (await adminJson<Json>(survivor, '/admin/fleet')).body
      return f.total === 1 && f.data[0].pid === survivor.pid ? f : null
    }, { timeoutMs: 20_000, what: 'the survivor listed' })
    assert.equal(f.data[0].self, true)
    assert.equal(f.registered, true)
    assert.equal(await served(survivor, '/hello'), 'hi')
  })
})
