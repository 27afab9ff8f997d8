// Service discovery through a real gateway: etcd (a real etcd-server on free ports) and DNS (a real
// node:dns resolver against the loopback DNS server of test/helpers/dns.ts). Instances join and
// leave without a Snapshot rebuild; targets that stay keep their Target object; when etcd goes away
// the last known targets keep serving, and when it returns the watch resumes.
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { Etcd3 } from 'etcd3'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { startEtcd, type EtcdServer } from '../../helpers/etcd.js'
import { startDns, type DnsServer } from '../../helpers/dns.js'
import { pollUntil } from '../../helpers/poll.js'
import type { Snapshot } from '../../../src/snapshot/compile.js'
import { get, killableOrigin, type Killable } from './helpers.js'

let etcd: EtcdServer
let client: Etcd3
const origins: Killable[] = []

before(async () => {
  etcd = await startEtcd()
  client = new Etcd3({ hosts: etcd.url })
  for (const n of ['a', 'b', 'c', 'd']) origins.push(await killableOrigin(n))
})
after(async () => {
  client.close()
  await etcd.close()
  for (const o of origins) await o.close()
})

const A = () => origins[0]!
const B = () => origins[1]!
const C = () => origins[2]!
const D = () => origins[3]!
const snapOf = (gw: InProcGateway) => (gw.dp as unknown as { snapshot: Snapshot }).snapshot

/** Which origins answered `n` requests. */
async function seen(gw: InProcGateway, n = 20): Promise<string[]> {
  const out = new Set<string>()
  for (let i = 0; i < n; i++) {
    const r = await get(`${gw.url}/x`)
    out.add(r.status === 200 ? r.text : String(r.status))
  }
  return [...out].sort()
}
const targetsOf = (gw: InProcGateway) => snapOf(gw).clusters.get('users')!.targets

test('etcd: instances join, change weight, leave (delete, lease revoke, lease expiry) without a Snapshot rebuild', async () => {
  const prefix = '/services/users-1/'
  await client.put(`${prefix}a`).value(JSON.stringify({ url: A().url, weight: 1 }))
  const gw = await startInProc(`upstreams:
  users:
    discovery: { etcd: { endpoints: [${etcd.url}], prefix: ${prefix} } }
routes:
  - { name: r, paths: [/x], upstream: users }
`)
  try {
    // load() waited for the first listing: the first request already has a target.
    assert.deepEqual(await seen(gw, 3), ['a'])
    const snap = snapOf(gw)
    const targetA = targetsOf(gw)[0]
    const t0 = performance.now()
    await client.put(`${prefix}b`).value(B().url) // a bare URL is a record too
    await pollUntil(async () => (await seen(gw, 10)).join() === 'a,b', { what: 'b joins', timeoutMs: 1000 })
    const joinMs = performance.now() - t0
    assert.equal(snapOf(gw), snap, 'no Snapshot rebuild')
    assert.equal(targetsOf(gw).find((t) => t.url === A().url), targetA, 'a kept its Target (pools)')

    await client.put(`${prefix}junk`).value('not a url') // ignored (logged)
    await client.put(`${prefix}b`).value(JSON.stringify({ url: B().url, weight: 0 })) // weight 0: out of rotation
    await pollUntil(async () => (await seen(gw, 10)).join() === 'a', { what: 'b drained by weight 0', timeoutMs: 1000 })

    const lease = client.lease(60)
    await lease.put(`${prefix}c`).value(C().url)
    await pollUntil(async () => (await seen(gw, 10)).includes('c'), { what: 'c joins', timeoutMs: 1000 })
    await lease.revoke()
    await pollUntil(async () => !(await seen(gw, 10)).includes('c'), { what: 'c leaves on revoke', timeoutMs: 1000 })

    // An instance that dies: its lease (the shortest etcd grants: 2 s here) is not kept alive.
    const short = client.lease(1, { autoKeepAlive: false })
    await short.put(`${prefix}d`).value(D().url)
    await pollUntil(async () => (await seen(gw, 10)).includes('d'), { what: 'd joins', timeoutMs: 1000 })
    const granted = Number((await client.leaseClient.leaseTimeToLive({ ID: await short.grant() })).TTL)
    const t1 = performance.now()
    await pollUntil(async () => !(await seen(gw, 10)).includes('d'), { what: 'd leaves on lease expiry', timeoutMs: 6000 })
    const expiryMs = performance.now() - t1

    await client.delete().key(`${prefix}b`)
    await pollUntil(() => targetsOf(gw).length === 1, { what: 'b deleted', timeoutMs: 1000 })
    assert.equal(targetsOf(gw)[0], targetA)
    assert.equal(snapOf(gw), snap)
    console.log(`etcd join ${joinMs.toFixed(0)} ms; lease expiry seen ${expiryMs.toFixed(0)} ms after put (TTL left ${granted} s)`)
  } finally {
    await gw.close()
  }
})

