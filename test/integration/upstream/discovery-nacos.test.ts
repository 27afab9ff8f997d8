// Nacos discovery through a real gateway, against a STAND-IN Nacos (test/helpers/nacos.ts): Nacos
// cannot be installed here, so the stand-in implements the documented HTTP API subset the source
// uses — the v2 instance list (namespace, group, clusters, healthyOnly; healthy, enabled,
// ephemeral, weight, metadata), login with accessToken and token expiry, AK/SK signing —
// following https://nacos.io/en/docs/v2/guide/user/open-api/ and
// https://nacos.io/en/docs/v2/guide/user/auth/ .
// Under a bounded load with zero failed requests: instances join and leave within the poll
// interval, unhealthy/disabled/weight-0 instances are never picked, an outage keeps the last set,
// recovery resumes polling.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startInProc } from '../../helpers/inproc.js'
import { startNacos, type NacosInstance, type NacosStandIn } from '../../helpers/nacos.js'
import { pollUntil } from '../../helpers/poll.js'
import { killableOrigin, metric, type Killable } from './helpers.js'
import { clusterOf, seen, startLoad } from './discovery-load.js'
import { NacosDiscovery, resolveNacosPolicy } from '../../../src/upstream/discovery/nacos.js'

let nacos: NacosStandIn
const o: Record<string, Killable> = {}
before(async () => {
  nacos = await startNacos()
  for (const n of ['a', 'b', 'c', 'sick', 'off', 'zero', 'other']) o[n] = await killableOrigin(n)
})
after(async () => {
  await nacos.close()
  for (const k of Object.values(o)) await k.close()
})
const inst = (n: string, extra: Partial<NacosInstance> = {}): NacosInstance => ({ ip: '127.0.0.1', port: o[n]!.port, ...extra })
const never = ['sick', 'off', 'zero', 'other']

test('nacos: join, leave, unhealthy/disabled/weight-0 never picked, namespace+group+cluster scoping, login; outage keeps the last set — zero failed requests under load', async () => {
  nacos.users.set('portico', 'pw')
  const scope = { namespace: 'prod', group: 'shop' }
  nacos.set('users', [inst('a', { weight: 2.5, metadata: { version: 'v2' } }), inst('sick', { healthy: false }), inst('off', { enabled: false }), inst('zero', { weight: 0 })], scope)
  nacos.set('users', [inst('other')]) // same name, public namespace, DEFAULT_GROUP: not ours
  const gw = await startInProc(`upstreams:
  users:
    discovery: { nacos: { servers: [${nacos.url}], service: users, namespace: prod, group: shop, username: portico, password: pw, interval: 200ms, timeout: 500ms } }
routes:
  - { name: r, paths: [/x], upstream: users }
`)
  const load = startLoad(`${gw.url}/x`)
  try {
    assert.deepEqual(await seen(gw, 5), ['a'])
    const st = clusterOf(gw).status()
    assert.equal(st.discovery, 'nacos')
    assert.deepEqual(st.targets.map((t) => [t.weight, t.meta?.version, t.meta?.ephemeral]), [[250, 'v2', 'true']])

    const t0 = performance.now()
    nacos.set('users', [inst('a'), inst('b', { clusterName: 'EAST' }), inst('sick', { healthy: false })], scope)
    await pollUntil(() => (load.by.get('b') ?? 0) > 0, { what: 'b joins', timeoutMs: 3000 })
    const joinMs = performance.now() - t0
    nacos.set('users', [inst('b', { clusterName: 'EAST' }), inst('sick', { healthy: false })], scope)
    await pollUntil(async () => (await seen(gw, 10)).join() === 'b', { what: 'a leaves', timeoutMs: 3000 })

    await nacos.down()
    await pollUntil(async () => (await metric('portico_discovery_up', { upstream: 'users', source: 'nacos' })) === 0, { what: 'source down' })
    assert.deepEqual(await seen(gw, 20), ['b'], 'last known set while Nacos is down')
    nacos.set('users', [inst('b', { clusterName: 'EAST' }), inst('c')], scope)
    nacos.revokeTokens() // and it came back with none of the old tokens: the source logs in again
    const logins = nacos.logins
    await nacos.up()
    await pollUntil(() => (load.by.get('c') ?? 0) > 0, { what: 'resumed: c answers', timeoutMs: 10_000 })
    assert.ok(nacos.logins > logins, 'logged in again')
    await load.stop()
    assert.deepEqual(load.failed, [], 'no request failed')
    assert.ok(load.ok > 50, `requests under load: ${load.ok}`)
    for (const n of never) assert.equal(o[n]!.hits, 0, `${n} never picked`)
    console.log(`nacos join seen ${joinMs.toFixed(0)} ms after the change (interval 200 ms); ${load.ok} requests under load, 0 failed`)
  } finally {
    await load.stop()
    await gw.close()
    nacos.users.clear()
  }
})

