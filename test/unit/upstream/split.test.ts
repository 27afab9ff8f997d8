// Traffic splitting: shares, overrides, stickiness (and what moves when weights change), and the
// config rules (upstream xor upstreams, names, overrides).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { TrafficSplit, stickyPoint } from '../../../src/upstream/split.js'
import { RequestContext } from '../../../src/core/context.js'
import { loadConfigText, formatErrors } from '../../../src/config/index.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'

function ctx(headers: Record<string, string> = {}, ip = '10.0.0.1'): RequestContext {
  const req = { method: 'GET', headers } as unknown as IncomingMessage
  const c = new RequestContext(req, {} as ServerResponse, 'id', 0)
  c.clientIp = ip
  return c
}

const split = (stable: number, canary: number, config = {}) =>
  new TrafficSplit(
    [
      { name: 'stable', weight: stable, value: 'stable' },
      { name: 'canary', weight: canary, value: 'canary' },
    ],
    config,
  )

test('95/5 without a sticky key: the canary share is 5% within tolerance', () => {
  const s = split(95, 5)
  const n = 40_000
  let canary = 0
  for (let i = 0; i < n; i++) if (s.choose(ctx()) === 'canary') canary++
  // binomial σ = sqrt(n·p·(1-p)) ≈ 44 → ±4σ ≈ ±0.44 points
  assert.ok(Math.abs(canary / n - 0.05) < 0.005, `canary share ${canary / n}`)
})

test('weights split the [0,1) line in list order; weight 0 is never drawn', () => {
  const s = split(95, 5)
  assert.equal(s.branches[s.indexAt(0)]!.name, 'stable')
  assert.equal(s.branches[s.indexAt(0.9499)]!.name, 'stable')
  assert.equal(s.branches[s.indexAt(0.95)]!.name, 'canary')
  assert.equal(s.branches[s.indexAt(0.99999)]!.name, 'canary')
  const off = split(100, 0)
  for (let p = 0; p < 1; p += 0.001) assert.equal(off.indexAt(p), 0)
  assert.throws(() => split(0, 0), /weight above 0/)
})

