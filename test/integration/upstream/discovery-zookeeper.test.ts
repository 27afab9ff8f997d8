// ZooKeeper discovery through a real gateway against a real ZooKeeper (test/helpers/zookeeper.ts:
// the Debian package's server, standalone, on a free port). Instances register the way Curator's
// ServiceDiscovery and Dubbo do — an ephemeral znode per instance, in their own client sessions —
// so an instance whose session ends leaves by itself. Under a bounded load with zero failed
// requests: instances join and leave within the watch latency, disabled ones are never picked,
// ZooKeeper stopped keeps the last set, and after its restart the watches resume.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import zookeeper, { type Client } from 'node-zookeeper-client'
import { startInProc } from '../../helpers/inproc.js'
import { connectZkClient, startZookeeper, type ZkServer } from '../../helpers/zookeeper.js'
import { pollUntil } from '../../helpers/poll.js'
import { killableOrigin, metric, type Killable } from './helpers.js'
import { clusterOf, seen, startLoad } from './discovery-load.js'
import { ZookeeperDiscovery, resolveZookeeperPolicy } from '../../../src/upstream/discovery/zookeeper.js'

let zk: ZkServer
const o: Record<string, Killable> = {}
const clients: Client[] = []
before(async () => {
  zk = await startZookeeper()
  for (const n of ['a', 'b', 'c', 'off', 'other']) o[n] = await killableOrigin(n)
})
after(async () => {
  for (const c of clients) c.close()
  await zk.close()
  for (const k of Object.values(o)) await k.close()
})

/**
 * A registrant: its own ZooKeeper session, as an instance has. Long enough (20 s) to outlive the
 * server restart below: ZooKeeper restores sessions on start and expires those not back in time.
 */
async function session(timeoutMs = 20_000): Promise<Client> {
  const c = await connectZkClient(zk.connect, { sessionTimeout: timeoutMs })
  clients.push(c)
  return c
}
const call = <T>(f: (cb: (err: unknown, v: T) => void) => void) =>
  new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(v))))
const mkdirp = (c: Client, path: string) => call<string>((cb) => c.mkdirp(path, cb))
const ephemeral = async (c: Client, path: string, data?: string) => {
  await mkdirp(c, path.slice(0, path.lastIndexOf('/')))
  return call<string>((cb) => c.create(path, data === undefined ? null! : Buffer.from(data), zookeeper.CreateMode.EPHEMERAL, cb))
}
const setData = (c: Client, path: string, data: string) => call((cb) => c.setData(path, Buffer.from(data), cb))
const curator = (n: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name: 'users', id: `id-${n}`, address: '127.0.0.1', port: o[n]!.port, sslPort: null, payload: null, registrationTimeUTC: Date.now(), serviceType: 'DYNAMIC', uriSpec: null, ...extra })

test('zookeeper (Curator layout): join, data change, leave on session end, disabled never picked; ZooKeeper stopped keeps the set, restarted resumes — zero failed requests', async () => {
  const regA = await session()
  const regB = await session()
  const admin = await session()
  await ephemeral(regA, '/services/users/id-a', curator('a'))
  await ephemeral(admin, '/services/users/id-off', curator('off', { enabled: false }))
  await ephemeral(admin, '/services/users/junk', 'not json')
  await ephemeral(admin, '/services/orders/id-other', curator('other'))
  const gw = await startInProc(`upstreams:
  users:
    discovery: { zookeeper: { servers: ["${zk.connect}"], service: users, session_timeout: 6s, timeout: 1s } }
routes:
  - { name: r, paths: [/x], upstream: users }
`)
  const load = startLoad(`${gw.url}/x`)
  try {
    assert.deepEqual(await seen(gw, 5), ['a'])
    assert.equal(clusterOf(gw).status().discovery, 'zookeeper')

    const t0 = performance.now()
    await ephemeral(regB, '/services/users/id-b', curator('b'))
    await pollUntil(() => (load.by.get('b') ?? 0) > 0, { what: 'b joins', timeoutMs: 15_000 })
    const joinMs = performance.now() - t0
    // Spring Cloud Zookeeper's payload: metadata (and a weight) reach the target.
    await setData(regB, '/services/users/id-b', curator('b', { payload: { '@class': 'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance', metadata: { weight: '5', zone: 'z2' } } }))
    await pollUntil(() => clusterOf(gw).status().targets.find((t) => t.url === o.b!.url)?.weight === 5, { what: 'data watch: weight 5' })
    assert.equal(clusterOf(gw).status().targets.find((t) => t.url === o.b!.url)?.meta?.zone, 'z2')

    regA.close() // a's process ends: its session closes and its ephemeral node goes
    await pollUntil(async () => (await seen(gw, 10)).join() === 'b', { what: 'a leaves with its session', timeoutMs: 15_000 })

    await zk.stop()
    await pollUntil(async () => (await metric('portico_discovery_up', { upstream: 'users', source: 'zookeeper' })) === 0, { what: 'source down' })
    assert.deepEqual(await seen(gw, 20), ['b'], 'last known set while ZooKeeper is down')
    await zk.start()
    const regC = await session()
    await ephemeral(regC, '/services/users/id-c', curator('c'))
    await pollUntil(() => (load.by.get('c') ?? 0) > 0, { what: 'resumed after the restart: c answers', timeoutMs: 20_000 })
    assert.equal(await metric('portico_discovery_up', { upstream: 'users', source: 'zookeeper' }), 1)
    await load.stop()
    assert.deepEqual(load.failed, [], 'no request failed')
    assert.ok(load.ok > 50, `requests under load: ${load.ok}`)
    assert.equal(o.off!.hits, 0, 'a disabled instance is never picked')
    assert.equal(o.other!.hits, 0, 'another service is never picked')
    console.log(`zookeeper join seen ${joinMs.toFixed(0)} ms after the create; ${load.ok} requests under load, 0 failed`)
  } finally {
    await load.stop()
    await gw.close()
  }
})

