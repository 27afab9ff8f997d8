// Hostile or broken registry answers (a compromised or misconfigured Consul / Nacos / ZooKeeper /
// Kubernetes entry) must not become targets that point somewhere else than host:port: an address
// carrying a path, userinfo, query or fragment, a port out of range, or a non-numeric weight is
// dropped, never turned into a URL that the data plane would follow.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseHealth } from '../../src/upstream/discovery/consul.js'
import { parseInstances } from '../../src/upstream/discovery/nacos.js'
import { parseCurator, parseDubbo } from '../../src/upstream/discovery/zookeeper.js'
import { sliceTargets } from '../../src/upstream/discovery/kubernetes.js'

const hostile = ['10.0.0.1/admin', 'user:pw@10.0.0.1', '10.0.0.1?x=1', '10.0.0.1#f', 'evil.example.com:80/x', ' 10.0.0.1', '10.0.0.1\r\nHost: x', '', 'a'.repeat(300)]

test('consul: hostile Service.Address / Port values are dropped', () => {
  const entries = [...hostile.map((a) => ({ Service: { Address: a, Port: 80 }, Checks: [] })), { Service: { Address: '10.0.0.1', Port: 70000 }, Checks: [] }, { Service: { Address: '10.0.0.1', Port: '80' }, Checks: [] }]
  assert.deepEqual(parseHealth(entries, 'http'), [])
})

test('nacos: hostile ip / port / weight values are dropped', () => {
  const hosts = [...hostile.map((ip) => ({ ip, port: 80, healthy: true, enabled: true })), { ip: '10.0.0.1', port: -1, healthy: true }, { ip: '10.0.0.1', port: 80, healthy: 'true' }]
  assert.deepEqual(parseInstances({ code: 0, data: { hosts } }, { scheme: 'http', ephemeral: undefined, clusters: [] }), [])
  // A weight that is not a finite number counts as 1 (100), never NaN or Infinity.
  const [t] = parseInstances({ code: 0, data: { hosts: [{ ip: '10.0.0.1', port: 80, healthy: true, weight: 'x' }] } }, { scheme: 'http', ephemeral: undefined, clusters: [] })
  assert.equal(t?.weight, 100)
})

test('zookeeper: hostile Curator addresses and Dubbo URLs are dropped', () => {
  for (const a of hostile) assert.equal(parseCurator(JSON.stringify({ address: a, port: 80 }), 'http'), undefined, a)
  assert.equal(parseCurator(JSON.stringify({ address: '10.0.0.1', port: 1e9 }), 'http'), undefined)
  assert.equal(parseCurator('null', 'http'), undefined)
  assert.equal(parseDubbo(encodeURIComponent('rest://user:pw@10.0.0.1:80/x'), 'http', undefined)?.url, 'http://10.0.0.1:80', 'userinfo never reaches the target URL')
  assert.equal(parseDubbo(encodeURIComponent('rest:///no-host'), 'http', undefined), undefined)
  assert.equal(parseDubbo(encodeURIComponent('rest://10.0.0.1/x'), 'http', undefined), undefined, 'no port')
})

test('kubernetes: hostile endpoint addresses are dropped', () => {
  const slice = { ports: [{ name: 'http', port: 80 }], endpoints: hostile.map((a) => ({ addresses: [a], conditions: { ready: true } })) }
  assert.deepEqual(sliceTargets([slice as never], 'http', 'http'), [])
})