const sinkOf = (name: string, lists: string[][]) => ({ name, logger: undefined, setTargets: (l: readonly { url: string }[]) => void lists.push(l.map((t) => t.url)) })

test('nacos: a token is renewed before its TTL, and on a 403 (token no longer valid) without a failure; a wrong password is an auth failure that keeps the last set', async () => {
  nacos.users.set('portico', 'pw')
  nacos.tokenTtlSeconds = 1
  nacos.set('svc', [inst('a')])
  const lists: string[][] = []
  const src = new NacosDiscovery(resolveNacosPolicy({ servers: [nacos.url], service: 'svc', username: 'portico', password: 'pw', interval: '100ms' }), sinkOf('tok', lists))
  try {
    src.start()
    await src.firstAttempt
    const logins = nacos.logins
    await pollUntil(() => nacos.logins >= logins + 2, { what: 'token renewed twice', timeoutMs: 8000 })
    nacos.tokenTtlSeconds = 3600
    await pollUntil(() => nacos.logins >= logins + 3, { what: 'a long-lived token', timeoutMs: 4000 })
    const before403 = nacos.logins
    nacos.revokeTokens() // the server forgot it: 403, log in again, list again
    await pollUntil(() => nacos.logins === before403 + 1, { what: 'login after the 403' })
    const lists0 = nacos.lists
    await pollUntil(() => nacos.lists > lists0 + 1, { what: 'listing goes on' })
    assert.equal((await metric('portico_discovery_errors_total', { upstream: 'tok' })) ?? 0, 0, 'renewal is not a failure')
    assert.ok(src.healthy())
    // The password changes under us: every login fails from now on; the set stays.
    nacos.users.set('portico', 'changed')
    nacos.revokeTokens()
    await pollUntil(() => !src.healthy(), { what: 'auth failure seen' })
    assert.ok(((await metric('portico_discovery_errors_total', { upstream: 'tok', reason: 'auth' })) ?? 0) >= 1)
    assert.deepEqual(lists.at(-1), [o.a!.url], 'last set kept')
  } finally {
    await src.close()
    nacos.users.clear()
    nacos.tokenTtlSeconds = 18_000
  }
})

test('nacos: access-key signing, cluster filter, ephemeral filter; a 500 keeps the last set and recovery resumes', async () => {
  nacos.keys.set('AK1', 'SK1')
  nacos.set('svc2', [inst('a', { clusterName: 'EAST' }), inst('b', { clusterName: 'WEST', ephemeral: false }), inst('c', { clusterName: 'EAST', ephemeral: false })])
  const lists: string[][] = []
  const src = new NacosDiscovery(resolveNacosPolicy({ servers: [nacos.url], service: 'svc2', access_key: 'AK1', secret_key: 'SK1', clusters: ['EAST'], ephemeral: false, interval: '100ms' }), sinkOf('ak', lists))
  const bad = new NacosDiscovery(resolveNacosPolicy({ servers: [nacos.url], service: 'svc2', access_key: 'AK1', secret_key: 'wrong', interval: '100ms' }), sinkOf('ak-bad', []))
  try {
    src.start()
    bad.start()
    await src.firstAttempt
    await bad.firstAttempt
    assert.deepEqual(lists, [[o.c!.url]])
    assert.equal(bad.healthy(), false)
    nacos.failWith = 500
    await pollUntil(() => !src.healthy(), { what: '500 seen' })
    assert.deepEqual(lists.at(-1), [o.c!.url])
    nacos.failWith = 0
    nacos.set('svc2', [inst('a', { clusterName: 'EAST', ephemeral: false })])
    await pollUntil(() => lists.at(-1)?.[0] === o.a!.url, { what: 'recovered' })
  } finally {
    nacos.failWith = 0
    nacos.keys.clear()
    await src.close()
    await bad.close()
  }
})