test('overrides by header and by cookie win over the weights, in order; other values do not', () => {
  const s = split(100, 0, {
    overrides: [
      { header: 'x-canary', value: 'always', upstream: 'canary' },
      { header: 'x-canary', value: 'never', upstream: 'stable' },
      { cookie: 'release', value: 'canary', upstream: 'canary' },
    ],
  })
  assert.equal(s.choose(ctx({ 'x-canary': 'always' })), 'canary')
  assert.equal(s.choose(ctx({ 'x-canary': 'never' })), 'stable')
  assert.equal(s.choose(ctx({ 'x-canary': 'Always' })), 'stable') // exact value only
  assert.equal(s.choose(ctx({ cookie: 'a=1; release=canary; b=2' })), 'canary')
  assert.equal(s.choose(ctx({ cookie: 'xrelease=canary' })), 'stable')
  const s2 = split(0, 100, { overrides: [{ header: 'x-canary', value: 'never', upstream: 'stable' }] })
  assert.equal(s2.choose(ctx({ 'x-canary': 'never' })), 'stable')
  assert.throws(() => split(1, 1, { overrides: [{ header: 'x', value: 'y', upstream: 'nope' }] }), /not one of the route's upstreams/)
})

test('sticky by header: a user keeps its upstream; shares over users hold; no key → random', () => {
  const s = split(95, 5, { sticky: { hash_on: 'header:x-user-id' } })
  let canary = 0
  const users = 20_000
  for (let u = 0; u < users; u++) {
    const first = s.choose(ctx({ 'x-user-id': `user-${u}` }))
    for (let k = 0; k < 3; k++) assert.equal(s.choose(ctx({ 'x-user-id': `user-${u}` })), first)
    if (first === 'canary') canary++
  }
  assert.ok(Math.abs(canary / users - 0.05) < 0.01, `sticky canary share ${canary / users}`)
  const seen = new Set<string>()
  for (let i = 0; i < 2000; i++) seen.add(s.choose(ctx()))
  assert.deepEqual([...seen].sort(), ['canary', 'stable'])
})

test('sticky by ip and by cookie', () => {
  const byIp = split(50, 50, { sticky: { hash_on: 'ip' } })
  const byCookie = split(50, 50, { sticky: { hash_on: 'cookie:uid' } })
  for (let i = 0; i < 200; i++) {
    const ip = `10.1.${i >> 8}.${i & 255}`
    assert.equal(byIp.choose(ctx({}, ip)), byIp.choose(ctx({}, ip)))
    assert.equal(byCookie.choose(ctx({ cookie: `uid=${i}` })), byCookie.choose(ctx({ cookie: `x=1; uid=${i}` })))
  }
})

test('raising the canary (listed last) only moves users from stable to canary', () => {
  const before = split(95, 5, { sticky: { hash_on: 'header:x-user-id' } })
  const after = split(80, 20, { sticky: { hash_on: 'header:x-user-id' } })
  let moved = 0
  for (let u = 0; u < 10_000; u++) {
    const c = ctx({ 'x-user-id': `u${u}` })
    const a = before.choose(c)
    const b = after.choose(c)
    if (a === 'canary') assert.equal(b, 'canary', `user u${u} went back to stable`)
    if (a !== b) moved++
  }
  assert.ok(Math.abs(moved / 10_000 - 0.15) < 0.02, `moved ${moved}`)
  assert.ok(stickyPoint('x') >= 0 && stickyPoint('x') < 1)
})

// ---- config rules ----

const UPS = `upstreams:
  stable: { targets: [{ url: http://127.0.0.1:1 }] }
  canary: { targets: [{ url: http://127.0.0.1:2 }] }
`
const errorsOf = (yaml: string) => {
  const r = loadConfigText(UPS + yaml, 'c.yaml', { checks: INSTALLED_CHECKS })
  return r.ok ? '' : formatErrors(r.errors)
}

test('config: a valid split loads', () => {
  const r = loadConfigText(
    `${UPS}routes:
  - name: r
    paths: [/a]
    upstreams: [{ name: stable, weight: 95 }, { name: canary, weight: 5 }]
    split:
      sticky: { hash_on: "header:x-user-id" }
      overrides: [{ header: x-canary, value: always, upstream: canary }, { cookie: rel, value: c, upstream: canary }]
`,
    'c.yaml', { checks: INSTALLED_CHECKS })
  assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
})

test('config: upstream xor upstreams, known and unique names, weights, overrides', () => {
  assert.match(errorsOf(`routes:\n  - { name: r, paths: [/a], upstream: stable, upstreams: [{ name: canary, weight: 1 }] }\n`), /either upstream or upstreams/)
  assert.match(errorsOf(`routes:\n  - { name: r, paths: [/a] }\n`), /needs upstream \(or upstreams/)
  assert.match(errorsOf(`routes:\n  - { name: r, paths: [/a], upstreams: [{ name: stabel, weight: 1 }] }\n`), /unknown upstream "stabel"[\s\S]*did you mean "stable"/)
  assert.match(errorsOf(`routes:\n  - { name: r, paths: [/a], upstreams: [{ name: stable, weight: 1 }, { name: stable, weight: 2 }] }\n`), /listed twice/)
  assert.match(errorsOf(`routes:\n  - { name: r, paths: [/a], upstreams: [{ name: stable, weight: 0 }, { name: canary, weight: 0 }] }\n`), /weight 0/)
  assert.match(errorsOf(`routes:\n  - { name: r, paths: [/a], upstreams: [{ name: stable }] }\n`), /weight/)
  assert.match(errorsOf(`routes:\n  - { name: r, paths: [/a], upstream: stable, split: { sticky: { hash_on: ip } } }\n`), /split only applies/)
  assert.match(
    errorsOf(`routes:\n  - { name: r, paths: [/a], upstreams: [{ name: stable, weight: 1 }], split: { overrides: [{ header: x, value: y, upstream: canary }] } }\n`),
    /not one of this route's upstreams/,
  )
  assert.match(
    errorsOf(`routes:\n  - { name: r, paths: [/a], upstreams: [{ name: stable, weight: 1 }], split: { overrides: [{ header: x, cookie: y, value: y, upstream: stable }] } }\n`),
    /exactly one of header and cookie/,
  )
  assert.match(errorsOf(`routes:\n  - { name: r, paths: [/a], upstreams: [{ name: stable, weight: 1 }], split: { sticky: { hash_on: path } } }\n`), /hash_on/)
})

test('config: targets xor discovery; dns needs a port except for SRV; etcd needs a prefix', () => {
  const one = (up: string) => {
    const r = loadConfigText(`upstreams:\n  u: ${up}\nroutes:\n  - { name: r, paths: [/a], upstream: u }\n`, 'c.yaml', { checks: INSTALLED_CHECKS })
    return r.ok ? '' : formatErrors(r.errors)
  }
  assert.equal(one(`{ discovery: { dns: { name: users.internal, port: 8080 } } }`), '')
  assert.equal(one(`{ discovery: { dns: { name: _http._tcp.users.internal, record: SRV, servers: ["10.0.0.2:5353", "[fd00::2]:53"] } } }`), '')
  assert.equal(one(`{ discovery: { etcd: { endpoints: [http://127.0.0.1:2379], prefix: /services/users/ } } }`), '')
  assert.match(one(`{ targets: [{ url: http://a:1 }], discovery: { dns: { name: a, port: 1 } } }`), /either targets .* or discovery/)
  assert.match(one(`{ balancer: random }`), /needs targets/)
  assert.match(one(`{ discovery: {} }`), /needs one of dns, etcd, consul, nacos, zookeeper, kubernetes/)
  assert.match(one(`{ discovery: { dns: { name: a, port: 1 }, etcd: { prefix: /x/ } } }`), /exactly one of dns, etcd, consul/)
  assert.match(one(`{ discovery: { dns: { name: users.internal } } }`), /port is required/)
  assert.match(one(`{ discovery: { dns: { name: users.internal, record: SRV } } }`), /SRV name starts with _/)
  assert.match(one(`{ discovery: { dns: { name: a, port: 1, servers: [dns.example.com] } } }`), /IP address/)
  assert.match(one(`{ discovery: { etcd: { endpoints: [http://127.0.0.1:2379] } } }`), /prefix/)
})