test('zookeeper (Dubbo layout): URL-encoded provider URLs, protocol filter, weight, enabled=false; the service node created later is watched', async () => {
  const reg = await session()
  const dir = '/dubbo/com.acme.UserService/providers'
  const url = (n: string, proto: string, q: string) => encodeURIComponent(`${proto}://127.0.0.1:${o[n]!.port}/com.acme.UserService?anyhost=true&application=users&interface=com.acme.UserService&side=provider&version=1.0.0&${q}`)
  const lists: Array<Array<[string, number]>> = []
  const src = new ZookeeperDiscovery(resolveZookeeperPolicy({ servers: [zk.connect], layout: 'dubbo', service: 'com.acme.UserService', protocol: 'rest', timeout: '1s' }), {
    name: 'dubbo',
    logger: undefined,
    setTargets: (l) => void lists.push(l.map((t) => [t.url, t.weight])),
  })
  try {
    src.start()
    await src.firstAttempt
    assert.deepEqual(lists, [[]], 'no such interface yet: no targets')
    await ephemeral(reg, `${dir}/${url('a', 'rest', 'weight=200')}`)
    await ephemeral(reg, `${dir}/${url('other', 'dubbo', 'weight=100')}`) // other protocol
    await ephemeral(reg, `${dir}/${url('off', 'rest', 'enabled=false')}`)
    await ephemeral(reg, `${dir}/${url('b', 'rest', 'timestamp=1')}`) // no weight: Dubbo's default 100
    await pollUntil(() => lists.at(-1)?.length === 2, { what: 'providers seen', timeoutMs: 15_000 })
    assert.deepEqual(lists.at(-1), [[o.a!.url, 200], [o.b!.url, 100]].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)))
    assert.ok(src.healthy())
  } finally {
    await src.close()
    reg.close()
  }
})

test('zookeeper: unreachable at start — the first attempt settles after the connect deadline, the failure is counted, and the source fills in once ZooKeeper answers', async () => {
  await zk.stop()
  const lists: string[][] = []
  const src = new ZookeeperDiscovery(resolveZookeeperPolicy({ servers: [zk.connect], service: 'late', timeout: '300ms' }), {
    name: 'zk-late',
    logger: undefined,
    setTargets: (l) => void lists.push(l.map((t) => t.url)),
  })
  try {
    src.start()
    await src.firstAttempt
    assert.deepEqual(lists, [])
    assert.equal(src.healthy(), false)
    assert.ok(((await metric('portico_discovery_errors_total', { upstream: 'zk-late', reason: 'unreachable' })) ?? 0) >= 1)
    await zk.start()
    const reg = await session()
    await ephemeral(reg, '/services/late/id-a', curator('a'))
    await pollUntil(() => lists.at(-1)?.[0] === o.a!.url, { what: 'filled in', timeoutMs: 45_000 })
    reg.close()
  } finally {
    await src.close()
  }
})
