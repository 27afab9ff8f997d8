// The console's plugin config forms (generated from each plugin's schema, GET
// /admin/installed-plugins) end to end, in Debian's Chromium against one real gateway: a rate-limit
// added to a route through the form limits the route's traffic; an out-of-range value shows the
// validator's message at its field and Apply is refused; the form and the YAML text edit the same
// value. And the consumer form's hmac-auth credential: the signed request gets in, a wrong secret
// is a 401, and the secret is never in the page or in anything the admin API sends back.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { request } from 'undici'
import { authorization } from '../../src/plugins/hmac-auth/sign.js'
import { launchConsoleBrowser } from '../helpers/browser.js'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { startOrigin, echo, type Origin } from '../helpers/origin.js'
import { pollUntil } from '../helpers/poll.js'

const TOKEN = 'console-plugin-forms-admin-token-0123'
const SECRET = 'shop-hmac-secret-7c1e93a04b5d2f68'
const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const SHOTS = process.env.PORTICO_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../docs/console') : null
const WAIT = 20_000
interface BrowserGlobals {
  location: { hash: string }
  document: { documentElement: { outerHTML: string }; querySelectorAll(s: string): ArrayLike<{ value: string }> }
}

describe('console: plugin config forms from the plugin schemas, and the consumer form\'s hmac credential', () => {
  let gw: Gateway
  let origin: Origin
  let browser: Browser | undefined
  let page: Page
  let scriptErrors: string[] = []
  /** Every admin API answer the page received, as text: the secret must be in none. */
  const answers: Array<Promise<string>> = []

  const admin = async <T = unknown>(path: string): Promise<{ status: number; body: T; text: string }> => {
    const r = await request(`${gw.adminUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    const text = await r.body.text()
    return { status: r.statusCode, body: JSON.parse(text) as T, text }
  }
  const go = (hash: string) => page.evaluate((h) => ((globalThis as unknown as BrowserGlobals).location.hash = h), hash)
  const field = (name: string) => page.getByLabel(name, { exact: true })
  const applyButton = () => page.getByRole('button', { name: 'Apply' })
  const applied = () => page.getByTestId('outcome').filter({ hasText: /Applied: config version \d+ serves it/ }).waitFor({ timeout: WAIT })
  /** Opens the editor at `hash` (through another page, so it remounts) in its form view. */
  const openForm = async (hash: string, testid: string) => {
    await go('#/overview')
    await go(hash)
    await page.getByRole('heading', { name: /^(New|Edit) / }).waitFor({ timeout: WAIT })
    const form = page.getByLabel('Form', { exact: true })
    await pollUntil(() => form.isEnabled(), { timeoutMs: WAIT, what: 'the resource loaded (the form view enabled)' })
    await form.check()
    await page.getByTestId(testid).waitFor({ timeout: WAIT })
  }
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(`${gw.url}${path}`, { headers })
    await r.body.dump()
    return r.statusCode
  }
  /** Everything the page shows or holds: its HTML and every field's current value. */
  const pageText = () =>
    page.evaluate(() => {
      const d = (globalThis as unknown as BrowserGlobals).document
      return [d.documentElement.outerHTML, ...Array.from(d.querySelectorAll('input, textarea, select')).map((e) => e.value)].join('\n')
    })
  /** The problems shown at one field (its FieldErrors, by the field's path in the resource). */
  const errorsAt = (path: string) => page.locator(`[data-testid="field-error"][data-field="${path}"]`)
  const configText = () => page.getByLabel('rate-limit config', { exact: true })

  before(async () => {
    origin = await startOrigin(echo)
    gw = await startGateway({
      args: ['--no-cluster'],
      config: {
        admin: { tokens: [{ name: 'ops', role: 'admin', sha256: sha(TOKEN) }] },
        upstreams: { backend: { targets: [{ url: origin.url }] } },
        routes: [
          { name: 'limited', paths: ['/limited/*'], upstream: 'backend' },
          { name: 'signed', paths: ['/signed/*'], upstream: 'backend', plugins: [{ name: 'hmac-auth' }] },
        ],
      },
    })
    const b = await launchConsoleBrowser()
    ;({ browser, page } = b)
    scriptErrors = b.scriptErrors
    page.on('response', (r) => {
      if (new URL(r.url()).pathname.startsWith('/admin/')) answers.push(r.text().catch(() => ''))
    })
    await page.goto(`${gw.adminUrl}/ui/`)
    await page.getByLabel('Admin token').fill(TOKEN)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('navigation', { name: 'Console pages' }).waitFor({ timeout: WAIT })
  })

  after(async () => {
    await browser?.close()
    await gw?.stop()
    await origin?.close()
  })

  test('a rate-limit added through the generated form: the 4th request in the window is a 429', async () => {
    for (let i = 0; i < 5; i++) assert.equal(await get('/limited/x'), 200)
    await openForm('#/edit/routes/limited', 'route-form')
    await field('Plugin to add').fill('rate-limit')
    await page.getByRole('button', { name: 'Add plugin' }).click()
    // No config yet: the form says what is required, by the field.
    await errorsAt('plugins[0].config').filter({ hasText: 'missing required key "limits"' }).waitFor({ timeout: WAIT })
    assert.equal(await applyButton().isDisabled(), true)
    await page.getByRole('button', { name: 'Add rate-limit config limits' }).click()
    await errorsAt('plugins[0].config.limits[0]').filter({ hasText: 'missing required key "limit"' }).waitFor({ timeout: WAIT })
    const limit = field('rate-limit config limits 1 limit')
    assert.equal(await limit.getAttribute('aria-required'), 'true')
    assert.equal(await limit.getAttribute('min'), '1')
    // The schema's default is the placeholder, its description the help.
    const window = field('rate-limit config limits 1 window')
    assert.equal(await window.getAttribute('placeholder'), '1s')
    const help = await window.getAttribute('aria-describedby')
    assert.match((await page.locator(`#${(help ?? '').split(' ')[0]}`).textContent()) ?? '', /The window the limit applies to/)
    await limit.fill('3')
    // An hour: no window edge falls between the requests below.
    await window.fill('1h')
    await field('rate-limit config policy').selectOption({ label: 'local' })
    // Every field of the generated form has a label.
    const unlabelled = await page.locator('li.plugin-row[data-plugin="rate-limit"]').evaluate((row) =>
      Array.from((row as unknown as { querySelectorAll(s: string): ArrayLike<{ id: string; labels: ArrayLike<unknown> | null }> }).querySelectorAll('input, select, textarea'))
        .filter((e) => (e.labels?.length ?? 0) === 0)
        .map((e) => e.id),
    )
    assert.deepEqual(unlabelled, [])
    await page.getByTestId('form-status').filter({ hasText: 'Matches the schema' }).waitFor({ timeout: WAIT })
    if (SHOTS !== null) {
      mkdirSync(SHOTS, { recursive: true })
      await page.locator('li.plugin-row[data-plugin="rate-limit"]').screenshot({ path: join(SHOTS, 'plugin-form.png') })
    }
    await applyButton().click()
    await applied()

    const stored = await admin<{ data: { plugins: unknown[] } }>('/admin/routes/limited')
    assert.deepEqual(stored.body.data.plugins, [{ name: 'rate-limit', config: { limits: [{ limit: 3, window: '1h' }], policy: 'local' } }])
    const codes: number[] = []
    await pollUntil(
      async () => {
        codes.push(await get('/limited/x'))
        return codes.includes(429)
      },
      { timeoutMs: WAIT, what: 'a 429 from the rate-limited route' },
    )
    // The config served at once (Applied waits for it): 3 pass, the 4th is refused.
    assert.deepEqual(codes, [200, 200, 200, 429])
  })

  test('a limit out of range shows the validator\'s message at the field, and Apply is refused', async () => {
    await openForm('#/edit/routes/limited', 'route-form')
    const limit = field('rate-limit config limits 1 limit')
    await limit.waitFor({ timeout: WAIT })
    await limit.fill('-5')
    await errorsAt('plugins[0].config.limits[0].limit').filter({ hasText: 'routes[0].plugins[0].config.limits[0].limit: must be >= 1' }).waitFor({ timeout: WAIT })
    assert.equal(await limit.getAttribute('aria-invalid'), 'true')
    assert.equal(await applyButton().isDisabled(), true)
    await page.getByTestId('form-status').filter({ hasText: '1 problem with the schema' }).waitFor({ timeout: WAIT })
    // The text view shows the same message.
    await page.getByLabel('Text', { exact: true }).check()
    await page.getByTestId('live-problems').filter({ hasText: 'routes[0].plugins[0].config.limits[0].limit: must be >= 1' }).waitFor({ timeout: WAIT })
    const stored = await admin<{ data: { plugins: Array<{ config: { limits: Array<{ limit: number }> } }> } }>('/admin/routes/limited')
    assert.equal(stored.body.data.plugins[0]?.config.limits[0]?.limit, 3)
  })

  test('form and YAML edit the same value: switching either way keeps it', async () => {
    await openForm('#/edit/routes/limited', 'route-form')
    const limit = field('rate-limit config limits 1 limit')
    await limit.waitFor({ timeout: WAIT })
    assert.equal(await limit.inputValue(), '3')
    await limit.fill('7')
    await field('rate-limit config limits 1 algorithm').selectOption({ label: 'gcra' })
    // By keyboard: the switch is a radio group (arrow keys move the choice).
    await field('rate-limit config as form').focus()
    await page.keyboard.press('ArrowRight')
    assert.equal(await field('rate-limit config as YAML').isChecked(), true)
    const yaml = await configText().inputValue()
    assert.match(yaml, /limit: 7/)
    assert.match(yaml, /algorithm: gcra/)
    assert.match(yaml, /window: 1h/)
    await configText().fill(yaml.replace('limit: 7', 'limit: 9').replace('window: 1h', 'window: 2h'))
    await field('rate-limit config as form').check()
    assert.equal(await field('rate-limit config limits 1 limit').inputValue(), '9')
    assert.equal(await field('rate-limit config limits 1 window').inputValue(), '2h')
    assert.equal(await field('rate-limit config limits 1 algorithm').inputValue(), await field('rate-limit config limits 1 algorithm').locator('option', { hasText: 'gcra' }).getAttribute('value'))
    // What the text of the whole route says is what both views edited.
    await page.getByLabel('Text', { exact: true }).check()
    const route = await page.getByLabel('route as YAML').inputValue()
    assert.match(route, /limit: 9/)
    assert.match(route, /window: 2h/)
    // A config the form cannot show (a free-form mapping) is text only, with the reason.
    await openForm('#/edit/routes/limited', 'route-form')
    await field('Plugin to add').fill('headers')
    await page.getByRole('button', { name: 'Add plugin' }).click()
    await field('headers config').waitFor({ timeout: WAIT })
    assert.equal(await field('headers config as form').isDisabled(), true)
    await page.getByText("Parts of this plugin's config (unions, free-form mappings) have no form fields").waitFor({ timeout: WAIT })
  })

  test('a consumer with an hmac-auth credential through the form: signed requests get in, a wrong secret is a 401, the secret is never shown', async () => {
    const signed = (secret: string) => {
      const host = new URL(gw.url).host
      const auth = authorization('shop-1', { method: 'GET', path: '/signed/x', query: '', timestamp: Math.floor(Date.now() / 1000), nonce: randomBytes(16).toString('base64url'), headers: [['host', host]], body: '' }, secret)
      return get('/signed/x', { authorization: auth })
    }
    assert.equal(await signed(SECRET), 401)
    await go('#/consumers')
    await page.getByRole('link', { name: 'New consumer' }).click()
    await pollUntil(async () => (await page.getByLabel('consumer as YAML').inputValue()).includes('new-consumer'), { timeoutMs: WAIT, what: 'the new-consumer template' })
    await page.getByLabel('Form', { exact: true }).check()
    await page.getByTestId('consumer-form').waitFor({ timeout: WAIT })
    await field('Name').fill('shop')
    await page.getByRole('button', { name: 'Remove API key 1' }).click()
    await page.getByRole('button', { name: 'Add HMAC credential' }).click()
    await field('HMAC 1 key id').fill('shop-1')
    await field('HMAC 1 secret').fill(SECRET)
    assert.equal(await field('HMAC 1 secret').getAttribute('type'), 'password')
    await page.getByTestId('form-status').filter({ hasText: 'Matches the schema' }).waitFor({ timeout: WAIT })
    await applyButton().click()
    await applied()
    await page.getByRole('heading', { name: 'Edit consumer shop' }).waitFor({ timeout: WAIT })

    assert.equal(await signed(SECRET), 200)
    assert.equal(await signed('not-the-shop-secret-0123456789'), 401)
    const stored = await admin<{ data: { credentials: { hmac_auth: Array<{ key_id: string; secret: string }> } } }>('/admin/consumers/shop')
    assert.deepEqual(stored.body.data.credentials.hmac_auth, [{ key_id: 'shop-1', secret: '[REDACTED]' }])
    assert.ok(!stored.text.includes(SECRET))
    await openForm('#/edit/consumers/shop', 'consumer-form')
    await page.getByTestId('secret-stored').first().waitFor({ timeout: WAIT })
    assert.ok(!(await pageText()).includes(SECRET), 'the secret is not in the page after it was written')
    const bodies = await Promise.all(answers)
    assert.ok(bodies.length > 0)
    assert.ok(bodies.every((b) => !b.includes(SECRET)), 'no admin API answer the page read holds the secret')
    assert.deepEqual(scriptErrors, [])
  })
})
