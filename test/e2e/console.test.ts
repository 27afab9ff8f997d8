// The web console end to end: one real gateway (its admin listener serves /ui) and Debian's
// Chromium driven by playwright-core, for the whole file. Each test is what an operator does in the
// browser: sign in, read the routes, watch a target go down, create a route and send traffic
// through it, meet a lost update, be a viewer, make an invalid edit, read the HTTPS listener's
// certificates, purge a cached response. (The fleet page with a real etcd: console-fleet.test.ts.)
// PORTICO_SCREENSHOTS=1 also writes the pages' screenshots into docs/console/ (docs/console.md).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, X509Certificate } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { launchConsoleBrowser } from '../helpers/browser.js'
import { request } from 'undici'
import { parse, stringify } from 'yaml'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { startOrigin, echo, type Origin } from '../helpers/origin.js'
import { createPki, type Issued } from '../helpers/pki.js'
import { pollUntil } from '../helpers/poll.js'
import { freePort } from '../helpers/ports.js'

const TOKENS = { admin: 'console-admin-token-0123456789', editor: 'console-editor-token-0123456789', viewer: 'console-viewer-token-0123456789' }
const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const SHOTS = process.env.PORTICO_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../docs/console') : null
const WAIT = 20_000
/** What the page's own scripts see (this file is type-checked without the DOM library). */
interface BrowserGlobals {
  location: { hash: string }
  sessionStorage: { getItem(k: string): string | null }
}

