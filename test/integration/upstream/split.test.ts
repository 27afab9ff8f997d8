// Traffic splitting through a real gateway and real origins: 95/5 shares, header and cookie
// overrides, stickiness per user, and a live weight change by reload that keeps the clusters
// (and their pools) and moves sticky users only towards the canary.
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import type { Snapshot } from '../../../src/snapshot/compile.js'
import { get, killableOrigin, type Killable } from './helpers.js'

let stable: Killable
let canary: Killable
let gw: InProcGateway

const config = (stableW: number, canaryW: number) => `upstreams:
  stable: { targets: [{ url: ${stable.url} }] }
  canary: { targets: [{ url: ${canary.url} }] }
routes:
  - name: api
    paths: [/api/*]
    upstreams: [{ name: stable, weight: ${stableW} }, { name: canary, weight: ${canaryW} }]
    split:
      sticky: { hash_on: "header:x-user-id" }
      overrides:
        - { header: x-canary, value: always, upstream: canary }
        - { cookie: release, value: stable, upstream: stable }
  - { name: plain, paths: [/plain], upstream: stable }
`

before(async () => {
  stable = await killableOrigin('stable')
  canary = await killableOrigin('canary')
  gw = await startInProc(config(95, 5))
})
after(async () => {
  await gw.close()
  await stable.close()
  await canary.close()
})

/** `n` requests, `conc` at a time; returns how many the canary answered. */
async function canaryCount(n: number, headers: (i: number) => Record<string, string> = () => ({}), conc = 16): Promise<number> {
  let next = 0
  let c = 0
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < n) {
        const i = next++
        const r = await get(`${gw.url}/api/x`, headers(i))
        assert.equal(r.status, 200)
        if (r.text === 'canary') c++
      }
    }),
  )
  return c
}

test('95/5: the canary gets about 5% of 3000 requests', async () => {
  const n = 3000
  const c = await canaryCount(n)
  // binomial σ ≈ 11.9 → ±4σ ≈ ±1.6 points
  assert.ok(Math.abs(c / n - 0.05) < 0.016, `canary share ${(c / n).toFixed(4)}`)
  const p = await get(`${gw.url}/plain`)
  assert.equal(p.text, 'stable') // a single-upstream route next to a split one is untouched
})

test('x-canary: always → canary; cookie release=stable → stable, whatever the weights', async () => {
  assert.equal(await canaryCount(100, () => ({ 'x-canary': 'always' })), 100)
  assert.equal(await canaryCount(100, () => ({ 'x-canary': 'sometimes', cookie: 'release=stable' })), 0)
})

test('sticky per x-user-id; a reload to 50/50 keeps the clusters and moves users only to the canary', async () => {
  const users = 300
  const first = new Map<number, string>()
  for (let u = 0; u < users; u++) {
    const a = await get(`${gw.url}/api/x`, { 'x-user-id': `user-${u}` })
    const b = await get(`${gw.url}/api/x`, { 'x-user-id': `user-${u}` })
    assert.equal(a.text, b.text, `user-${u} bounced`)
    first.set(u, a.text)
  }
  const clustersBefore = [...(gw.dp as unknown as { snapshot: Snapshot }).snapshot.clusters.values()]
  await gw.reload(config(50, 50))
  const clustersAfter = [...(gw.dp as unknown as { snapshot: Snapshot }).snapshot.clusters.values()]
  assert.deepEqual(clustersAfter, clustersBefore, 'a weight change carries the clusters over (same pools)')
  let inCanary = 0
  for (let u = 0; u < users; u++) {
    const now = (await get(`${gw.url}/api/x`, { 'x-user-id': `user-${u}` })).text
    if (first.get(u) === 'canary') assert.equal(now, 'canary', `user-${u} left the canary`)
    if (now === 'canary') inCanary++
  }
  assert.ok(Math.abs(inCanary / users - 0.5) < 0.12, `canary share after reload ${inCanary / users}`)
  await gw.reload(config(95, 5))
})

test('a dead canary: its own upstream answers 502, the stable branch keeps working', async () => {
  await canary.kill()
  try {
    const r = await get(`${gw.url}/api/x`, { 'x-canary': 'always' })
    assert.equal(r.status, 502)
    assert.equal(JSON.parse(r.text).error, 'upstream_unreachable')
    assert.equal((await get(`${gw.url}/api/x`, { cookie: 'release=stable' })).text, 'stable')
  } finally {
    await canary.revive()
  }
})
