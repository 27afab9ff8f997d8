// Discovery without sockets to upstreams: the DNS source's TTL clamps, retry backoff and SRV
// handling (an injected resolver for the timing logic; a real node:dns resolver against the tiny
// UDP server of test/helpers/dns.ts for the wire), etcd instance records, and the Cluster's diff:
// targets that stay keep their Target object, removed ones are closed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clampTtl, DnsDiscovery, resolveDnsPolicy, resolveOnce, systemResolver, type DnsResolver } from '../../../src/upstream/discovery/dns.js'
import { parseInstance } from '../../../src/upstream/discovery/etcd.js'
import type { DiscoveredTarget } from '../../../src/upstream/discovery/source.js'
import { Cluster } from '../../../src/upstream/cluster.js'
import { startDns } from '../../helpers/dns.js'
import { pollUntil } from '../../helpers/poll.js'

const sink = () => {
  const lists: DiscoveredTarget[][] = []
  return { name: 'u', logger: undefined, lists, setTargets: (l: readonly DiscoveredTarget[]) => void lists.push([...l]) }
}

test('TTL is clamped to [min_ttl, max_ttl]; no TTL (SRV) uses default_ttl', () => {
  const p = resolveDnsPolicy({ name: 'a', port: 80, min_ttl: '2s', max_ttl: '60s', default_ttl: '30s' })
  assert.equal(clampTtl(p, 0), 2000)
  assert.equal(clampTtl(p, 10), 10_000)
  assert.equal(clampTtl(p, 86_400), 60_000)
  assert.equal(clampTtl(p, undefined), 30_000)
})

test('re-resolves on the TTL; a failure keeps the last targets and backs off from min_ttl', async () => {
  // An injected resolver: the timing logic is what is under test here, not the wire.
  let answer: Array<{ address: string; ttl: number }> | Error = [{ address: '10.0.0.1', ttl: 0 }]
  let calls = 0
  const resolver: DnsResolver = {
    resolve4: async () => {
      calls++
      if (answer instanceof Error) throw answer
      return answer
    },
    resolve6: async () => [],
    resolveSrv: async () => [],
  }
  const s = sink()
  const d = new DnsDiscovery(resolveDnsPolicy({ name: 'users', port: 8080, min_ttl: '100ms', max_ttl: '400ms' }), s, resolver)
  d.start()
  await d.firstAttempt
  assert.deepEqual(s.lists[0], [{ url: 'http://10.0.0.1:8080', weight: 1 }])
  assert.equal(d.nextDelayMs, 100) // TTL 0 → min_ttl
  answer = [{ address: '10.0.0.2', ttl: 3600 }, { address: '10.0.0.1', ttl: 3600 }]
  await pollUntil(() => s.lists.length >= 2, { what: 're-resolution' })
  assert.deepEqual(s.lists.at(-1)!.map((t) => t.url), ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'])
  assert.equal(d.nextDelayMs, 400) // TTL 3600 s → max_ttl
  answer = Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })
  const pushed = s.lists.length
  await pollUntil(() => calls >= 4, { what: 'two failed tries' })
  assert.equal(s.lists.length, pushed, 'a failure pushes nothing: the last targets stay')
  assert.ok(d.nextDelayMs === 200 || d.nextDelayMs === 400, `backoff ${d.nextDelayMs}`)
  await d.close()
})

test('SRV: lowest priority only, record weights (0 → 1), trailing dots dropped', async () => {
  const resolver: DnsResolver = {
    resolve4: async () => [],
    resolve6: async () => [],
    resolveSrv: async () => [
      { name: 'b.example.', port: 81, priority: 10, weight: 0 },
      { name: 'a.example.', port: 80, priority: 10, weight: 3 },
      { name: 'backup.example.', port: 80, priority: 20, weight: 1 },
    ],
  }
  const r = await resolveOnce(resolveDnsPolicy({ name: '_http._tcp.example', record: 'SRV' }), resolver)
  assert.deepEqual(r.targets, [
    { url: 'http://a.example:80', weight: 3 },
    { url: 'http://b.example:81', weight: 1 },
  ])
  assert.equal(r.ttl, undefined)
})

