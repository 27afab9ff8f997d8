// ZooKeeper as the config center, against a real ZooKeeper (test/helpers/zookeeper.ts: the Debian
// package's server, standalone, on a free port). One gateway (then its restart): znodes under the
// root serve and follow through watches; admin writes create / setData the znodes with the version
// held; an invalid znode is refused (the resource keeps its last valid version, the znode is
// named); ZooKeeper stopped keeps the config serving (metric, 422 on writes) and its restart
// re-establishes the session and the watches; a restart with ZooKeeper down serves the
// last-known-good cache and then picks up what changed while the gateway was away. The
// version-checked write is also driven in-process, where a concurrent change can be timed.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from 'node-zookeeper-client'
import { request } from 'undici'
import { connectZkClient, startZookeeper, type ZkServer } from '../../helpers/zookeeper.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'
import { ZookeeperSource } from '../../../src/control/sources/zookeeper.js'
import { createLogger } from '../../../src/observability/logger.js'

const ROOT = '/portico-test'

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

const center = async (gw: Gateway) => (await call(gw, 'GET', '/status')).json.config_center as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const zcall = <T>(f: (cb: (err: unknown, v: T) => void) => void) =>
  new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(v))))

describe('ZooKeeper config center (real ZooKeeper)', () => {
  let zk: ZkServer
  let origin: Origin
  let dir: string
  let gw: Gateway
  let admin: Client

  const boot = () => ({
    config_center: { zookeeper: { servers: [zk.connect], root: ROOT, session_timeout: '10s', timeout: '1s', cache_file: join(dir, 'zk-cache.json') } },
    upstreams: {},
    routes: [],
  })
  const start = () => startGateway({ config: boot(), args: ['--no-cluster'] })
  const put = async (path: string, value: unknown) => {
    const data = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
    await zcall<string>((cb) => admin.mkdirp(path.slice(0, path.lastIndexOf('/')), cb))
    try {
      await zcall<string>((cb) => admin.create(path, data, cb))
    } catch {
      await zcall((cb) => admin.setData(path, data, cb))
    }
  }
  const get = async (path: string) => {
    const [data, stat] = await new Promise<[Buffer, { version: number }]>((resolve, reject) => admin.getData(path, (err, d, st) => (err ? reject(err) : resolve([d, st as never]))))
    return { value: JSON.parse(data.toString()) as Record<string, unknown>, version: stat.version }
  }

  /** The test's own client; a new one after each server restart (an old session may never be taken back). */
  const connectAdmin = async () => {
    admin?.close()
    admin = await connectZkClient(zk.connect, { sessionTimeout: 10_000 })
  }

  before(async () => {
    ;[zk, origin, dir] = await Promise.all([startZookeeper(), startOrigin(), mkdtemp(join(tmpdir(), 'portico-zk-center-'))])
    await connectAdmin()
    await put(`${ROOT}/upstreams/u`, { targets: [{ url: origin.url }] })
    await put(`${ROOT}/routes/r`, { paths: ['/r'], upstream: 'u' })
    gw = await start()
  })
  after(async () => {
    await gw?.stop()
    admin?.close()
    await origin?.close()
    await zk?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('znodes under the root serve; creates, changes and deletes follow through watches', { timeout: 60_000 }, async () => {
    assert.equal(await status(gw, '/r'), 200)
    await put(`${ROOT}/routes/r2`, { paths: ['/r2'], upstream: 'u' })
    await pollUntil(async () => (await status(gw, '/r2')) === 200, { timeoutMs: 15_000, what: 'route r2' })
    await put(`${ROOT}/routes/r2`, { paths: ['/r2b'], upstream: 'u' })
    await pollUntil(async () => (await status(gw, '/r2b')) === 200, { timeoutMs: 15_000, what: 'route r2 changed' })
    await zcall((cb) => admin.remove(`${ROOT}/routes/r2`, -1, cb as never))
    await pollUntil(async () => (await status(gw, '/r2b')) === 404, { timeoutMs: 15_000, what: 'route r2 removed' })
    assert.equal((await center(gw)).kind, 'zookeeper')
  })

  test('admin writes create and setData the znode with the version held', { timeout: 60_000 }, async () => {
    const w = await call(gw, 'PUT', '/admin/routes/w', { paths: ['/w'], upstream: 'u' })
    assert.equal(w.status, 201, w.text)
    assert.equal(await status(gw, '/w'), 200, 'serves when the write returns')
    assert.deepEqual((await get(`${ROOT}/routes/w`)).value, { paths: ['/w'], upstream: 'u', name: 'w' })
    for (const priority of [1, 2]) assert.equal((await call(gw, 'PATCH', '/admin/routes/w', { priority })).status, 200, 'each write holds the new version')
    const z = await get(`${ROOT}/routes/w`)
    assert.equal(z.value.priority, 2)
    assert.equal(z.version, 2)
  })

  test('a version-checked write fails when the znode changed first (in-process source)', { timeout: 60_000 }, async () => {
    const source = new ZookeeperSource({ settings: { upstreams: {}, routes: [] }, policy: { servers: [zk.connect], root: ROOT, timeout: '5s' }, cacheFile: join(dir, 'inproc-cache.json'), logger: createLogger('silent') })
    try {
      await source.initial()
      source.watch(() => undefined)
      const doc = await source.written()
      // Someone else's setData lands; this source still holds the old version when it writes.
      await put(`${ROOT}/routes/w`, { name: 'w', paths: ['/w'], upstream: 'u', priority: 9 })
      const routes = (doc.routes as Array<Record<string, unknown>>).map((r) => (r.name === 'w' ? { ...r, priority: 3 } : r))
      const r = await source.write({ ...doc, routes })
      assert.deepEqual(r, { ok: false, reason: 'conflict', errors: [] })
      assert.equal((await get(`${ROOT}/routes/w`)).value.priority, 9, 'the other writer kept its change')
    } finally {
      await source.close()
    }
  })

  test('an invalid znode is refused: the resource keeps its last valid version and the znode is named', { timeout: 60_000 }, async () => {
    await pollUntil(async () => (await call(gw, 'GET', '/admin/routes/w')).json.data.priority === 9, { timeoutMs: 15_000, what: 'the other write served' })
    await put(`${ROOT}/routes/r`, { paths: ['/r'], upstream: 'missing' })
    await put(`${ROOT}/routes/bad`, '{nope')
    await pollUntil(async () => (await center(gw)).isolated.length === 2, { timeoutMs: 15_000, what: 'two isolated znodes' })
    const isolated = (await center(gw)).isolated as Array<{ key: string; serving?: string }>
    assert.deepEqual(isolated.map((i) => i.key).sort(), [`${ROOT}/routes/bad`, `${ROOT}/routes/r`])
    assert.equal(isolated.find((i) => i.key === `${ROOT}/routes/r`)!.serving, 'last valid version')
    assert.equal(await status(gw, '/r'), 200, 'the old version of r keeps serving')
    await put(`${ROOT}/routes/r`, { paths: ['/r'], upstream: 'u' })
    await zcall((cb) => admin.remove(`${ROOT}/routes/bad`, -1, cb as never))
    await pollUntil(async () => (await center(gw)).isolated.length === 0, { timeoutMs: 15_000, what: 'isolation cleared' })
  })

  test('ZooKeeper stopped keeps serving; its restart resumes the watches', { timeout: 60_000 }, async () => {
    await zk.stop()
    await pollUntil(async () => (await center(gw)).connected === false, { timeoutMs: 15_000, what: 'the outage noticed' })
    const m = await (await request(`${gw.adminUrl}/metrics`)).body.text()
    assert.match(m, /portico_config_source_up\{source="zookeeper"\} 0/)
    assert.equal(await status(gw, '/r'), 200)
    assert.equal((await call(gw, 'PUT', '/admin/routes/during', { paths: ['/during'], upstream: 'u' })).status, 422, 'no write while ZooKeeper is down')
    await zk.start()
    await pollUntil(async () => (await center(gw)).connected === true, { timeoutMs: 30_000, what: 'a session again' })
    await connectAdmin()
    await put(`${ROOT}/routes/after`, { paths: ['/after'], upstream: 'u' })
    await pollUntil(async () => (await status(gw, '/after')) === 200, { timeoutMs: 15_000, what: 'watches resumed' })
  })

  test('a restart with ZooKeeper down serves the cache, then picks up what changed meanwhile', { timeout: 60_000 }, async () => {
    await gw.stop()
    await put(`${ROOT}/routes/missed`, { paths: ['/missed'], upstream: 'u' })
    await zk.stop()
    gw = await start()
    assert.equal(await status(gw, '/r'), 200)
    assert.equal(await status(gw, '/after'), 200)
    assert.equal(await status(gw, '/missed'), 404, 'not in the cache')
    assert.match((await call(gw, 'GET', '/readyz')).json.detail, /serving the cached config from .*zk-cache\.json/)
    await zk.start()
    await connectAdmin()
    await pollUntil(async () => (await status(gw, '/missed')) === 200, { timeoutMs: 30_000, what: 'following ZooKeeper again' }).catch((e: unknown) => {
      // Once seen (1 run in ~6): the gateway's data port refused connections here. Keep what it said.
      throw new Error(`${(e as Error).message}\n--- gateway stdout ---\n${gw.stdout().slice(-4000)}\n--- stderr ---\n${gw.stderr().slice(-4000)}`)
    })
    assert.equal((await call(gw, 'GET', '/readyz')).json.detail, undefined)
  })
})
