// The registry answers → targets mapping of the Consul, Nacos, ZooKeeper and Kubernetes sources
// (health filtering, weights, meta, ports, refusing what would change a URL's shape), and their
// config validation. The watch models themselves are tested against real/stand-in registries in
// test/integration/upstream/discovery-*.test.ts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { parseHealth } from '../../../src/upstream/discovery/consul.js'
import { parseInstances } from '../../../src/upstream/discovery/nacos.js'
import { parseCurator, parseDubbo } from '../../../src/upstream/discovery/zookeeper.js'
import { sliceTargets } from '../../../src/upstream/discovery/kubernetes.js'
import { loadConfigText } from '../../../src/config/load.js'
import { formatErrors } from '../../../src/config/errors.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'

test('consul: only entries whose checks all pass; service address, else the node address; Weights.Passing; tags and meta', () => {
  const entry = (id: string, checks: string[], svc: Record<string, unknown> = {}) => ({
    Node: { Node: 'n1', Address: '10.0.0.9', Datacenter: 'dc2' },
    Service: { ID: id, Address: `10.0.0.${id}`, Port: 8080, Tags: ['v1', 'blue'], Meta: { version: '2', n: 3 }, Weights: { Passing: 7, Warning: 1 }, ...svc },
    Checks: checks.map((Status) => ({ Status })),
  })
  const out = parseHealth(
    [entry('1', ['passing', 'passing']), entry('2', ['passing', 'critical']), entry('3', ['warning']), entry('4', ['passing'], { Address: '' }), entry('5', []), entry('6', ['passing'], { Address: 'evil/path' }), entry('7', ['passing'], { Port: 0 })],
    'http',
  )
  assert.deepEqual(
    out.map((t) => [t.url, t.weight]),
    // No checks at all is passing, as Consul's own `passing` filter has it.
    [['http://10.0.0.1:8080', 7], ['http://10.0.0.5:8080', 7], ['http://10.0.0.9:8080', 7]],
  )
  assert.deepEqual(out[0]!.meta, { version: '2', tags: 'v1,blue', id: '1', node: 'n1', dc: 'dc2' })
  assert.deepEqual(parseHealth([entry('1', ['passing'], { Address: 'fd00::1' })], 'https')[0]!.url, 'https://[fd00::1]:8080')
  assert.throws(() => parseHealth({ not: 'an array' }, 'http'), /array/)
})

test('nacos: healthy, enabled, weight > 0; weight × 100; ephemeral and cluster filters; a non-zero code is a failure', () => {
  const host = (ip: string, extra: Record<string, unknown> = {}) => ({ ip, port: 80, weight: 1.0, healthy: true, enabled: true, ephemeral: true, clusterName: 'DEFAULT', metadata: { zone: 'a' }, ...extra })
  const body = (hosts: unknown[]) => ({ code: 0, message: 'success', data: { hosts } })
  const p = { scheme: 'http' as const, ephemeral: undefined, clusters: [] }
  const out = parseInstances(body([host('10.0.0.1', { weight: 0.5 }), host('10.0.0.2', { healthy: false }), host('10.0.0.3', { enabled: false }), host('10.0.0.4', { weight: 0 }), host('10.0.0.5', { weight: 12.345 })]), p)
  assert.deepEqual(
    out.map((t) => [t.url, t.weight]),
    [['http://10.0.0.1:80', 50], ['http://10.0.0.5:80', 1235]],
  )
  assert.deepEqual(out[0]!.meta, { zone: 'a', cluster: 'DEFAULT', ephemeral: 'true' })
  assert.deepEqual(parseInstances(body([host('10.0.0.1'), host('10.0.0.2', { ephemeral: false })]), { ...p, ephemeral: false }).map((t) => t.url), ['http://10.0.0.2:80'])
  assert.deepEqual(parseInstances(body([host('10.0.0.1'), host('10.0.0.2', { clusterName: 'EAST' })]), { ...p, clusters: ['EAST'] }).map((t) => t.url), ['http://10.0.0.2:80'])
  assert.throws(() => parseInstances({ code: 20004, message: 'service not found', data: null }, p), /20004/)
})