test('real node:dns against a loopback DNS server: A, AAAA, A+AAAA with TTLs, SRV, NXDOMAIN', async () => {
  const dns = await startDns()
  try {
    dns.records.set('users.test', [
      { type: 'A', address: '10.0.0.1', ttl: 30 },
      { type: 'A', address: '10.0.0.2', ttl: 10 },
      { type: 'AAAA', address: 'fd00::1', ttl: 20 },
    ])
    dns.records.set('_http._tcp.users.test', [{ type: 'SRV', target: 'a.users.test', port: 9000, priority: 1, weight: 5, ttl: 5 }])
    const pol = (extra: object) => resolveDnsPolicy({ name: 'users.test', port: 8080, servers: [dns.server], timeout: '500ms', ...extra })
    const a = await resolveOnce(pol({}), systemResolver(pol({})))
    assert.deepEqual(a.targets.map((t) => t.url), ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'])
    assert.equal(a.ttl, 10) // the smallest TTL of the answer
    const both = await resolveOnce(pol({ record: 'A+AAAA', scheme: 'https' }), systemResolver(pol({})))
    assert.deepEqual(both.targets.map((t) => t.url), ['https://10.0.0.1:8080', 'https://10.0.0.2:8080', 'https://[fd00::1]:8080'])
    const srvPol = resolveDnsPolicy({ name: '_http._tcp.users.test', record: 'SRV', servers: [dns.server] })
    assert.deepEqual((await resolveOnce(srvPol, systemResolver(srvPol))).targets, [{ url: 'http://a.users.test:9000', weight: 5 }])
    const missing = pol({ name: 'nope.test' })
    await assert.rejects(resolveOnce(missing, systemResolver(missing)), (e: { code?: string }) => e.code === 'ENOTFOUND')
  } finally {
    await dns.close()
  }
})

test('etcd instance records: JSON or bare URL; anything else is refused', () => {
  assert.deepEqual(parseInstance('{"url":"http://10.0.0.5:8080","weight":3}'), { url: 'http://10.0.0.5:8080', weight: 3 })
  assert.deepEqual(parseInstance(' http://10.0.0.5:8080 '), { url: 'http://10.0.0.5:8080', weight: 1 })
  for (const bad of ['', 'nope', '{"url":"ftp://x"}', '{"url":"http://x","weight":-1}', '{"url":"http://x","weight":1.5}', '{broken', 'http://x/?q=1', '{"weight":1}']) {
    assert.equal(parseInstance(bad), undefined, bad)
  }
})

test('Cluster.setTargets: stayed targets keep their object, weights update in place, removed ones leave the balancer', async () => {
  const dns = await startDns() // a real source that never answers for this name: the cluster is fed by hand
  const c = new Cluster('u', { discovery: { dns: { name: 'never.test', port: 1, servers: [dns.server], min_ttl: '1h', max_ttl: '1h' } } })
  try {
    assert.equal(c.targets.length, 0)
    assert.equal(c.pick({} as never), undefined)
    c.setTargets([
      { url: 'http://10.0.0.1:80', weight: 1 },
      { url: 'http://10.0.0.2:80', weight: 1 },
    ])
    const [a, b] = c.targets
    c.setTargets([
      { url: 'http://10.0.0.2:80', weight: 5 },
      { url: 'http://10.0.0.3:80', weight: 1 },
      { url: 'http://10.0.0.3:80', weight: 9 }, // duplicate URL: the first wins
    ])
    assert.equal(c.targets.length, 2)
    assert.equal(c.targets[0], b, 'the target that stayed is the same object (same pools)')
    assert.equal(b!.weight, 5)
    assert.ok(!c.targets.includes(a!))
    const picks = new Map<string, number>()
    for (let i = 0; i < 600; i++) {
      const t = c.pick({} as never)!
      picks.set(t.url, (picks.get(t.url) ?? 0) + 1)
    }
    assert.equal(picks.get('http://10.0.0.2:80'), 500) // smooth WRR 5:1 over 600 picks
    assert.equal(picks.get('http://10.0.0.1:80'), undefined)
    c.setTargets([])
    assert.equal(c.pick({} as never), undefined)
    assert.equal(c.status().discovery, 'dns')
  } finally {
    await c.close()
    await dns.close()
  }
})