describe('web console in Chromium', () => {
  let gw: Gateway
  let stable: Origin
  let flaky: Origin
  let pki: Awaited<ReturnType<typeof createPki>> | undefined
  /** The HTTPS listener's certificates: one far from expiry, one close to it (the warning state). */
  let site: Issued
  let legacy: Issued
  /** The whole config as written at start (YAML text: server.listeners, not the helpers' server.listen). */
  let document: Record<string, unknown>
  let browser: Browser
  let ctx: BrowserContext
  let page: Page
  /** Uncaught errors and console errors of the console's own scripts (CSP violations land here too). */
  let scriptErrors: string[] = []
  /** Every URL any page of the file requested: a token must never be in one. */
  let urls: string[] = []

  const shot = async (p: Page, name: string, fullPage = false) => {
    if (SHOTS === null) return
    mkdirSync(SHOTS, { recursive: true })
    await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage })
  }
  const admin = (path: string, init: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {}) =>
    request(`${gw.adminUrl}${path}`, {
      method: (init.method ?? 'GET') as 'GET',
      headers: { authorization: `Bearer ${init.token ?? TOKENS.admin}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    })
  const signIn = async (p: Page, token: string) => {
    await p.goto(`${gw.adminUrl}/ui/`)
    await p.getByLabel('Admin token').fill(token)
    await p.getByRole('button', { name: 'Sign in' }).click()
    await p.getByRole('navigation', { name: 'Console pages' }).waitFor({ timeout: WAIT })
  }
  const go = async (p: Page, hash: string) => {
    await p.evaluate((h) => ((globalThis as unknown as BrowserGlobals).location.hash = h), hash)
  }

  /** A pipeline list's steps as "phase plugin" (the phase label, then the plugin's name). */
  const steps = async (items: Locator) =>
    (await items.evaluateAll((els) => els.map((e) => `${e.querySelector('.phase')?.textContent ?? ''} ${e.querySelector('strong')?.textContent ?? ''}`)))

  /** The cache status the cache plugin sent for a fresh request. */
  const cacheStatus = async (path: string) => {
    const r = await request(`${gw.url}${path}`)
    await r.body.dump()
    assert.equal(r.statusCode, 200)
    return r.headers['x-cache']
  }

  before(async () => {
    stable = await startOrigin((req, res) => {
      if (req.url === '/healthz') res.end('ok')
      // What the cache route stores: cacheable for five minutes.
      else if (req.url?.startsWith('/cached/') === true || req.url?.startsWith('/limited/') === true) {
        req.resume()
        res.writeHead(200, { 'cache-control': 'max-age=300', 'content-type': 'text/plain' })
        res.end('cached body')
      } else echo(req, res)
    })
    flaky = await startOrigin((_req, res) => res.end('ok'))
    pki = await createPki()
    const ca = await pki.ca('Console Test CA')
    ;[site, legacy] = await Promise.all([ca.issue({ names: ['console.test', '*.console.test'], days: 90 }), ca.issue({ names: ['legacy.console.test'], key: 'rsa', days: 5 })])
    const httpsPort = await freePort()
    const config = {
      admin: {
        tokens: [
          { name: 'ops', role: 'admin', sha256: sha(TOKENS.admin) },
          { name: 'ci', role: 'editor', sha256: sha(TOKENS.editor) },
          { name: 'dashboards', role: 'viewer', sha256: sha(TOKENS.viewer) },
        ],
      },
      upstreams: {
        backend: { targets: [{ url: stable.url }] },
        flaky: {
          targets: [{ url: flaky.url }],
          health_checks: { active: { path: '/healthz', interval: '200ms', timeout: '500ms', unhealthy: { failures: 1 }, healthy: { successes: 1 } } },
        },
      },
      plugins: [{ name: 'cors' }],
      consumers: [{ name: 'alice', roles: ['reports'], credentials: { key_auth: [`sha256:${sha('alice-key-0123456789')}`] } }],
      routes: [
        { name: 'api', paths: ['/api/*'], methods: ['GET', 'POST'], upstream: 'backend', plugins: [{ name: 'headers', config: { request: { set: { 'x-gateway': 'portico' } } } }] },
        { name: 'reports', hosts: ['reports.example.com'], paths: ['/reports/*'], upstream: 'flaky', plugins: [{ name: 'key-auth' }] },
        { name: 'cached', paths: ['/cached/*'], upstream: 'backend', plugins: [{ name: 'cache' }] },
        // Listed out of run order: cache (beforeUpstream and response, priority 10) before
        // rate-limit (access, 1000); the global cors (access and response, 4000) runs first of all.
        { name: 'limited', paths: ['/limited/*'], upstream: 'backend', plugins: [{ name: 'cache' }, { name: 'rate-limit', config: { limits: [{ limit: 20, window: '1s' }] } }] },
      ],
    }
    gw = await startGateway({
      args: ['--no-cluster'],
      // YAML text, because the helpers' object form sets server.listen and an HTTPS listener needs
      // server.listeners: the plain one the helpers expect at gw.url, and the HTTPS one.
      config: ({ port, adminPort }) => {
        const listeners = [
          { listen: `127.0.0.1:${port}` },
          {
            listen: `127.0.0.1:${httpsPort}`,
            tls: {
              certificates: [
                { name: 'site', cert_file: site.chainFile, key_file: site.keyFile },
                { name: 'legacy', cert_file: legacy.chainFile, key_file: legacy.keyFile },
              ],
            },
          },
        ]
        document = { ...config, server: { listeners }, admin: { listen: `127.0.0.1:${adminPort}`, ...config.admin } }
        return stringify(document)
      },
    })
    const b = await launchConsoleBrowser()
    ;({ browser, context: ctx, page } = b)
    scriptErrors = b.scriptErrors
    urls = b.urls
  })

  after(async () => {
    await browser?.close()
    await gw?.stop()
    await stable?.close()
    await flaky?.close()
    await pki?.remove()
  })

  test('sign in with an admin token and see the routes of the running gateway', async () => {
    // By keyboard alone: Tab reaches the token field, Enter submits.
    await page.goto(`${gw.adminUrl}/ui/`)
    await page.getByLabel('Admin token').waitFor({ timeout: WAIT })
    await page.keyboard.press('Tab')
    await page.keyboard.type(TOKENS.admin)
    await page.keyboard.press('Enter')
    await page.getByRole('navigation', { name: 'Console pages' }).waitFor({ timeout: WAIT })
    assert.equal(await page.locator('.who').textContent(), 'ops · admin')
    await page.getByTestId('readiness').filter({ hasText: 'ready' }).waitFor({ timeout: WAIT })
    assert.equal(await page.getByTestId('config-version').textContent(), '1')
    // The token lives in this tab's sessionStorage, never in the URL or a cookie.
    assert.ok(!page.url().includes(TOKENS.admin))
    assert.deepEqual(await ctx.cookies(), [])

    await go(page, '#/routes')
    const table = page.getByTestId('routes')
    await table.getByRole('rowheader', { name: 'reports' }).waitFor({ timeout: WAIT })
    const apiRow = table.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'api' }) })
    const cells = await apiRow.getByRole('cell').allTextContents()
    assert.deepEqual(cells, ['any', 'GET, POST', '/api/* ', 'cors, headers', 'backend'])
    await page.getByLabel('Filter').fill('reports.example')
    await pollUntil(async () => (await table.getByRole('rowheader').count()) === 1, { timeoutMs: WAIT, what: 'the filter to leave one route' })
    // The explain tool: the route, plugins and targets a request would get, from the gateway's router.
    const explained = page.getByTestId('explain-result')
    await page.getByLabel('URL or path').fill('http://reports.example.com/reports/today')
    await page.getByRole('button', { name: 'Explain' }).click()
    await explained.filter({ hasText: '→ route reports' }).waitFor({ timeout: WAIT })
    assert.match((await explained.textContent()) ?? '', new RegExp(`upstream flaky, path /[^;]*; targets ${flaky.url}; plugins in run order:`))
    const explainedSteps = explained.getByTestId('explain-pipeline').getByRole('listitem')
    assert.deepEqual(await steps(explainedSteps), ['access cors', 'access key-auth', 'response cors'])
    await shot(page, 'routes')
    await page.getByLabel('Method').selectOption('DELETE')
    await page.getByLabel('URL or path').fill('/api/x')
    await page.getByRole('button', { name: 'Explain' }).click()
    await explained.filter({ hasText: '405 method_not_allowed: DELETE is not allowed on /api/x (Allow: GET, HEAD, POST)' }).waitFor({ timeout: WAIT })

    await table.getByRole('link', { name: 'reports' }).click()
    const plugins = page.getByTestId('route-plugins').getByRole('listitem')
    await plugins.first().waitFor({ timeout: WAIT })
    assert.deepEqual(await steps(plugins), ['access cors', 'access key-auth', 'response cors'])

    // A route whose config lists its plugins out of run order: the page shows the compiled order,
    // phase by phase and by priority within a phase, each step with its phase.
    await go(page, '#/routes/limited')
    await page.getByRole('heading', { name: 'Route limited' }).waitFor({ timeout: WAIT })
    await plugins.filter({ hasText: 'rate-limit' }).waitFor({ timeout: WAIT })
    assert.deepEqual(await steps(plugins), ['access cors', 'access rate-limit', 'before upstream cache', 'response cors', 'response cache'])
    assert.deepEqual(
      await plugins.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-phase')}:${e.getAttribute('data-plugin')}`)),
      ['access:cors', 'access:rate-limit', 'beforeUpstream:cache', 'response:cors', 'response:cache'],
    )
    assert.match((await plugins.filter({ hasText: 'rate-limit' }).textContent()) ?? '', /priority 1000, route/)
    await shot(page, 'route')
  })

  test('a target taken down turns unhealthy on the upstreams page', async () => {
    await go(page, '#/upstreams')
    const row = page.locator(`[data-target="${flaky.url}"]`)
    await row.getByTestId('target-health').filter({ hasText: /^healthy$/ }).waitFor({ timeout: WAIT })
    await flaky.close()
    await row.getByTestId('target-health').filter({ hasText: 'unhealthy' }).waitFor({ timeout: WAIT })
    await shot(page, 'upstreams')
  })

  test('create a route in the editor (dry run, then apply) and send a request through it', async () => {
    await go(page, '#/routes')
    await page.getByRole('link', { name: 'New route' }).click()
    const editor = page.getByLabel('route as YAML')
    await pollUntil(async () => (await editor.inputValue()).includes('new-route'), { timeoutMs: WAIT, what: 'the new-route template' })
    await editor.fill('name: created\npaths: [/created/*]\nupstream: backend\n')
    await page.getByTestId('live-problems').filter({ hasText: 'Matches the schema' }).waitFor({ timeout: WAIT })
    await page.getByRole('button', { name: 'Dry run' }).click()
    const outcome = page.getByTestId('outcome')
    await outcome.filter({ hasText: 'Dry run: valid. create routes created' }).waitFor({ timeout: WAIT })
    assert.match((await outcome.locator('.diff').textContent()) ?? '', /\+ name: created/)
    await shot(page, 'editor-dry-run')
    // The dry run applied nothing.
    assert.equal((await request(`${gw.url}/created/x`)).statusCode, 404)

    await page.getByRole('button', { name: 'Apply' }).click()
    await outcome.filter({ hasText: /Applied: config version \d+ serves it/ }).waitFor({ timeout: WAIT })
    const r = await request(`${gw.url}/created/hello`)
    assert.equal(r.statusCode, 200)
    assert.equal(((await r.body.json()) as { url: string }).url, '/created/hello')
  })

  /** Opens the editor at `hash` and switches it to the form view. */
  const openForm = async (hash: string, testid: 'route-form' | 'upstream-form') => {
    // (Through another page first: the same hash twice would not remount the editor.)
    await go(page, '#/overview')
    await go(page, hash)
    await page.getByRole('heading', { name: /^(New|Edit) / }).waitFor({ timeout: WAIT })
    const form = page.getByLabel('Form', { exact: true })
    await pollUntil(() => form.isEnabled(), { timeoutMs: WAIT, what: 'the resource loaded (the form view enabled)' })
    await form.check()
    await page.getByTestId(testid).waitFor({ timeout: WAIT })
  }
  const field = (name: string) => page.getByLabel(name, { exact: true })
  const formStatus = () => page.getByTestId('form-status')
  const sideways = (p: Page) =>
    p.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement
      return d.scrollWidth > d.clientWidth
    })

  test('create a route through the form (fields by label, a headers plugin), dry run, apply, and send a request through it', async () => {
    await go(page, '#/routes')
    await page.getByRole('link', { name: 'New route' }).click()
    await pollUntil(async () => (await page.getByLabel('route as YAML').inputValue()).includes('new-route'), { timeoutMs: WAIT, what: 'the new-route template' })
    await page.getByLabel('Form', { exact: true }).check()
    await page.getByTestId('route-form').waitFor({ timeout: WAIT })
    // The form shows the template the text view held.
    assert.equal(await field('Name').inputValue(), 'new-route')
    assert.equal(await field('Paths (one per line)').inputValue(), '/new/*')
    await field('Name').fill('formed')
    await field('Paths (one per line)').fill('/formed/*')
    await field('Hosts (one per line; empty = any host)').fill('127.0.0.1')
    // The upstream select offers the upstreams of the admin API.
    const options = await field('Upstream').locator('option').allTextContents()
    assert.deepEqual(options.filter((o) => !o.startsWith('(')), ['backend', 'flaky'])
    await field('Upstream').selectOption('backend')
    await field('GET').check()
    // Keyboard: Space checks a method, Enter adds the plugin typed.
    await field('POST').focus()
    await page.keyboard.press('Space')
    assert.equal(await field('POST').isChecked(), true)
    await field('Strip prefix').fill('/formed')
    await field('Priority').fill('5')
    await field('Plugin to add').focus()
    await page.keyboard.type('headers')
    await page.keyboard.press('Enter')
    await field('headers config').fill('request:\n  set:\n    x-formed: "yes"\n')
    await formStatus().filter({ hasText: 'Matches the schema' }).waitFor({ timeout: WAIT })
    await page.getByRole('button', { name: 'Dry run' }).click()
    const outcome = page.getByTestId('outcome')
    await outcome.filter({ hasText: 'Dry run: valid. create routes formed' }).waitFor({ timeout: WAIT })
    const diff = (await outcome.locator('.diff').textContent()) ?? ''
    for (const line of ['+ name: formed', '+ strip_prefix: /formed', '+ priority: 5', '- name: headers', 'x-formed: ']) assert.ok(diff.includes(line), `${line} not in ${diff}`)
    await shot(page, 'editor-form', true)
    assert.equal((await request(`${gw.url}/formed/x`)).statusCode, 404, 'the dry run applied nothing')

    await page.getByRole('button', { name: 'Apply' }).click()
    await outcome.filter({ hasText: /Applied: config version \d+ serves it/ }).waitFor({ timeout: WAIT })
    const r = await request(`${gw.url}/formed/hello`, { method: 'POST', body: 'x' })
    assert.equal(r.statusCode, 200)
    const echoed = (await r.body.json()) as { method: string; url: string; headers: Record<string, string> }
    assert.equal(echoed.url, '/hello', 'strip_prefix removed /formed')
    assert.equal(echoed.headers['x-formed'], 'yes', 'the headers plugin set the request header')
    const stored = (await (await admin('/admin/routes/formed')).body.json()) as { data: Record<string, unknown> }
    assert.deepEqual(stored.data, {
      name: 'formed',
      hosts: ['127.0.0.1'],
      paths: ['/formed/*'],
      upstream: 'backend',
      methods: ['GET', 'POST'],
      strip_prefix: '/formed',
      priority: 5,
      plugins: [{ name: 'headers', config: { request: { set: { 'x-formed': 'yes' } } } }],
    })
  })

  test("an invalid value typed in the form shows the validator's message by the field, and Apply is refused", async () => {
    await openForm('#/edit/upstreams/backend', 'upstream-form')
    const url = field('Target 1 URL')
    assert.equal(await url.inputValue(), stable.url)
    await url.fill('not-a-url')
    const error = page.locator('[data-testid="field-error"][data-field="targets[0].url"]')
    await error.filter({ hasText: 'must start with http:// or https://' }).waitFor({ timeout: WAIT })
    // The same words as the gateway's own validator (`portico validate`), for the same value.
    const dry = await admin('/admin/upstreams/backend?dry_run=true', { method: 'PUT', body: { name: 'backend', targets: [{ url: 'not-a-url' }] } })
    assert.equal(dry.statusCode, 422)
    const body = (await dry.body.json()) as { errors: Array<{ path: string; message: string }> }
    const e = body.errors.find((x) => x.path.endsWith('targets[0].url'))
    assert.ok(e !== undefined, JSON.stringify(body))
    assert.equal(await error.textContent(), `${e.path}: ${e.message}`)
    // The input points at its error, and says it is invalid; Apply is refused until it is fixed.
    assert.equal(await url.getAttribute('aria-invalid'), 'true')
    assert.ok(((await url.getAttribute('aria-describedby')) ?? '').split(' ').includes((await error.getAttribute('id'))!))
    assert.equal(await error.getAttribute('aria-live'), 'polite')
    assert.equal(await page.getByRole('button', { name: 'Apply' }).isDisabled(), true)
    await formStatus().filter({ hasText: '1 problem with the schema' }).waitFor({ timeout: WAIT })
    await shot(page, 'editor-form-invalid')
    await url.fill(stable.url)
    await formStatus().filter({ hasText: 'Matches the schema' }).waitFor({ timeout: WAIT })
    assert.equal(await page.getByRole('button', { name: 'Apply' }).isDisabled(), false)

    // A path without its leading slash passes the schema; the gateway's dry run refuses it.
    await openForm('#/edit/routes/formed', 'route-form')
    await field('Paths (one per line)').fill('formed/*')
    await page.getByRole('button', { name: 'Dry run' }).click()
    await page.getByTestId('server-errors').filter({ hasText: 'must start with "/"' }).waitFor({ timeout: WAIT })
    assert.equal((await request(`${gw.url}/formed/x`)).statusCode, 200, 'nothing was applied')
  })

  test("edit an upstream's target weight through the form and see it applied (also at phone width)", async () => {
    await openForm('#/edit/upstreams/backend', 'upstream-form')
    const weight = field('Target 1 weight')
    await weight.fill('5')
    await formStatus().filter({ hasText: 'Matches the schema' }).waitFor({ timeout: WAIT })
    await page.setViewportSize({ width: 390, height: 800 })
    try {
      assert.equal(await sideways(page), false, 'the upstream form at phone width')
      await shot(page, 'editor-form-phone')
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 })
    }
    await page.getByRole('button', { name: 'Apply' }).click()
    await page.getByTestId('outcome').filter({ hasText: /Applied: config version \d+ serves it \(update upstreams backend\)/ }).waitFor({ timeout: WAIT })
    const got = (await (await admin('/admin/upstreams/backend')).body.json()) as { data: { targets: Array<{ url: string; weight?: number }> } }
    assert.deepEqual(got.data.targets, [{ url: stable.url, weight: 5 }])
  })

  test('form and text are two views of one object: a field the form does not show is kept', async () => {
    const patched = await admin('/admin/routes/formed', { method: 'PATCH', body: { preserve_host: true, timeouts: { read: '7s' } } })
    assert.equal(patched.statusCode, 200, await patched.body.text())
    await openForm('#/edit/routes/formed', 'route-form')
    await field('Priority').fill('7')
    await page.getByLabel('Text', { exact: true }).check()
    const text = page.getByLabel('route as YAML')
    await text.waitFor({ timeout: WAIT })
    const current = (await (await admin('/admin/routes/formed')).body.json()) as { data: Record<string, unknown> }
    assert.deepEqual(parse(await text.inputValue()), { ...current.data, priority: 7 })
    assert.match(await text.inputValue(), /preserve_host: true/)
    // And back: the form reads what the text view holds.
    await text.fill((await text.inputValue()).replace('priority: 7', 'priority: 8'))
    await page.getByLabel('Form', { exact: true }).check()
    await pollUntil(async () => (await field('Priority').inputValue()) === '8', { timeoutMs: WAIT, what: 'the form showing the priority typed in the text view' })
    assert.equal(await field('Name').inputValue(), 'formed')
    await page.getByRole('button', { name: 'Dry run' }).click()
    const diff = page.getByTestId('outcome').locator('.diff')
    await diff.waitFor({ timeout: WAIT })
    const changed = ((await diff.textContent()) ?? '').split('\n').filter((l) => l.startsWith('+') || l.startsWith('-'))
    assert.deepEqual(changed, ['- priority: 5', '+ priority: 8'])
  })

  test('a lost update is shown as a conflict and nothing is applied', async () => {
    await go(page, '#/edit/routes/api')
    const editor = page.getByLabel('route as YAML')
    await pollUntil(async () => (await editor.inputValue()).includes('name: api'), { timeoutMs: WAIT, what: 'the route in the editor' })
    // Someone else changes the route after the console read it.
    const other = await admin('/admin/routes/api', { method: 'PATCH', body: { methods: ['GET'] } })
    assert.equal(other.statusCode, 200, await other.body.text())
    await editor.fill((await editor.inputValue()).replace('- POST', '- PUT'))
    await page.getByRole('button', { name: 'Apply' }).click()
    const conflict = page.getByTestId('conflict')
    await conflict.waitFor({ timeout: WAIT })
    assert.match((await conflict.textContent()) ?? '', /Conflict: someone else changed this route since you opened it\..*412 precondition_failed/)
    await shot(page, 'editor-conflict')
    const now = (await (await admin('/admin/routes/api')).body.json()) as { data: { methods: string[] } }
    assert.deepEqual(now.data.methods, ['GET'], 'the other writer kept its change')
    // Loading the current version clears the conflict and shows their change.
    await conflict.getByRole('button', { name: /Load the current version/ }).click()
    await pollUntil(async () => !(await editor.inputValue()).includes('POST') && !(await editor.inputValue()).includes('PUT'), { timeoutMs: WAIT, what: 'the current version' })
  })

  test('an invalid edit shows the validator message as you type and from the gateway dry run', async () => {
    await go(page, '#/edit/routes/api')
    const editor = page.getByLabel('route as YAML')
    await pollUntil(async () => (await editor.inputValue()).includes('name: api'), { timeoutMs: WAIT, what: 'the route in the editor' })
    const text = `${await editor.inputValue()}timeots: { read: 5s }\n`
    await editor.fill(text)
    const live = page.getByTestId('live-problems')
    await live.filter({ hasText: 'routes[0].timeots: unknown key "timeots" — did you mean "timeouts"?' }).waitFor({ timeout: WAIT })
    await page.getByRole('button', { name: 'Dry run' }).click()
    const errors = page.getByTestId('server-errors')
    await errors.waitFor({ timeout: WAIT })
    // The gateway's own validator (the one `portico validate` runs): its words, shown verbatim.
    const current = (await (await admin('/admin/routes/api')).body.json()) as { data: Record<string, unknown> }
    const dry = await admin('/admin/routes/api?dry_run=true', { method: 'PUT', body: { ...current.data, timeots: { read: '5s' } } })
    const body = (await dry.body.json()) as { message: string; errors: Array<{ path: string; message: string; hint?: string }> }
    assert.equal(dry.statusCode, 422)
    const shown = (await errors.textContent()) ?? ''
    assert.ok(shown.includes(body.message), shown)
    for (const e of body.errors) assert.ok(shown.includes(`${e.path}: ${e.message}${e.hint === undefined ? '' : ` — ${e.hint}`}`), `${shown} lacks ${JSON.stringify(e)}`)
    await shot(page, 'editor-invalid')
  })

  test('a viewer sees no edit controls, and the API refuses its writes anyway', async () => {
    const vctx = await browser.newContext({ viewport: { width: 390, height: 800 } })
    try {
      const v = await vctx.newPage()
      v.on('request', (r) => urls.push(r.url()))
      await signIn(v, TOKENS.viewer)
      await go(v, '#/routes')
      await v.getByTestId('routes').getByRole('rowheader', { name: 'api' }).waitFor({ timeout: WAIT })
      assert.equal(await v.getByRole('link', { name: 'New route' }).count(), 0)
      await shot(v, 'routes-phone-viewer')
      await go(v, '#/routes/api')
      await v.getByTestId('route-plugins').waitFor({ timeout: WAIT })
      assert.equal(await v.getByRole('link', { name: 'Edit' }).count(), 0)
      await go(v, '#/upstreams')
      await v.locator('[data-upstream="backend"]').waitFor({ timeout: WAIT })
      assert.equal(await v.getByRole('link', { name: /Edit|New upstream/ }).count(), 0)
      await go(v, '#/consumers')
      await v.getByRole('rowheader', { name: 'alice' }).waitFor({ timeout: WAIT })
      assert.equal(await v.getByRole('link', { name: /Edit|New consumer/ }).count(), 0)
      await go(v, '#/edit/routes/api')
      await v.getByText('Your role may read the configuration but not change it.').waitFor({ timeout: WAIT })
      assert.equal(await v.getByRole('button', { name: 'Apply' }).count(), 0)
      assert.equal(await v.getByLabel('route as YAML').getAttribute('readonly'), '')
      // No form view either: the form's controls are edit controls.
      assert.equal(await v.getByLabel('Form', { exact: true }).count(), 0)
      assert.equal(await v.getByTestId('route-form').count(), 0)
      // The same write from the page's own script, with the viewer's token: 403.
      const status = await v.evaluate(async () => {
        const token = (globalThis as unknown as BrowserGlobals).sessionStorage.getItem('portico.admin-token')
        const r = await fetch('/admin/routes/api', { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"methods":["GET"]}' })
        return r.status
      })
      assert.equal(status, 403)
      // Cache purge: no control, and the purge itself is refused for the role too.
      await go(v, '#/cache')
      await v.getByText('Purging the cache needs the admin role.').waitFor({ timeout: WAIT })
      assert.equal(await v.getByRole('button', { name: /Purge/ }).count(), 0)
      const purge = await v.evaluate(async () => {
        const token = (globalThis as unknown as BrowserGlobals).sessionStorage.getItem('portico.admin-token')
        return (await fetch('/admin/cache?prefix=', { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status
      })
      assert.equal(purge, 403)
      // The new pages at phone width: wide tables scroll inside their box, the page itself never sideways.
      const sideways = () => v.evaluate(() => {
        const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement
        return d.scrollWidth > d.clientWidth
      })
      assert.equal(await sideways(), false, 'cache purge page')
      await go(v, '#/fleet')
      await v.getByTestId('fleet-empty').waitFor({ timeout: WAIT })
      assert.equal(await sideways(), false, 'fleet page')
      await go(v, '#/certificates')
      await v.getByTestId('certificates').locator('tr[data-certificate="legacy"]').waitFor({ timeout: WAIT })
      assert.equal(await sideways(), false, 'certificates page')
      await shot(v, 'certificates-phone-viewer')
    } finally {
      await vctx.close()
    }
  })

  test("the certificates page lists the HTTPS listener's certificates with their expiry", async () => {
    await go(page, '#/certificates')
    const row = (name: string) => page.getByTestId('certificates').locator(`tr[data-certificate="${name}"]`)
    await row('site').waitFor({ timeout: WAIT })
    for (const [name, cert, names] of [['site', site, ['console.test', '*.console.test']], ['legacy', legacy, ['legacy.console.test']]] as const) {
      const r = row(name)
      assert.deepEqual(await r.getByTestId('certificate-names').locator('code').allTextContents(), names)
      const notAfter = new Date(new X509Certificate(cert.cert).validTo)
      assert.equal(await r.getByTestId('not-after').getAttribute('datetime'), notAfter.toISOString())
      assert.equal(await r.getByTestId('not-after').textContent(), notAfter.toISOString().slice(0, 10))
      assert.match((await r.textContent()) ?? '', new RegExp(`file ${cert.chainFile}`))
    }
    // 90 days: fine; 5 days: flagged, in words as well as colour.
    const days = (name: string) => Math.floor((Date.parse(new X509Certificate((name === 'site' ? site : legacy).cert).validTo) - Date.now()) / 86_400_000)
    const good = row('site').getByTestId('expiry')
    assert.equal(await good.textContent(), `${days('site')} days left`)
    assert.match((await good.getAttribute('class')) ?? '', /\bgood\b/)
    const soon = row('legacy').getByTestId('expiry')
    assert.equal(await soon.textContent(), `expires soon: ${days('legacy')} days left`)
    assert.match((await soon.getAttribute('class')) ?? '', /\bwarn\b/)
    assert.match((await row('legacy').textContent()) ?? '', /RSA|rsa/)
    await shot(page, 'certificates')
  })

  test('a cached response is purged from the cache purge page (by keyboard) and the next request misses', async () => {
    await pollUntil(async () => (await cacheStatus('/cached/item')) === 'HIT', { timeoutMs: WAIT, what: 'a cache HIT for /cached/item' })
    await go(page, '#/cache')
    const key = page.getByLabel('Key', { exact: true })
    await key.fill('127.0.0.1/cached/item')
    // Enter submits; nothing is purged before the confirmation, which takes the focus.
    await key.press('Enter')
    const confirm = page.getByTestId('purge-confirm')
    await confirm.filter({ hasText: 'Purge the entry 127.0.0.1/cached/item (and its variants)?' }).waitFor({ timeout: WAIT })
    assert.equal(await cacheStatus('/cached/item'), 'HIT', 'still cached while the purge awaits its confirmation')
    await pollUntil(() => page.getByRole('button', { name: 'Confirm purge' }).evaluate((b) => b === (b.ownerDocument as unknown as { activeElement: unknown }).activeElement), { timeoutMs: WAIT, what: 'the focus on Confirm purge' })
    await page.keyboard.press('Enter')
    const result = page.getByTestId('purge-result')
    await result.waitFor({ timeout: WAIT })
    // Two: the global cors plugin makes the response vary on Origin, so the key holds the Vary
    // record and the one variant stored (the count is the API's own, shown as answered).
    assert.equal(await result.textContent(), 'Purged 2 entries from memory on 1 worker, 0 from the second tier.')
    assert.equal(await result.getAttribute('role'), 'status')
    assert.equal(await confirm.count(), 0)
    await shot(page, 'cache-purge')
    assert.equal(await cacheStatus('/cached/item'), 'MISS')
    assert.equal(await cacheStatus('/cached/item'), 'HIT')

    // Cancel purges nothing; "everything" needs no key.
    await page.getByLabel('everything').check()
    assert.equal(await page.getByLabel('Key', { exact: true }).count(), 0)
    await page.getByRole('button', { name: 'Purge…' }).click()
    await confirm.filter({ hasText: 'Purge every entry of every cache route?' }).waitFor({ timeout: WAIT })
    await page.getByRole('button', { name: 'Cancel' }).click()
    assert.equal(await confirm.count(), 0)
    assert.equal(await cacheStatus('/cached/item'), 'HIT')
  })

  test('the fleet page says why there is no fleet on a file-sourced gateway', async () => {
    await go(page, '#/fleet')
    const empty = page.getByTestId('fleet-empty')
    await empty.waitFor({ timeout: WAIT })
    assert.match((await empty.textContent()) ?? '', /no fleet view: the fleet view needs the etcd config source/)
  })

  test('consumers, audit log and live traffic pages', async () => {
    await go(page, '#/consumers')
    const alice = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'alice' }) })
    await alice.waitFor({ timeout: WAIT })
    const text = (await alice.textContent()) ?? ''
    assert.match(text, /key_auth: 1 set/)
    assert.ok(!text.includes('sha256:'), 'the key hash is not shown')
    await shot(page, 'consumers')

    await go(page, '#/audit')
    const audit = page.getByTestId('audit')
    await audit.getByText('POST /admin/routes').first().waitFor({ timeout: WAIT })
    assert.match((await audit.textContent()) ?? '', /ops \(admin\).*412 precondition_failed/s)
    await shot(page, 'audit')

    // Without store.redis the revocation goes to this instance's shared memory (every worker).
    await go(page, '#/revoke')
    await page.getByLabel('jti', { exact: true }).fill('token-123')
    await page.getByRole('button', { name: 'Revoke' }).click()
    await page.getByRole('status').filter({ hasText: 'Revoked: {"jti":"token-123"' }).waitFor({ timeout: WAIT })

    await go(page, '#/traffic')
    // A file-sourced gateway has no fleet: the page still says whose figures these are.
    await page.getByTestId('traffic-scope').filter({ hasText: /^This instance only: the figures are the sum over this instance's workers\. Fleet-wide figures: / }).waitFor({ timeout: WAIT })
    const chart = page.locator('[data-route="api"]')
    const limited = page.locator('[data-route="limited"]')
    // Traffic through the gateway while the chart samples /metrics: api, and the limited route
    // (cache + rate-limit at 20/s) faster than its limit, so some requests are refused (429).
    let sending = true
    const load = (async () => {
      while (sending) await (await request(`${gw.url}/api/ping`)).body.dump()
    })()
    const burst = (async () => {
      for (let i = 0; sending; i++) await (await request(`${gw.url}/limited/item-${i % 3}`)).body.dump()
    })()
    try {
      await pollUntil(async () => Number(await chart.getByTestId('latest-requests/s').textContent({ timeout: 1000 })) > 0, { timeoutMs: WAIT, intervalMs: 200, what: 'a requests/s sample above 0' })
      // p50/p99 per route from the duration histogram: the chart names both, with a latest value in ms.
      const latency = chart.getByTestId('latency')
      await pollUntil(async () => /ms$/.test((await latency.getByTestId('latest-p99').textContent({ timeout: 1000 })) ?? ''), { timeoutMs: WAIT, intervalMs: 200, what: 'a p99 sample of api' })
      assert.equal(await latency.getAttribute('data-series'), 'p50 p99')
      assert.match((await latency.getByRole('img').getAttribute('aria-label')) ?? '', /^latency p50 \/ p99: p50 [\d.]+ ms, p99 [\d.]+ ms$/)
      // Rate-limit and cache results of the limited route, as rates; none on api, which has neither plugin.
      const rl = limited.getByTestId('rate-limit')
      await pollUntil(async () => parseFloat((await rl.getByTestId('latest-limited').textContent({ timeout: 1000 })) ?? '') > 0, { timeoutMs: WAIT, intervalMs: 200, what: 'limited decisions/s above 0' })
      assert.match((await rl.getAttribute('data-series')) ?? '', /^allowed limited/)
      assert.match((await rl.getByRole('img').getAttribute('aria-label')) ?? '', /^rate-limit decisions\/s: allowed [\d.]+\/s, limited [\d.]+\/s/)
      const cache = limited.getByTestId('cache')
      await pollUntil(async () => parseFloat((await cache.getByTestId('latest-HIT').textContent({ timeout: 1000 })) ?? '') > 0, { timeoutMs: WAIT, intervalMs: 200, what: 'cache HITs/s above 0' })
      // The legend names every result the cache plugin counts, HIT and MISS first.
      assert.match((await cache.getAttribute('data-series')) ?? '', /^HIT MISS\b/)
      assert.match((await cache.getByRole('img').getAttribute('aria-label')) ?? '', /^cache results\/s: HIT [\d.]+\/s, MISS [\d.]+\/s/)
      assert.equal(await chart.getByTestId('rate-limit').count(), 0)
      assert.equal(await chart.getByTestId('cache').count(), 0)
      await limited.getByTestId('latency').getByTestId('latest-p50').filter({ hasText: /ms$/ }).waitFor({ timeout: WAIT })
      // (For the screenshot: lines, which need two intervals, on every chart of the limited route.)
      if (SHOTS !== null) await pollUntil(async () => (await limited.locator('svg:has(polyline)').count()) >= 5, { timeoutMs: WAIT, intervalMs: 500, what: 'lines on the limited charts' })
      await shot(page, 'traffic', true)
    } finally {
      sending = false
      await Promise.all([load, burst])
    }

    // The overview lists the reloads, newest first: the console's writes, then a broken file
    // (rejected, with the validator's error; the previous version keeps serving).
    await gw.writeConfig(stringify({ server: document.server, admin: document.admin, upstreams: { backend: { targets: [{ url: stable.url }] } }, routes: [{ name: 'api', pathz: ['/api/*'], upstream: 'backend' }] }))
    await go(page, '#/overview')
    const reloads = page.getByTestId('reloads')
    await reloads.locator('tbody tr').filter({ hasText: 'rejected' }).waitFor({ timeout: WAIT })
    const rows = await reloads.locator('tbody tr').allTextContents()
    assert.match(rows[0]!, /file.*rejected.*unknown key "pathz".*did you mean "paths"\?/)
    assert.ok(rows.slice(1).length >= 2 && rows.slice(1).every((r) => r.includes('admin') && r.includes('ok')), rows.join('\n'))
    // No etcd config center: the overview says there is no fleet, and why, instead of a fleet table.
    assert.match((await page.getByTestId('overview-fleet-off').textContent()) ?? '', /^Fleet: none\. The fleet view needs the etcd config source \(config_center\.etcd\).*\.$/)
    assert.equal(await page.getByTestId('overview-fleet').count(), 0)
    await shot(page, 'overview')
  })

  test('no page raised a script error or a Content-Security-Policy violation, and no URL carried a token', () => {
    assert.deepEqual(scriptErrors, [])
    assert.ok(urls.length > 20)
    for (const token of Object.values(TOKENS)) assert.deepEqual(urls.filter((u) => u.includes(token)), [])
  })
})
