// etcd as the config center, with a real etcd (Debian etcd-server) and three gateway instances on
// it (one in cluster mode): a write through one instance's admin API serves on the others; two writers holding the same
// ETag on different instances, exactly one wins; a resource written into etcd directly that fails
// validation is isolated and the rest serves; etcd stopped and started under load fails no request
// and the watch resumes; an instance started while etcd is down serves its cached last document.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { request } from 'undici'
import { startEtcd, type EtcdServer } from '../../helpers/etcd.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

const PREFIX = '/portico-test/'

async function call(gw: Gateway, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await request(`${gw.adminUrl}${path}`, {
    method: method as 'GET',
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.body.text()
  return { status: res.statusCode, etag: res.headers.etag as string | undefined, text, json: JSON.parse(text) as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function status(gw: Gateway, path: string): Promise<number> {
  const res = await request(`${gw.url}${path}`)
  await res.body.dump()
  return res.statusCode
}

describe('etcd config center, three instances', () => {
  let etcd: EtcdServer
  let origin: Origin
  let dir: string
  const gws: Gateway[] = []
  let client: Etcd3

  const boot = (n: number) => ({
    config_center: { etcd: { endpoints: [etcd.url], prefix: PREFIX, timeout: '1s', cache_file: join(dir, `cache-${n}.json`) } },
    upstreams: {},
    routes: [],
  })

  before(async () => {
    ;[etcd, origin, dir] = await Promise.all([startEtcd(), startOrigin(), mkdtemp(join(tmpdir(), 'portico-etcd-center-'))])
    client = new Etcd3({ hosts: [etcd.url] })
    // B runs in cluster mode (two workers): the etcd source feeds the same reload as a file does.
    gws.push(...(await Promise.all([0, 1, 2].map((n) => startGateway({ config: boot(n), args: n === 1 ? ['--workers', '2'] : ['--no-cluster'], readyTimeoutMs: 90_000 })))))
  })
  after(async () => {
    client?.close()
    await Promise.all(gws.map((g) => g.stop()))
    await origin?.close()
    await etcd?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('a write through instance A serves on B and C; one key per resource in etcd', async () => {
    const [a, b, c] = gws as [Gateway, Gateway, Gateway]
    assert.equal((await call(a, 'PUT', '/admin/upstreams/u', { targets: [{ url: origin.url }] })).status, 201)
    const r = await call(a, 'PUT', '/admin/routes/r', { paths: ['/r'], upstream: 'u' })
    assert.equal(r.status, 201, r.text)
    assert.equal(await status(a, '/r'), 200, 'A serves when its write returns')
    for (const g of [b, c]) await pollUntil(async () => (await status(g, '/r')) === 200, { timeoutMs: 15_000, what: 'route r on another instance' })
    assert.deepEqual(JSON.parse((await client.get(`${PREFIX}routes/r`).string())!), { paths: ['/r'], upstream: 'u', name: 'r' })
    assert.ok((await client.get(`${PREFIX}upstreams/u`).string()) !== null)
    // The fleet view is on by default; B (cluster mode) lists all three, in the same revision.
    await pollUntil(async () => {
      const f = (await call(b, 'GET', '/admin/fleet')).json
      return f.total === 3 && f.behind === 0 && new Set(f.data.map((r: { config: { resources: string } }) => r.config.resources)).size === 1
    }, { timeoutMs: 15_000, what: 'the fleet from B' })
    assert.match(await (await request(`${b.adminUrl}/metrics`)).body.text(), /portico_fleet_instances\{state="current"\} 3/)
  })

  test('two instances, one ETag: exactly one write wins', async () => {
    const [a, b] = gws as [Gateway, Gateway]
    const etag = (await call(a, 'GET', '/admin/routes/r')).etag!
    await pollUntil(async () => (await call(b, 'GET', '/admin/routes/r')).etag === etag, { timeoutMs: 10_000, what: 'B has the same route' })
    const [x, y] = await Promise.all([
      call(a, 'PATCH', '/admin/routes/r', { priority: 1 }, { 'if-match': etag }),
      call(b, 'PATCH', '/admin/routes/r', { priority: 2 }, { 'if-match': etag }),
    ])
    assert.deepEqual([x.status, y.status].sort(), [200, 412], `${x.text} ${y.text}`)
    const winner = x.status === 200 ? 1 : 2
    for (const g of gws) await pollUntil(async () => (await call(g, 'GET', '/admin/routes/r')).json.data.priority === winner, { timeoutMs: 10_000, what: 'the winner everywhere' })
  })

  test("a write over etcd's --max-txn-ops (default 128) is refused whole, saying so; nothing is written and the old config serves", async () => {
    const a = gws[0]!
    const current = await call(a, 'GET', '/admin/config')
    const doc = current.json.data as { routes: Array<Record<string, unknown>> }
    const bulk = Array.from({ length: 130 }, (_, i) => ({ name: `bulk-${i}`, paths: [`/bulk/${i}`], upstream: 'u' }))
    const r = await call(a, 'PUT', '/admin/config', { ...doc, routes: [...doc.routes, ...bulk] }, { 'if-match': current.etag! })
    assert.equal(r.status, 422, r.text)
    assert.equal(r.json.error, 'config_rejected')
    assert.match(JSON.stringify(r.json.errors), /130 changed resources .* over its --max-txn-ops .*nothing was written/)
    assert.equal((await client.getAll().prefix(`${PREFIX}routes/bulk-`).keys()).length, 0)
    assert.equal(await status(a, '/bulk/0'), 404)
    assert.equal(await status(a, '/r'), 200)
  })

  test('an invalid resource written into etcd directly is isolated; the rest serves', async () => {
    await client.put(`${PREFIX}routes/broken`).value(JSON.stringify({ name: 'broken', paths: ['/broken'], upstream: 'missing' }))
    await client.put(`${PREFIX}routes/notjson`).value('{nope')
    await client.put(`${PREFIX}routes/good`).value(JSON.stringify({ name: 'good', paths: ['/good'], upstream: 'u' }))
    for (const g of gws) {
      await pollUntil(async () => (await status(g, '/good')) === 200, { timeoutMs: 15_000, what: 'route good' })
      assert.equal(await status(g, '/r'), 200)
      assert.equal(await status(g, '/broken'), 404)
      const s = await call(g, 'GET', '/status')
      const isolated = (s.json.config_center.isolated as Array<{ name: string; errors: Array<{ path: string }> }>).map((i) => i.name).sort()
      assert.deepEqual(isolated, ['broken', 'notjson'])
      const m = await request(`${g.adminUrl}/metrics`)
      assert.match(await m.body.text(), /portico_config_isolated_resources\{kind="routes"\} 2/)
    }
    // The API still writes while something else is isolated.
    assert.equal((await call(gws[0]!, 'PATCH', '/admin/routes/good', { priority: 5 })).status, 200)
    await client.delete().key(`${PREFIX}routes/broken`)
    await client.delete().key(`${PREFIX}routes/notjson`)
    for (const g of gws) await pollUntil(async () => (await call(g, 'GET', '/status')).json.config_center.isolated.length === 0, { timeoutMs: 15_000, what: 'isolation cleared' })
  })

  test('etcd stopped and started under load: no request fails, the watch resumes', async () => {
    const [a, b, c] = gws as [Gateway, Gateway, Gateway]
    let failed = 0
    let sent = 0
    let stop = false
    const load = (async () => {
      while (!stop) {
        for (const g of [a, b, c]) {
          sent++
          if ((await status(g, '/r').catch(() => 0)) !== 200) failed++
        }
      }
    })()
    // The load stops whatever the outcome: a failed assertion must not leave it running (the file's
    // process would never exit and node:test would wait out its whole timeout).
    try {
      await etcd.stop()
      await pollUntil(async () => (await call(b, 'GET', '/status')).json.config_center.connected === false, { timeoutMs: 30_000, what: 'B notices etcd is gone' })
      const refused = await call(a, 'PUT', '/admin/routes/during', { paths: ['/during'], upstream: 'u' })
      assert.equal(refused.status, 422, 'no write while etcd is down')
      await etcd.start()
      // Every instance, A included: the write goes through A, which reconnects on its own schedule.
      for (const g of [a, b, c]) await pollUntil(async () => (await call(g, 'GET', '/status')).json.config_center.connected === true, { timeoutMs: 30_000, what: 'each instance reconnects' })
      const w = await call(a, 'PUT', '/admin/routes/after', { paths: ['/after'], upstream: 'u' })
      assert.equal(w.status, 201, w.text)
      for (const g of [b, c]) await pollUntil(async () => (await status(g, '/after')) === 200, { timeoutMs: 30_000, what: 'a write after the restart' })
    } finally {
      stop = true
      await load
    }
    assert.ok(sent > 0)
    assert.equal(failed, 0, `${failed} of ${sent} requests failed`)
  })

  test('an instance restarting while etcd is down serves its cached document and says so in /readyz', async () => {
    const c = gws[2]!
    await c.stop()
    await etcd.stop()
    const again = await startGateway({ config: boot(2), args: ['--no-cluster'], readyTimeoutMs: 60_000 })
    gws[2] = again
    assert.equal(await status(again, '/r'), 200)
    assert.equal(await status(again, '/after'), 200)
    const ready = await call(again, 'GET', '/readyz')
    assert.equal(ready.status, 200)
    assert.match(ready.json.detail, /serving the cached config from .*cache-2\.json/)
    await etcd.start()
    await pollUntil(async () => (await call(again, 'GET', '/readyz')).json.detail === undefined, { timeoutMs: 30_000, what: 'following etcd again' })
    assert.equal((await call(gws[0]!, 'PUT', '/admin/routes/back', { paths: ['/back'], upstream: 'u' })).status, 201)
    await pollUntil(async () => (await status(again, '/back')) === 200, { timeoutMs: 30_000, what: 'the restarted instance follows etcd' })
  })
})
