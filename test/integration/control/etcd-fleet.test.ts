// The fleet view with a real etcd and three real gateways (one set, used in order): they list each
// other in /admin/fleet (viewer token; no token 401); a write through A shows its revision in every
// record and none is behind, while a record with an older revision and other resources is; etcd
// stopped and started: the instances re-register; SIGTERM revokes the lease (the record goes at
// once, well before its 30 s TTL); SIGKILL leaves the record until its 2 s lease expires.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { Etcd3 } from 'etcd3'
import { request } from 'undici'
import { startEtcd, type EtcdServer } from '../../helpers/etcd.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

const PREFIX = '/portico-fleet-test/'
const FLEET = `${PREFIX}_fleet/`
const ADMIN = 'adm-token-0123456789abcdef'
const VIEWER = 'vie-token-0123456789abcdef'
const hex = (s: string) => createHash('sha256').update(s).digest('hex')

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

async function call(gw: Gateway, method: string, path: string, token: string | null = VIEWER, body?: unknown): Promise<{ status: number; text: string; json: Json }> {
  const headers: Record<string, string> = {}
  if (token !== null) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await request(`${gw.adminUrl}${path}`, { method: method as 'GET', headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.body.text()
  let json: Json = null
  try {
    json = JSON.parse(text)
  } catch {
    // metrics
  }
  return { status: res.statusCode, text, json }
}

const fleetOf = async (gw: Gateway): Promise<Json> => {
  const r = await call(gw, 'GET', '/admin/fleet')
  assert.equal(r.status, 200, r.text)
  return r.json
}

describe('fleet view on etcd, three instances', () => {
  let etcd: EtcdServer
  let origin: Origin
  let dir: string
  let client: Etcd3
  const gws: Gateway[] = []
  const ids = ['node-a', 'node-b', 'node-c']
  // A and B: a 2 s lease (a killed one goes quickly); C: 30 s, so its quick removal on SIGTERM
  // can only come from the revoke.
  const ttl = ['2s', '2s', '30s']

  const boot = (n: number) => ({
    admin: { tokens: [{ name: 'ops', role: 'admin', sha256: hex(ADMIN) }, { name: 'dash', role: 'viewer', sha256: hex(VIEWER) }] },
    config_center: { etcd: { endpoints: [etcd.url], prefix: PREFIX, timeout: '1s', cache_file: join(dir, `cache-${n}.json`), fleet: { node_id: ids[n], ttl: ttl[n] } } },
    upstreams: {},
    routes: [],
  })

  before(async () => {
    ;[etcd, origin, dir] = await Promise.all([startEtcd(), startOrigin(), mkdtemp(join(tmpdir(), 'portico-etcd-fleet-'))])
    client = new Etcd3({ hosts: [etcd.url] })
    gws.push(...(await Promise.all([0, 1, 2].map((n) => startGateway({ config: boot(n), args: ['--no-cluster'], readyTimeoutMs: 90_000 })))))
  })
  after(async () => {
    client?.close()
    await Promise.all(gws.map((g) => g.stop()))
    await origin?.close()
    await etcd?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('every instance lists the three; a viewer token reads, no token gets 401; /status and the metric agree', async () => {
    for (const g of gws) {
      await pollUntil(async () => (await fleetOf(g)).total === 3, { timeoutMs: 20_000, what: 'three records' })
    }
    const [a] = gws as [Gateway]
    const f = await fleetOf(a)
    assert.deepEqual(f.data.map((r: Json) => r.id), ids)
    assert.equal(f.registered, true)
    assert.equal(f.synced, true)
    assert.equal(f.prefix, FLEET)
    // The reply is what the OpenAPI document (schema/admin-openapi.json) says it is.
    const ajv = new Ajv2020({ strict: false, allErrors: true, formats: { 'date-time': true } })
    ajv.addSchema(JSON.parse(await readFile(new URL('../../../schema/admin-openapi.json', import.meta.url), 'utf8')), 'admin-openapi.json')
    const valid = ajv.compile({ $ref: 'admin-openapi.json#/components/schemas/Fleet' })
    assert.equal(valid(f), true, JSON.stringify(valid.errors))
    gws.forEach((g, i) => {
      const r = f.data[i]
      assert.equal(r.admin, `127.0.0.1:${g.adminPort}`)
      assert.deepEqual(r.listen, [{ address: `127.0.0.1:${g.port}`, proto: 'http' }])
      assert.equal(r.pid, g.pid)
      assert.equal(r.ready, true)
      assert.equal(r.behind, false)
      assert.equal(r.self, i === 0)
      assert.match(r.version, /^\d+\.\d+\.\d+/)
      assert.ok(Date.parse(r.started_at) <= Date.parse(r.updated_at))
    })
    // The record as stored in etcd, under the lease.
    const stored = JSON.parse((await client.get(`${FLEET}node-b`).string())!)
    assert.equal(stored.admin, `127.0.0.1:${gws[1]!.adminPort}`)

    const anon = await call(a, 'GET', '/admin/fleet', null)
    assert.equal(anon.status, 401)
    assert.equal(anon.json.error, 'unauthorized')

    const s = await call(a, 'GET', '/status')
    assert.equal(s.json.fleet.count, 3)
    assert.equal(s.json.fleet.behind, 0)
    assert.equal(s.json.fleet.id, 'node-a')
    assert.match((await call(a, 'GET', '/status?format=text')).text, /^fleet {2}3 instance\(s\), 0 behind {2}id node-a {2}registered$/m)
    const m = await call(a, 'GET', '/metrics')
    assert.match(m.text, /portico_fleet_instances\{state="current"\} 3/)
    assert.match(m.text, /portico_fleet_registered 1/)
  })

  test('a write through A: every record shows its revision and none is behind; an older record with other resources is', async () => {
    const [a, b] = gws as [Gateway, Gateway]
    assert.equal((await call(a, 'PUT', '/admin/upstreams/u', ADMIN, { targets: [{ url: origin.url }] })).status, 201)
    const w = await call(a, 'PUT', '/admin/routes/r', ADMIN, { paths: ['/r'], upstream: 'u' })
    assert.equal(w.status, 201, w.text)
    const written = BigInt((await call(a, 'GET', '/status')).json.config_center.revision)
    const f = await pollUntil(
      async () => {
        const f = await fleetOf(b)
        return f.total === 3 && f.data.every((r: Json) => BigInt(r.config.revision) >= written) ? f : null
      },
      { timeoutMs: 20_000, what: 'every record at the written revision' },
    )
    assert.equal(f.behind, 0)
    assert.equal(new Set(f.data.map((r: Json) => r.config.resources)).size, 1, 'the same resources everywhere')
    assert.ok(f.data.every((r: Json) => r.behind === false))

    // A record serving an older revision with other resources (as an instance whose watch is stuck would).
    const stale = { ...f.data[0], id: 'stuck', pid: 1, config: { ...f.data[0].config, revision: '2', resources: 'old' }, updated_at: new Date().toISOString() }
    await client.put(`${FLEET}stuck`).value(JSON.stringify(stale))
    const g = await pollUntil(async () => ((await fleetOf(b)).total === 4 ? fleetOf(b) : null), { timeoutMs: 10_000, what: 'the stuck record' })
    assert.deepEqual(g.data.filter((r: Json) => r.behind).map((r: Json) => r.id), ['stuck'])
    assert.equal(g.behind, 1)
    assert.equal((await call(b, 'GET', '/status')).json.fleet.behind, 1)
    assert.match((await call(b, 'GET', '/metrics')).text, /portico_fleet_instances\{state="behind"\} 1/)
    await client.delete().key(`${FLEET}stuck`)
    await pollUntil(async () => (await fleetOf(b)).total === 3, { timeoutMs: 10_000, what: 'the stuck record gone' })
  })

  test('etcd stopped and started: the instances re-register, traffic serves throughout', async () => {
    const [a, b] = gws as [Gateway, Gateway]
    await etcd.stop()
    // A and B (2 s leases) notice their leases cannot be kept (2 × TTL without a keepalive).
    for (const g of [a, b]) await pollUntil(async () => (await call(g, 'GET', '/status')).json.fleet.registered === false, { timeoutMs: 30_000, what: 'lease lost' })
    const during = await call(a, 'GET', '/admin/fleet')
    assert.equal(during.status, 200, 'the last known records answer while etcd is down')
    assert.equal(during.json.synced, false)
    const served = await request(`${a.url}/r`)
    await served.body.dump()
    assert.equal(served.statusCode, 200, 'traffic serves while etcd is down')
    const restarted = Date.now()
    await etcd.start()
    const f = await pollUntil(
      async () => {
        const f = await fleetOf(a)
        const fresh = f.data.filter((r: Json) => (r.id === 'node-a' || r.id === 'node-b') && Date.parse(r.updated_at) >= restarted)
        return f.synced && f.registered && f.total === 3 && fresh.length === 2 ? f : null
      },
      { timeoutMs: 60_000, what: 'A and B registered again after the restart' },
    )
    assert.equal(f.behind, 0)
    assert.equal((await call(b, 'GET', '/status')).json.fleet.registered, true)
  })

  test('SIGTERM: the lease is revoked and the record goes at once (its TTL is 30 s)', async () => {
    const [a, , c] = gws as [Gateway, Gateway, Gateway]
    await pollUntil(async () => (await fleetOf(a)).data.some((r: Json) => r.id === 'node-c'), { timeoutMs: 20_000, what: 'C listed' })
    // After the etcd restart above, C's own client may still be reconnecting (its breaker open): the
    // revoke is only promised while C is connected, so wait for that first.
    await pollUntil(async () => (await call(c, 'GET', '/status')).json.config_center?.connected === true, { timeoutMs: 30_000, what: 'C connected to etcd again' })
    const exit = await c.stop()
    assert.equal(exit.code, 0)
    assert.match(c.stdout() + c.stderr(), /fleet: lease revoked/)
    assert.equal(await client.get(`${FLEET}node-c`).string(), null, 'gone from etcd when the process has exited')
    await pollUntil(async () => !(await fleetOf(a)).data.some((r: Json) => r.id === 'node-c'), { timeoutMs: 10_000, what: 'C gone from A' })
  })

  test('SIGKILL: the record goes when its 2 s lease expires', async () => {
    const [a, b] = gws as [Gateway, Gateway]
    process.kill(-b.pid, 'SIGKILL')
    await b.exited
    await pollUntil(async () => (await fleetOf(a)).total === 1, { timeoutMs: 30_000, what: 'B gone after its lease expired' })
    assert.equal(await client.get(`${FLEET}node-b`).string(), null)
    assert.match((await call(a, 'GET', '/metrics')).text, /portico_fleet_instances\{state="current"\} 1/)
  })
})
