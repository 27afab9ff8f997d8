// The /status merge rules over workers: a target is healthy only if every answering worker sees it
// healthy, ejected if any worker ejected it, in-flight sums, the breaker shows the worst state;
// routes list their effective plugins; the text view escapes nothing it should not.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Config } from '../../../src/config/schema/index.js'
import type { DataPlaneStatus } from '../../../src/dataplane/data-plane.js'
import { renderStatusHtml, renderStatusText, routeStatus, upstreamStatus, workerStatus, type StatusDocument } from '../../../src/control/status.js'

const config = {
  plugins: [{ name: 'cors' }, { name: 'headers' }],
  upstreams: { u: { targets: [{ url: 'http://a:1' }, { url: 'http://b:1' }] }, idle: { targets: [{ url: 'http://c:1', weight: 3 }] } },
  routes: [
    { name: 'r1', paths: ['/x'], upstream: 'u', plugins: [{ name: 'headers', enabled: false }, { name: 'key-auth' }] },
    { name: 'r2', paths: ['/y', '/z/*'], methods: ['GET'], upstream: 'u' },
  ],
} as unknown as Config

function plane(breaker: string, a: { healthy: boolean; ejected?: boolean; in_flight?: number }, b: { healthy: boolean }): DataPlaneStatus {
  return {
    ready: true,
    version: 1,
    hash: 'h',
    inFlight: 2,
    routes: 2,
    upstreams: {
      u: {
        balancer: 'round-robin',
        breaker,
        in_flight: 1,
        queued: 0,
        targets: [
          { url: 'http://a:1', weight: 1, healthy: a.healthy, ejected: a.ejected ?? false, in_flight: a.in_flight ?? 0 },
          { url: 'http://b:1', weight: 1, healthy: b.healthy, ejected: false, in_flight: 0 },
        ],
      },
    },
  } as DataPlaneStatus
}

test('targets: healthy on every worker, ejected on any, in-flight summed; breaker is the worst state', () => {
  const planes = [
    { slot: 0, status: plane('closed', { healthy: true, in_flight: 2 }, { healthy: true }) },
    { slot: 1, status: plane('half-open', { healthy: false, ejected: true, in_flight: 1 }, { healthy: true }) },
    { slot: 2, status: null },
  ]
  const u = upstreamStatus(config, planes)
  assert.equal(u.u!.breaker, 'half-open')
  assert.equal(u.u!.in_flight, 2)
  assert.deepEqual(
    u.u!.targets.map((t) => [t.url, t.healthy, t.ejected, t.in_flight, t.unhealthy_on]),
    [
      ['http://a:1', false, true, 3, [1]],
      ['http://b:1', true, false, 0, []],
    ],
  )
  assert.deepEqual(u.u!.workers.map((w) => [w.slot, w.breaker]), [[0, 'closed'], [1, 'half-open']], 'a silent worker is left out')
  assert.equal(upstreamStatus(config, [{ slot: 0, status: plane('open', { healthy: true }, { healthy: true }) }, ...planes]).u!.breaker, 'open')
  // An upstream no worker reported comes from the config, with health unknown.
  assert.deepEqual(u.idle!.targets.map((t) => [t.url, t.weight, t.healthy]), [['http://c:1', 3, null]])
})

test('no worker answered: every upstream from the config, health unknown', () => {
  const u = upstreamStatus(config, [{ slot: 0, status: null }])
  assert.equal(u.u!.targets[0]!.healthy, null)
  assert.deepEqual(u.u!.workers, [])
})

test('routes: global plugins minus the ones a route disables, then its own', () => {
  assert.deepEqual(
    routeStatus(config).map((r) => [r.name, r.plugins, r.methods]),
    [
      ['r1', ['cors', 'key-auth'], null],
      ['r2', ['cors', 'headers'], ['GET']],
    ],
  )
})

test('text and HTML views: unknown health, no-answer workers, HTML-escaped content', () => {
  const planes = [{ slot: 0, status: plane('open', { healthy: false }, { healthy: true }) }, { slot: 1, status: null }]
  const doc: StatusDocument = {
    version: '0.1.0',
    mode: 'cluster',
    pid: 1,
    uptime_s: 3,
    ready: true,
    draining: false,
    config: { file: 'cfg<script>.yaml', version: 2, hash: 'a'.repeat(64), loaded_at: 't' },
    last_reload: { at: 't', trigger: 'file', result: 'rejected', version: null, errors: [{ message: 'bad <b>' }] },
    workers: workerStatus(
      [
        { slot: 0, id: 1, pid: 10, state: 'ready', restarts: 0, config_version: 2, last_error: null, started_at: null },
        { slot: 1, id: 2, pid: 11, state: 'ready', restarts: 1, config_version: 2, last_error: null, started_at: null },
      ],
      planes,
    ),
    routes: routeStatus(config),
    upstreams: upstreamStatus(config, planes),
    certificates: [],
  }
  assert.deepEqual(doc.workers.map((w) => [w.answered, w.in_flight]), [[true, 2], [false, null]])
  // Worker 0 answered for its version-1 Snapshot before its "loaded" for version 2 reached the
  // primary: its row says 1, the version its upstream figures describe. Worker 1 did not answer.
  assert.deepEqual(doc.workers.map((w) => w.config_version), [1, 2])
  const text = renderStatusText(doc)
  assert.match(text, /last reload +rejected +\(file, t\): bad <b>/)
  assert.match(text, /u +balancer=round-robin +breaker=open/)
  assert.match(text, /http:\/\/a:1 +1 +DOWN +0 +w0:down/)
  assert.match(text, /http:\/\/c:1 +3 +unknown/)
  assert.match(text, /idle .*targets 0\/1 up/)
  assert.match(text, /no answer/)
  const html = renderStatusHtml(doc)
  assert.doesNotMatch(html, /<script>|<b>/)
  assert.match(html, /cfg&lt;script&gt;\.yaml/)
})