test('etcd stops: last known targets keep serving; etcd returns: the watch resumes', async () => {
  const prefix = '/services/users-2/'
  await client.put(`${prefix}a`).value(A().url)
  const gw = await startInProc(`upstreams:
  users:
    discovery: { etcd: { endpoints: [${etcd.url}], prefix: ${prefix}, timeout: 500ms } }
routes:
  - { name: r, paths: [/x], upstream: users }
`)
  try {
    assert.deepEqual(await seen(gw, 3), ['a'])
    await etcd.stop()
    assert.deepEqual(await seen(gw, 20), ['a'], 'serving from the last known targets while etcd is down')
    await etcd.start()
    const t0 = performance.now()
    const c2 = new Etcd3({ hosts: etcd.url })
    try {
      await pollUntil(() => c2.put(`${prefix}b`).value(B().url).then(() => true), { what: 'etcd writable again', timeoutMs: 10_000 })
      await pollUntil(async () => (await seen(gw, 10)).join() === 'a,b', { what: 'watch resumed', timeoutMs: 10_000 })
      console.log(`watch resumed ${(performance.now() - t0).toFixed(0)} ms after etcd restarted`)
      await c2.delete().key(`${prefix}a`)
      await pollUntil(async () => (await seen(gw, 10)).join() === 'b', { what: 'a leaves after resume', timeoutMs: 2000 })
    } finally {
      c2.close()
    }
  } finally {
    await gw.close()
  }
})

test('etcd unreachable at start: the gateway starts (503 no_healthy_target), then fills in when etcd comes', async () => {
  const prefix = '/services/users-3/'
  await etcd.stop()
  let gw: InProcGateway | undefined
  try {
    gw = await startInProc(`upstreams:
  users:
    discovery: { etcd: { endpoints: [${etcd.url}], prefix: ${prefix}, timeout: 300ms } }
routes:
  - { name: r, paths: [/x], upstream: users }
`)
    const r = await get(`${gw.url}/x`)
    assert.equal(r.status, 503)
    assert.equal(JSON.parse(r.text).error, 'no_healthy_target')
    await etcd.start()
    const c2 = new Etcd3({ hosts: etcd.url })
    try {
      await pollUntil(() => c2.put(`${prefix}a`).value(A().url).then(() => true), { what: 'etcd writable', timeoutMs: 10_000 })
    } finally {
      c2.close()
    }
    const g = gw
    await pollUntil(async () => (await seen(g, 3)).join() === 'a', { what: 'targets after etcd came', timeoutMs: 10_000 })
  } finally {
    await gw?.close()
  }
})

test('dns: A records re-resolved on their TTL; an address that stays keeps its Target; NXDOMAIN keeps the last targets', async () => {
  const dns: DnsServer = await startDns()
  // A second origin on 127.0.0.2 with the same port as origin a on 127.0.0.1: A records carry no port.
  const port = A().port
  const second = http.createServer((req, res) => {
    req.resume()
    res.end('a2')
  })
  await new Promise<void>((r) => second.listen(port, '127.0.0.2', r))
  dns.records.set('users.test', [{ type: 'A', address: '127.0.0.1', ttl: 0 }])
  const gw = await startInProc(`upstreams:
  users:
    discovery: { dns: { name: users.test, port: ${port}, servers: ["${dns.server}"], min_ttl: 100ms, max_ttl: 1s, timeout: 300ms } }
routes:
  - { name: r, paths: [/x], upstream: users }
`)
  try {
    assert.deepEqual(await seen(gw, 3), ['a'])
    const first = targetsOf(gw)[0]
    dns.records.set('users.test', [{ type: 'A', address: '127.0.0.1', ttl: 0 }, { type: 'A', address: '127.0.0.2', ttl: 0 }])
    await pollUntil(async () => (await seen(gw, 10)).join() === 'a,a2', { what: '127.0.0.2 joins', timeoutMs: 2000 })
    assert.equal(targetsOf(gw).find((t) => t.url === first!.url), first)
    dns.records.delete('users.test') // NXDOMAIN: kept
    const asked = dns.queries.length
    await pollUntil(() => dns.queries.length >= asked + 2, { what: 'two failed lookups' })
    assert.deepEqual(await seen(gw, 10), ['a', 'a2'])
    dns.records.set('users.test', [{ type: 'A', address: '127.0.0.2', ttl: 0 }])
    await pollUntil(async () => (await seen(gw, 10)).join() === 'a2', { what: '127.0.0.1 leaves', timeoutMs: 3000 })
  } finally {
    await gw.close()
    second.closeAllConnections()
    await new Promise<void>((r) => second.close(() => r()))
    await dns.close()
  }
})
