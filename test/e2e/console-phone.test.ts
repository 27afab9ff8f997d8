// The console at phone width (390×844, an iPhone 12-14 viewport) in Debian's Chromium against one
// real gateway: a route created through the form view with a rate-limit plugin whose config form is
// generated from its schema (nested list rows, selects, number fields). The page never scrolls
// sideways, every field is inside the viewport, and the route it creates limits traffic. After the
// create the editor moves to the new route's URL and stays in the form view. Every other page at
// the same width: no sideways scrolling of the page (wide tables scroll inside their own box). The
// traffic page says its figures are this instance's, and charts degraded-mode requests per route:
// a route whose introspection endpoint fails (503) with failure_mode open gets the chart, the
// route beside it does not.
// PORTICO_SCREENSHOTS=1 also writes docs/console/plugin-form-phone.png (docs/console.md).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { request } from 'undici'
import { launchConsoleBrowser, type ConsoleBrowser } from '../helpers/browser.js'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { startOrigin, echo, type Origin } from '../helpers/origin.js'
import { pollUntil } from '../helpers/poll.js'

const TOKEN = 'console-phone-admin-token-0123456789'
const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const SHOTS = process.env.PORTICO_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../docs/console') : null
const WAIT = 20_000
const PHONE = { width: 390, height: 844 }

interface Layout {
  scrollWidth: number
  viewport: number
  /** Form controls whose box reaches past the viewport's left or right edge. */
  outside: string[]
}
interface El {
  id: string
  name: string
  type: string
  getBoundingClientRect(): { left: number; right: number; width: number }
}
interface PageGlobals {
  innerWidth: number
  location: { hash: string }
  document: { scrollingElement: { scrollWidth: number }; querySelectorAll(s: string): ArrayLike<El> }
}