test('zookeeper: Curator ServiceInstance JSON (enabled, sslPort, Spring Cloud metadata) and Dubbo provider URLs', () => {
  const inst = (extra: Record<string, unknown> = {}) => JSON.stringify({ name: 'users', id: 'x1', address: '10.0.0.1', port: 8080, sslPort: 8443, payload: null, serviceType: 'DYNAMIC', ...extra })
  assert.deepEqual(parseCurator(inst(), 'http'), { url: 'http://10.0.0.1:8080', weight: 1, meta: { id: 'x1' } })
  assert.equal(parseCurator(inst(), 'https')?.url, 'https://10.0.0.1:8443')
  assert.equal(parseCurator(inst({ enabled: false }), 'http'), undefined)
  assert.equal(parseCurator(inst({ address: 'a b' }), 'http'), undefined)
  assert.equal(parseCurator('{not json', 'http'), undefined)
  assert.deepEqual(parseCurator(inst({ payload: { metadata: { weight: '4', zone: 'z' } } }), 'http'), { url: 'http://10.0.0.1:8080', weight: 4, meta: { weight: '4', zone: 'z', id: 'x1' } })
  const d = (u: string) => encodeURIComponent(u)
  assert.deepEqual(parseDubbo(d('tri://10.0.0.2:50051/com.a.Users?weight=30&version=1.0.0&application=users&side=provider'), 'http', undefined), {
    url: 'http://10.0.0.2:50051',
    weight: 30,
    meta: { protocol: 'tri', application: 'users', version: '1.0.0', side: 'provider' },
  })
  assert.equal(parseDubbo(d('dubbo://10.0.0.2:20880/com.a.Users?weight=30'), 'http', 'rest'), undefined)
  assert.equal(parseDubbo(d('rest://10.0.0.2:8080/com.a.Users?disabled=true'), 'http', undefined), undefined)
  assert.equal(parseDubbo(d('rest://10.0.0.2:8080/com.a.Users'), 'http', undefined)?.weight, 100)
  assert.equal(parseDubbo('%%%', 'http', undefined), undefined)
})

test('kubernetes: ready (or unset) endpoints only, first address, port by name / number / the only one; zone, node and pod in meta', () => {
  const slice = (ports: Array<{ name?: string; port: number }>, eps: unknown[]) => ({ ports, endpoints: eps }) as never
  const ep = (addr: string, ready: boolean | undefined, extra = {}) => ({ addresses: [addr, '10.9.9.9'], conditions: ready === undefined ? {} : { ready }, zone: 'z1', nodeName: 'n1', targetRef: { kind: 'Pod', name: `p-${addr}` }, ...extra })
  const slices = [slice([{ name: 'http', port: 8080 }, { name: 'grpc', port: 9090 }], [ep('10.0.0.1', true), ep('10.0.0.2', false), ep('10.0.0.3', undefined)]), slice([{ name: 'http', port: 8080 }, { name: 'grpc', port: 9090 }], [ep('fd00::4', true)])]
  assert.deepEqual(
    sliceTargets(slices, 'http', 'http').map((t) => t.url),
    ['http://10.0.0.1:8080', 'http://10.0.0.3:8080', 'http://[fd00::4]:8080'],
  )
  assert.deepEqual(sliceTargets(slices, 9090, 'http').map((t) => t.url)[0], 'http://10.0.0.1:9090')
  assert.deepEqual(sliceTargets(slices, undefined, 'http'), [], 'two ports and none named: nothing is guessed')
  assert.deepEqual(sliceTargets([slice([{ port: 80 }], [ep('10.0.0.1', true)])], undefined, 'http')[0], { url: 'http://10.0.0.1:80', weight: 1, meta: { zone: 'z1', node: 'n1', pod: 'p-10.0.0.1' } })
})

test('config: the provider blocks validate (required keys, pairs that go together, one provider)', () => {
  const one = (disc: string) => {
    const r = loadConfigText(`upstreams:\n  u: { discovery: ${disc} }\nroutes:\n  - { name: r, paths: [/a], upstream: u }\n`, 'c.yaml', { checks: INSTALLED_CHECKS })
    return r.ok ? '' : formatErrors(r.errors)
  }
  assert.equal(one(`{ consul: { servers: [http://consul:8500], service: users, dc: dc1, tags: [v1], token: t } }`), '')
  assert.equal(one(`{ nacos: { service: users, group: g, namespace: prod, clusters: [EAST], username: u, password: p } }`), '')
  assert.equal(one(`{ zookeeper: { servers: ["zk-1:2181", "zk-2:2181"], layout: dubbo, service: com.acme.Users, protocol: rest } }`), '')
  assert.equal(one(`{ kubernetes: { service: users, namespace: shop, port: http } }`), '')
  assert.match(one(`{ consul: { servers: [http://consul:8500] } }`), /service/)
  assert.match(one(`{ nacos: { service: users, username: u } }`), /username and password go together/)
  assert.match(one(`{ nacos: { service: users, access_key: ak } }`), /access_key and secret_key go together/)
  assert.match(one(`{ zookeeper: { servers: ["zk-1"], service: users } }`), /servers/)
  assert.match(one(`{ kubernetes: { service: Users_Bad } }`), /service/)
  assert.match(one(`{ kubernetes: { service: users, kubeconfig: /k, api_server: "https://k:6443" } }`), /api_server is for the in-cluster config/)
  assert.match(one(`{ consul: { service: a }, nacos: { service: b } }`), /exactly one of/)
})

test('a worker loads no registry source module (nor node-zookeeper-client, nor the etcd3 client) until its config names one', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/helpers/imported-modules.mjs', 'src/control/worker.ts'], { encoding: 'utf8' })
  const urls = out.trim().split('\n')
  assert.ok(urls.some((u) => u.endsWith('/src/upstream/discovery/index.ts')), 'the helper saw discovery/index load')
  const unwanted = urls.filter((u) => /\/src\/upstream\/discovery\/(consul|nacos|zookeeper|kubernetes)\.ts$|node-zookeeper-client|\/node_modules\/etcd3\//.test(u))
  assert.deepEqual(unwanted, [])
})
