// Pure parts of the config-center sources: Consul's index rule, and how an Apollo namespace's
// items become stored resources (properties: one item per resource; yaml: the document's resources);
// a file's document as written, read the same whether it is JSON or YAML.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { nextIndex } from '../../../src/control/sources/consul.js'
import { namespaceEntries } from '../../../src/control/sources/apollo.js'
import { loadConfigText } from '../../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { parseWritten } from '../../../src/control/sources/source.js'

test('Consul: an index going backwards resets to 0 (a plain read); 0 is clamped to 1; otherwise the answer', () => {
  assert.equal(nextIndex(40, 12), 0)
  assert.equal(nextIndex(0, 0), 1)
  assert.equal(nextIndex(40, 40), 40)
  assert.equal(nextIndex(40, 41), 41)
})

test('Apollo properties namespace: <kind>.<name> items are resources; other items are ignored', () => {
  const r = namespaceEntries('application', { 'routes.users-api': '{"paths":["/u"],"upstream":"u"}', 'upstreams.u.v1': '{"targets":[]}', 'timeout': '3000', 'other.key': 'x' })
  assert.ok('entries' in r)
  assert.deepEqual([...r.entries.keys()], ['routes.users-api', 'upstreams.u.v1'])
})

test('Apollo yaml namespace: resources by name; settings, unnamed or duplicate items refuse it with a line', () => {
  const ok = namespaceEntries('portico.yaml', { content: 'upstreams:\n  u: { targets: [{ url: "http://127.0.0.1:1" }] }\nroutes:\n  - { name: r, paths: [/r], upstream: u }\n' })
  assert.ok('entries' in ok)
  assert.deepEqual([...ok.entries.keys()], ['upstreams.u', 'routes.r'])
  const bad = namespaceEntries('portico.yaml', { content: 'server: { listen: 0.0.0.0:80 }\nroutes:\n  - { paths: [/r] }\n  - { name: a }\n  - { name: a }\n' })
  assert.ok('errors' in bad)
  assert.deepEqual(bad.errors.map((e) => [e.path, e.line]), [['server', 1], ['routes[0]', 3], ['routes[2].name', 5]])
  const broken = namespaceEntries('portico.yaml', { content: 'routes: [ {' })
  assert.ok('errors' in broken && broken.errors[0]!.line === 1)
  assert.ok('errors' in namespaceEntries('portico.yaml', {}), 'no content item')
})

test('config_center takes exactly one center, said so with its line', () => {
  const two = loadConfigText('config_center:\n  consul: {}\n  zookeeper: {}\nupstreams: {}\nroutes: []\n', 'two.yaml', { checks: INSTALLED_CHECKS })
  assert.ok(!two.ok)
  assert.deepEqual(two.errors.map((e) => [e.path, e.line, e.message]), [['config_center', 2, 'takes exactly one of etcd, consul, zookeeper, apollo']])
  assert.ok(loadConfigText('config_center:\n  apollo: { server: "http://apollo:8080", app_id: gw }\nupstreams: {}\nroutes: []\n', 'one.yaml', { checks: INSTALLED_CHECKS }).ok)
})

test('the document as written: a JSON file (JSON.parse) reads as the same document as its YAML form; references stay unresolved', () => {
  const doc = { upstreams: { u: { targets: [{ url: 'http://127.0.0.1:1' }] } }, consumers: [{ name: 'c', key_auth: { key: '${env:KEY}' } }], routes: [{ name: 'r', paths: ['/r'], upstream: 'u' }] }
  const yaml = 'upstreams:\n  u: { targets: [{ url: "http://127.0.0.1:1" }] }\nconsumers:\n  - { name: c, key_auth: { key: "${env:KEY}" } }\nroutes:\n  - { name: r, paths: [/r], upstream: u }\n'
  assert.deepEqual(parseWritten(JSON.stringify(doc)), doc)
  assert.deepEqual(parseWritten('\uFEFF  ' + JSON.stringify(doc, null, 2)), doc, 'a BOM and leading space')
  assert.deepEqual(parseWritten(yaml), doc)
  // Flow-style YAML that is not JSON still reads, through the YAML parser.
  assert.deepEqual(parseWritten('{ upstreams: {}, routes: [] }'), { upstreams: {}, routes: [] })
  assert.deepEqual(parseWritten('- not a mapping'), {})
})