describe('console at phone width (390×844)', () => {
  let gw: Gateway
  let origin: Origin
  /** An authorization server that is down: every introspection call gets a 503. */
  let idp: Origin
  let cb: ConsoleBrowser
  let page: ConsoleBrowser['page']

  const go = (hash: string) => page.evaluate((h) => ((globalThis as unknown as PageGlobals).location.hash = h), hash)
  const field = (name: string) => page.getByLabel(name, { exact: true })
  /** The page's own width against the viewport's, and every visible control that sticks out of it. */
  const layout = (): Promise<Layout> =>
    page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals
      const outside = Array.from(g.document.querySelectorAll('input, select, textarea, button'))
        .filter((e) => {
          const r = e.getBoundingClientRect()
          return r.width > 0 && (r.left < 0 || r.right > g.innerWidth)
        })
        .map((e) => e.id || e.name || e.type)
      return { scrollWidth: g.document.scrollingElement.scrollWidth, viewport: g.innerWidth, outside }
    })
  const assertFits = async (what: string) => {
    const l = await layout()
    assert.equal(l.viewport, PHONE.width)
    assert.ok(l.scrollWidth <= l.viewport, `${what}: the page is ${l.scrollWidth}px wide in a ${l.viewport}px viewport`)
    assert.deepEqual(l.outside, [], `${what}: controls outside the viewport`)
  }
  const get = async (path: string) => {
    const r = await request(`${gw.url}${path}`)
    await r.body.dump()
    return r.statusCode
  }

  before(async () => {
    ;[origin, idp] = await Promise.all([startOrigin(echo), startOrigin((_req, res) => res.writeHead(503).end())])
    gw = await startGateway({
      args: ['--no-cluster'],
      config: {
        admin: { tokens: [{ name: 'ops', role: 'admin', sha256: sha(TOKEN) }] },
        upstreams: { backend: { targets: [{ url: origin.url }] } },
        routes: [
          { name: 'api', paths: ['/api/*'], upstream: 'backend', plugins: [{ name: 'cors' }] },
          {
            name: 'idp-down',
            paths: ['/idp/*'],
            upstream: 'backend',
            plugins: [{ name: 'oauth2-introspection', config: { endpoint: `${idp.url}/introspect`, client_id: 'gateway', client_secret: 'phone-test-client-secret', failure_mode: 'open' } }],
          },
        ],
      },
    })
    cb = await launchConsoleBrowser(PHONE)
    page = cb.page
    await page.goto(`${gw.adminUrl}/ui/`)
    await page.getByLabel('Admin token').fill(TOKEN)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('navigation', { name: 'Console pages' }).waitFor({ timeout: WAIT })
  })

  after(async () => {
    await cb?.close()
    await gw?.stop()
    await origin?.close()
    await idp?.close()
  })

  test('a route with a rate-limit created through the form: nothing sideways, and the editor stays in the form view', async () => {
    await go('#/edit/routes')
    await page.getByRole('heading', { name: 'New route' }).waitFor({ timeout: WAIT })
    const form = field('Form')
    await pollUntil(() => form.isEnabled(), { timeoutMs: WAIT, what: 'the template loaded (the form view enabled)' })
    await form.check()
    await page.getByTestId('route-form').waitFor({ timeout: WAIT })
    await field('Name').fill('phone')
    await field('Paths (one per line)').fill('/phone/*')
    await field('Upstream').selectOption('backend')
    await field('Plugin to add').fill('rate-limit')
    await page.getByRole('button', { name: 'Add plugin' }).click()
    await page.getByRole('button', { name: 'Add rate-limit config limits' }).click()
    await field('rate-limit config limits 1 limit').fill('2')
    await field('rate-limit config limits 1 window').fill('1h')
    await field('rate-limit config policy').selectOption({ label: 'local' })
    await page.getByTestId('form-status').filter({ hasText: 'Matches the schema' }).waitFor({ timeout: WAIT })
    await assertFits('the route form with a rate-limit config form')
    // Reachable by keyboard too: the last field of the nested list row takes focus and typing.
    await field('rate-limit config limits 1 limit').focus()
    await page.keyboard.press('Backspace')
    await page.keyboard.type('3')
    assert.equal(await field('rate-limit config limits 1 limit').inputValue(), '3')
    if (SHOTS !== null) {
      mkdirSync(SHOTS, { recursive: true })
      // The viewport as a phone shows it, scrolled to the nested list row of the config form.
      await page.locator('fieldset[data-field="plugins[0].config.limits[0]"]').evaluate((e) => (e as unknown as { scrollIntoView(o: object): void }).scrollIntoView({ block: 'center' }))
      await page.screenshot({ path: join(SHOTS, 'plugin-form-phone.png') })
    }

    await page.getByRole('button', { name: 'Apply' }).click()
    await page.getByTestId('outcome').filter({ hasText: /Applied: config version \d+ serves it \(create routes phone\)/ }).waitFor({ timeout: WAIT })
    // The create moved the editor to the route's own URL (a fresh editor): still the form view.
    await page.getByRole('heading', { name: 'Edit route phone' }).waitFor({ timeout: WAIT })
    assert.equal(await field('Form').isChecked(), true, 'the form view after the create')
    await page.getByTestId('route-form').waitFor({ timeout: WAIT })
    await pollUntil(async () => (await field('rate-limit config limits 1 limit').inputValue()) === '3', { timeoutMs: WAIT, what: 'the served route in the form' })
    await assertFits('the route form after the create')

    const statuses = [await get('/phone/a'), await get('/phone/b'), await get('/phone/c'), await get('/phone/d')]
    assert.deepEqual(statuses, [200, 200, 200, 429])
  })

  test('every page fits the phone width: tables scroll inside their own box', async () => {
    const pages: Array<[string, () => Promise<unknown>]> = [
      ['#/overview', () => page.getByTestId('readiness').waitFor({ timeout: WAIT })],
      ['#/routes', () => page.getByTestId('routes').getByRole('rowheader', { name: 'api' }).waitFor({ timeout: WAIT })],
      ['#/routes/api', () => page.getByRole('heading', { name: 'Route api' }).waitFor({ timeout: WAIT })],
      ['#/upstreams', () => page.getByRole('heading', { name: 'Upstreams' }).waitFor({ timeout: WAIT })],
      ['#/consumers', () => page.getByRole('heading', { name: 'Consumers' }).waitFor({ timeout: WAIT })],
      ['#/plugins', () => page.getByRole('heading', { name: 'Global plugins' }).waitFor({ timeout: WAIT })],
      ['#/traffic', () => page.getByRole('heading', { name: 'Live traffic' }).waitFor({ timeout: WAIT })],
      ['#/fleet', () => page.getByTestId('fleet-empty').waitFor({ timeout: WAIT })],
      ['#/certificates', () => page.getByRole('heading', { name: 'Certificates' }).waitFor({ timeout: WAIT })],
      ['#/audit', () => page.getByRole('heading', { name: 'Audit log' }).waitFor({ timeout: WAIT })],
      ['#/revoke', () => page.getByRole('heading', { name: 'Token revocation' }).waitFor({ timeout: WAIT })],
      ['#/cache', () => page.getByRole('heading', { name: 'Cache purge' }).waitFor({ timeout: WAIT })],
      ['#/edit/routes/api', () => page.getByLabel('route as YAML').waitFor({ timeout: WAIT })],
    ]
    for (const [hash, ready] of pages) {
      await go(hash)
      await ready()
      await assertFits(hash)
    }
  })

  test('the traffic page: this instance only, and degraded-mode requests charted on the route that had them', async () => {
    await go('#/traffic')
    const scope = page.getByTestId('traffic-scope')
    await scope.filter({ hasText: 'This instance only' }).waitFor({ timeout: WAIT })
    const degraded = page.locator('[data-route="idp-down"]').getByTestId('degraded')
    let n = 0
    // Requests across several 2 s samples, until the chart has a rate for the plugin.
    await pollUntil(
      async () => {
        const r = await request(`${gw.url}/idp/x`, { headers: { authorization: `Bearer phone-token-${n++}` } })
        await r.body.dump()
        assert.equal(r.statusCode, 200, 'failure_mode open lets the request through')
        const latest = degraded.getByTestId('latest-oauth2-introspection')
        return (await latest.count()) === 1 && /^[1-9][\d.]*\/s$|^0\.[1-9]\d*\/s$/.test((await latest.textContent()) ?? '')
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'a degraded-mode rate on idp-down' },
    )
    assert.equal(await degraded.getAttribute('data-series'), 'oauth2-introspection')
    assert.match((await degraded.getByRole('img').getAttribute('aria-label')) ?? '', /^degraded mode requests\/s by plugin \(a dependency failed\): oauth2-introspection [\d.]+\/s$/)
    // The route beside it had none: no degraded chart there (its requests/s chart is there).
    await get('/api/x')
    await page.locator('[data-route="api"]').waitFor({ timeout: WAIT })
    assert.equal(await page.locator('[data-route="api"]').getByTestId('degraded').count(), 0)
    await assertFits('#/traffic with charts')
    if (SHOTS !== null) await page.screenshot({ path: join(SHOTS, 'traffic-phone.png'), fullPage: true })
  })

  test('no script error or CSP violation, and no URL carried the token', () => {
    assert.deepEqual(cb.scriptErrors, [])
    assert.deepEqual(cb.urls.filter((u) => u.includes(TOKEN)), [])
  })
})
