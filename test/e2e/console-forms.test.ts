// The console's consumer and global-plugin forms end to end: one real gateway with a user plugin
// installed (PORTICO_PLUGINS=examples/plugins/api-version) and Debian's Chromium. A consumer made
// through the form gets in with its key-auth key; an edit that leaves the key alone keeps it; the
// key is never in the page or in anything the admin API sent the page. A global plugin added by
// the form changes proxied responses, and switching it off undoes that. The plugin picker offers
// the user plugin. An invalid plugin config is flagged as you type and, sent anyway from the text
// view, gets the gateway's own error and changes nothing.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { request } from 'undici'
import { launchConsoleBrowser } from '../helpers/browser.js'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { startOrigin, echo, type Origin } from '../helpers/origin.js'
import { pollUntil } from '../helpers/poll.js'

const TOKEN = 'console-forms-admin-token-0123456789'
const KEY = 'bob-key-4f1c9e2a7d3b8c60'
const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const WAIT = 20_000
const USER_PLUGIN = resolve(import.meta.dirname, '../../examples/plugins/api-version')
interface BrowserGlobals {
  location: { hash: string }
  document: { documentElement: { outerHTML: string }; querySelectorAll(s: string): ArrayLike<{ value: string }> }
}

describe('console forms: consumers, global plugins, user plugins in the picker', () => {
  let gw: Gateway
  let origin: Origin
  let browser: Browser
  let page: Page
  let scriptErrors: string[] = []
  /** Every admin API answer the page received, as text: the key must be in none. */
  const answers: Array<Promise<string>> = []

  const admin = async <T = unknown>(path: string): Promise<{ status: number; body: T }> => {
    const r = await request(`${gw.adminUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    return { status: r.statusCode, body: (await r.body.json()) as T }
  }
  const go = (hash: string) => page.evaluate((h) => ((globalThis as unknown as BrowserGlobals).location.hash = h), hash)
  const field = (name: string) => page.getByLabel(name, { exact: true })
  const outcome = () => page.getByTestId('outcome')
  const applied = () => outcome().filter({ hasText: /Applied: config version \d+ serves it/ }).waitFor({ timeout: WAIT })
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
    return r
  }
  /** Everything the page shows or holds: its HTML and every field's current value. */
  const pageText = () =>
    page.evaluate(() => {
      const d = (globalThis as unknown as BrowserGlobals).document
      return [d.documentElement.outerHTML, ...Array.from(d.querySelectorAll('input, textarea, select')).map((e) => e.value)].join('\n')
    })

  before(async () => {
    origin = await startOrigin(echo)
    gw = await startGateway({
      args: ['--no-cluster'],
      env: { PORTICO_PLUGINS: USER_PLUGIN },
      config: {
        admin: { tokens: [{ name: 'ops', role: 'admin', sha256: sha(TOKEN) }] },
        upstreams: { backend: { targets: [{ url: origin.url }] } },
        routes: [
          { name: 'keyed', paths: ['/keyed/*'], upstream: 'backend', plugins: [{ name: 'key-auth' }] },
          { name: 'open', paths: ['/open/*'], upstream: 'backend' },
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

  test('create a consumer with a key-auth key through the form: the key gets in, no key is a 401', async () => {
    assert.equal((await get('/keyed/x')).statusCode, 401)
    await go('#/consumers')
    await page.getByRole('link', { name: 'New consumer' }).click()
    await pollUntil(async () => (await page.getByLabel('consumer as YAML').inputValue()).includes('new-consumer'), { timeoutMs: WAIT, what: 'the new-consumer template' })
    await page.getByLabel('Form', { exact: true }).check()
    await page.getByTestId('consumer-form').waitFor({ timeout: WAIT })
    await field('Name').fill('bob')
    // The template's ${NEW_CONSUMER_KEY} reference is shown as written; a typed key is masked.
    assert.equal(await field('API key 1').inputValue(), '${NEW_CONSUMER_KEY}')
    await field('API key 1').fill(KEY)
    assert.equal(await field('API key 1').getAttribute('type'), 'password')
    await page.getByRole('button', { name: 'Apply' }).click()
    await applied()

    assert.equal((await get('/keyed/x', { apikey: KEY })).statusCode, 200)
    assert.equal((await get('/keyed/x')).statusCode, 401)
    assert.equal((await get('/keyed/x', { apikey: 'not-bobs-key-0123456789' })).statusCode, 401)
    // After the create the editor shows the stored consumer: the key as stored and hidden.
    await page.getByRole('heading', { name: 'Edit consumer bob' }).waitFor({ timeout: WAIT })
    // The create was made in the form view: the consumer's own page opens in it too.
    assert.equal(await page.getByLabel('Form', { exact: true }).isChecked(), true)
    await page.getByTestId('consumer-form').getByTestId('secret-stored').first().waitFor({ timeout: WAIT })
    assert.ok(!(await pageText()).includes(KEY), 'the key is not in the page after it was written')
  })

  test('edit the consumer without touching its key: the key still works, and is never shown or sent back', async () => {
    await openForm('#/edit/consumers/bob', 'consumer-form')
    await page.getByTestId('secret-stored').first().waitFor({ timeout: WAIT })
    assert.equal(await page.getByTestId('secret-stored').count(), 1)
    await field('Roles (one per line; rbac can require them)').fill('reports')
    await page.getByRole('button', { name: 'Apply' }).click()
    await applied()
    const stored = await admin<{ data: { roles?: string[]; credentials: { key_auth: string[] } } }>('/admin/consumers/bob')
    assert.deepEqual(stored.body.data.roles, ['reports'])
    assert.deepEqual(stored.body.data.credentials.key_auth, ['[REDACTED]'])
    assert.equal((await get('/keyed/x', { apikey: KEY })).statusCode, 200)

    assert.ok(!(await pageText()).includes(KEY), 'the key is not in the DOM')
    const bodies = await Promise.all(answers)
    assert.ok(bodies.length > 0)
    assert.ok(bodies.every((b) => !b.includes(KEY) && !b.includes(sha(KEY))), 'no admin API answer the page read holds the key or its hash')
  })

  test('a global plugin added through the form shows on proxied responses; disabled, it is gone', async () => {
    assert.equal((await get('/open/x')).headers['x-global'], undefined)
    await go('#/plugins')
    await page.getByRole('link', { name: 'New global plugin' }).click()
    await page.getByRole('heading', { name: 'New global plugin' }).waitFor({ timeout: WAIT })
    await openForm('#/edit/plugins', 'plugin-form')
    await field('Plugin').fill('headers')
    await field('headers config').fill('response:\n  set:\n    x-global: "on"\n')
    await page.getByTestId('form-status').filter({ hasText: 'Matches the schema' }).waitFor({ timeout: WAIT })
    await page.getByRole('button', { name: 'Apply' }).click()
    await applied()
    await pollUntil(async () => (await get('/open/x')).headers['x-global'] === 'on', { timeoutMs: WAIT, what: 'x-global on a proxied response' })

    await go('#/plugins')
    const row = page.getByTestId('global-plugins').locator('tr[data-plugin="headers"]')
    await row.filter({ hasText: 'enabled' }).waitFor({ timeout: WAIT })
    await openForm('#/edit/plugins/headers', 'plugin-form')
    await field('headers enabled').uncheck()
    await page.getByRole('button', { name: 'Apply' }).click()
    await applied()
    await pollUntil(async () => (await get('/open/x')).headers['x-global'] === undefined, { timeoutMs: WAIT, what: 'x-global gone once the plugin is disabled' })
    const stored = await admin<{ data: { enabled?: boolean } }>('/admin/plugins/headers')
    assert.equal(stored.body.data.enabled, false)
    await go('#/plugins')
    await row.filter({ hasText: 'disabled' }).waitFor({ timeout: WAIT })
  })

  test('the plugin picker lists the installed user plugin next to the built-ins', async () => {
    const listed = await admin<{ data: Array<{ name: string; origin: string; schema: { properties?: Record<string, unknown> } }> }>('/admin/installed-plugins')
    const user = listed.body.data.find((p) => p.name === 'api-version')
    assert.equal(user?.origin, 'user')
    assert.ok(user?.schema.properties?.supported !== undefined, 'with its config schema')
    for (const [hash, testid] of [
      ['#/edit/routes/open', 'route-form'],
      ['#/edit/consumers/bob', 'consumer-form'],
      ['#/edit/plugins', 'plugin-form'],
    ] as const) {
      await openForm(hash, testid)
      const options = page.getByTestId('installed-plugins').locator('option')
      await pollUntil(async () => (await options.evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value))).includes('api-version'), { timeoutMs: WAIT, what: `api-version among the suggestions of ${hash}` })
      const values = await options.evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value))
      assert.ok(values.includes('headers') && values.includes('key-auth'), 'the built-ins too')
      assert.match((await page.getByText(/User plugins \(PORTICO_PLUGINS\): /).textContent()) ?? '', /User plugins \(PORTICO_PLUGINS\): api-version/)
    }
  })

  test('an invalid plugin config is flagged by its field; sent from the text view, the gateway\'s error (path and message) and nothing changes', async () => {
    const before = await admin<{ data: unknown; version: number }>('/admin/plugins/headers')
    await openForm('#/edit/plugins/headers', 'plugin-form')
    await field('headers config').fill('response:\n  sett:\n    x-global: "on"\n')
    // The console checks the config against the plugin's schema (from /admin/installed-plugins) as
    // you type: the message is by the config, and the form refuses Apply.
    await page.locator('[data-testid="field-error"][data-field="config"]').filter({ hasText: 'plugins[0].config.response.sett: unknown key "sett"' }).waitFor({ timeout: WAIT })
    assert.equal(await page.getByRole('button', { name: 'Apply' }).isDisabled(), true)
    // The text view still sends it: the gateway's validator judges it, and says the same.
    await page.getByLabel('Text', { exact: true }).check()
    await page.getByRole('button', { name: 'Apply' }).click()
    const errors = page.getByTestId('server-errors')
    await errors.waitFor({ timeout: WAIT })
    const text = (await errors.textContent()) ?? ''
    assert.match(text, /nothing was applied/)
    assert.match(text, /plugins\[0\]\.config\.response\.sett/)
    assert.match(text, /unknown key "sett"/)
    const after = await admin<{ data: unknown; version: number }>('/admin/plugins/headers')
    assert.deepEqual(after.body.data, before.body.data)
    assert.equal(after.body.version, before.body.version)
    assert.deepEqual(scriptErrors, [])
  })
})
