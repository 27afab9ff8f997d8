// The console's fleet page on a real fleet: a real etcd and two real gateways using it as their
// config center (config_center.etcd, fleet view on), and Debian's Chromium signed in to the first.
// The page lists both instances; the second one stopped (SIGTERM revokes its lease), the page
// drops it without a reload. The overview lists the fleet's instances too, and the traffic page
// says its figures are this instance's, naming it and the other one. Its own file: etcd and two
// gateways would slow console.test.ts.
// PORTICO_SCREENSHOTS=1 also writes docs/console/fleet.png and overview-fleet.png (docs/console.md).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { launchConsoleBrowser, type ConsoleBrowser } from '../helpers/browser.js'
import { startEtcd, type EtcdServer } from '../helpers/etcd.js'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { pollUntil } from '../helpers/poll.js'

const PREFIX = '/portico-console-fleet/'
const ADMIN = 'console-fleet-admin-0123456789'
const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const SHOTS = process.env.PORTICO_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../docs/console') : null
const WAIT = 30_000
const IDS = ['edge-a', 'edge-b'] as const

describe('console fleet page on etcd, two instances', () => {
  let etcd: EtcdServer
  let dir: string
  const gws: Gateway[] = []
  let cb: ConsoleBrowser
  let page: ConsoleBrowser['page']

  before(async () => {
    ;[etcd, dir] = await Promise.all([startEtcd(), mkdtemp(join(tmpdir(), 'portico-console-fleet-'))])
    const boot = (n: number) => ({
      admin: { tokens: [{ name: 'ops', role: 'admin', sha256: sha(ADMIN) }] },
      // A 2 s lease: were the stop's revoke lost, the record would still go quickly.
      config_center: { etcd: { endpoints: [etcd.url], prefix: PREFIX, timeout: '1s', cache_file: join(dir, `cache-${n}.json`), fleet: { node_id: IDS[n], ttl: '2s' } } },
      upstreams: {},
      routes: [],
    })
    gws.push(...(await Promise.all([0, 1].map((n) => startGateway({ config: boot(n), args: ['--no-cluster'], readyTimeoutMs: 90_000 })))))
    cb = await launchConsoleBrowser()
    page = cb.page
  })

  after(async () => {
    await cb?.close()
    await Promise.all(gws.map((g) => g.stop()))
    await etcd?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('the fleet page lists both instances, and drops the one that stops', async () => {
    const [a, b] = gws as [Gateway, Gateway]
    await page.goto(`${a.adminUrl}/ui/#/fleet`)
    await page.getByLabel('Admin token').fill(ADMIN)
    await page.getByRole('button', { name: 'Sign in' }).click()
    const table = page.getByTestId('fleet')
    const row = (id: string) => table.locator(`tr[data-instance="${id}"]`)
    const go = (hash: string) => page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), hash)
    // The instances register independently: wait until this one's copy holds both.
    await page.getByTestId('fleet-total').filter({ hasText: /^2$/ }).waitFor({ timeout: WAIT })
    for (const [i, g] of [a, b].entries()) {
      const r = row(IDS[i]!)
      await r.getByTestId('instance-ready').filter({ hasText: /^ready$/ }).waitFor({ timeout: WAIT })
      await r.getByTestId('instance-sync').filter({ hasText: /^current$/ }).waitFor({ timeout: WAIT })
      const text = (await r.textContent()) ?? ''
      assert.ok(text.includes(`127.0.0.1:${g.adminPort}`), text)
      assert.ok(text.includes(`http 127.0.0.1:${g.port}`), text)
      assert.ok(text.includes(`pid ${g.pid}`), text)
      assert.equal(text.includes('(this one)'), i === 0)
      assert.match(await r.getByTestId('instance-revision').textContent() ?? '', /^\d+$/)
    }
    assert.equal(await page.getByTestId('fleet-synced').textContent(), 'synced with etcd')
    assert.equal(await page.getByTestId('fleet-behind').textContent(), '0')
    if (SHOTS !== null) {
      mkdirSync(SHOTS, { recursive: true })
      await page.screenshot({ path: join(SHOTS, 'fleet.png') })
    }

    // The overview: the same instances, each with its revision, sync and health, and the summary.
    await go('#/overview')
    const overview = page.getByTestId('overview-fleet')
    const summary = page.getByTestId('overview-fleet-summary')
    await summary.filter({ hasText: /^2 instances on / }).waitFor({ timeout: WAIT })
    const said = (await summary.textContent()) ?? ''
    for (const words of [`on ${PREFIX}`, '0 behind', '0 not ready']) assert.ok(said.includes(words), `${words} not in ${said}`)
    for (const [i, g] of [a, b].entries()) {
      const r = overview.locator(`tr[data-instance="${IDS[i]!}"]`)
      await r.getByTestId('instance-ready').filter({ hasText: /^ready$/ }).waitFor({ timeout: WAIT })
      assert.equal(await r.getByTestId('instance-sync').textContent(), 'current')
      assert.match(await r.getByTestId('instance-revision').textContent() ?? '', /^\d+$/)
      assert.ok(((await r.textContent()) ?? '').includes(`127.0.0.1:${g.adminPort}`))
    }
    if (SHOTS !== null) await page.screenshot({ path: join(SHOTS, 'overview-fleet.png') })
    // The traffic page counts this instance only, and says which one and that another is not counted.
    await go('#/traffic')
    const scope = page.getByTestId('traffic-scope')
    await scope.filter({ hasText: 'The 1 other instance of the fleet serves traffic not counted here' }).waitFor({ timeout: WAIT })
    const note = (await scope.textContent()) ?? ''
    assert.ok(note.startsWith(`This instance only (${IDS[0]}, admin 127.0.0.1:${a.adminPort})`), note)
    await go('#/fleet')
    await row(IDS[1]!).waitFor({ timeout: WAIT })

    // SIGTERM: B revokes its lease on the way out, A's watch sees the record go, the page follows.
    const exit = await b.stop()
    assert.equal(exit.code, 0)
    await pollUntil(async () => (await row(IDS[1]!).count()) === 0 && (await page.getByTestId('fleet-total').textContent()) === '1', { timeoutMs: WAIT, intervalMs: 100, what: 'edge-b gone from the page' })
    assert.equal(await row(IDS[0]!).count(), 1)
    assert.ok(!page.url().includes(ADMIN))
  })

  test('no script error or CSP violation, and no URL carried the token', () => {
    assert.deepEqual(cb.scriptErrors, [])
    assert.ok(cb.urls.length > 3)
    assert.deepEqual(cb.urls.filter((u) => u.includes(ADMIN)), [])
  })
})
