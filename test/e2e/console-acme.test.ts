// The console's certificates page with ACME: a real CA (Pebble, test/helpers/pebble.ts, validating
// HTTP-01 for real) and a cluster-mode gateway (the primary runs the ACME manager; a --no-cluster
// gateway, as in console.test.ts, has none). After the primary's order, the page lists the issued
// certificate (source acme, issuer Pebble) and, under "ACME renewals", the renewal state /status
// carries: one order, no failure, the next check before the certificate expires. Its own file:
// Pebble and an order would slow console.test.ts.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { launchConsoleBrowser, type ConsoleBrowser } from '../helpers/browser.js'
import { request } from 'undici'
import { startPebble, type Pebble } from '../helpers/pebble.js'
import { startOrigin, freePort, type Origin } from '../helpers/origin.js'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { pollUntil } from '../helpers/poll.js'

const ADMIN = 'console-acme-admin-0123456789'
const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const WAIT = 30_000

describe('console certificates page with ACME (Pebble)', () => {
  let pebble: Pebble
  let origin: Origin
  let storage: string
  let gw: Gateway
  let cb: ConsoleBrowser
  let page: ConsoleBrowser['page']

  before(async () => {
    const [httpPort, tlsPort] = await Promise.all([freePort(), freePort()])
    storage = await mkdtemp(join(tmpdir(), 'portico-console-acme-'))
    ;[pebble, origin] = await Promise.all([startPebble({ httpPort }), startOrigin()])
    gw = await startGateway({
      args: ['--workers', '1'],
      readyTimeoutMs: 120_000,
      config: ({ port, adminPort }) => `
server:
  listeners:
    - listen: 127.0.0.1:${port}
    - listen: 127.0.0.1:${httpPort}
      redirect_https: { port: ${tlsPort} }
    - listen: 127.0.0.1:${tlsPort}
      tls: { acme: true }
admin:
  listen: 127.0.0.1:${adminPort}
  tokens: [ { name: ops, role: admin, sha256: ${sha(ADMIN)} } ]
acme:
  directory: ${pebble.directory}
  ca_file: ${pebble.caFile}
  email: ops@example.org
  terms_of_service_agreed: true
  storage_dir: ${storage}
  certificates:
    - { name: shop, names: [shop.test, www.shop.test] }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
log: { level: info, access_log: false }
`,
    })
    cb = await launchConsoleBrowser()
    page = cb.page
  })

  after(async () => {
    await cb?.close()
    await gw?.stop()
    await pebble?.close()
    await origin?.close()
    if (storage !== undefined) await rm(storage, { recursive: true, force: true })
  })

  test('the issued certificate and its renewal state: one order, no failure, the next check before expiry', { timeout: 300_000 }, async () => {
    // The order runs in the primary after start: wait until a worker serves what it issued.
    await pollUntil(
      async () => {
        const s = JSON.parse(await (await request(`${gw.adminUrl}/status`, { headers: { authorization: `Bearer ${ADMIN}` } })).body.text()) as { certificates?: Array<{ source: string }> }
        return (s.certificates ?? []).some((c) => c.source === 'acme')
      },
      { timeoutMs: 180_000, what: 'the ACME certificate served' },
    )
    await page.goto(`${gw.adminUrl}/ui/#/certificates`)
    await page.getByLabel('Admin token').fill(ADMIN)
    await page.getByRole('button', { name: 'Sign in' }).click()
    const cert = page.getByTestId('certificates').locator('tr[data-certificate="shop"]')
    await cert.waitFor({ timeout: WAIT })
    assert.match((await cert.textContent()) ?? '', /Pebble/)
    assert.deepEqual(await cert.getByTestId('certificate-names').locator('code').allTextContents(), ['shop.test', 'www.shop.test'])
    const renewal = page.getByTestId('acme-renewals').locator('tr[data-renewal="shop"]')
    await renewal.waitFor({ timeout: WAIT })
    const cells = await renewal.locator('td').allTextContents()
    // Names, next check, orders, failures, last error, ARI window (Debian's Pebble offers no ARI).
    assert.equal(cells[0], 'shop.test, www.shop.test')
    assert.equal(cells[2], '1')
    assert.equal(cells[3], '0')
    assert.equal(cells[4], '—')
    const next = Date.parse((await renewal.locator('time').getAttribute('datetime')) ?? '')
    const notAfter = Date.parse((await cert.getByTestId('not-after').getAttribute('datetime')) ?? '')
    assert.ok(next > Date.now() && next < notAfter, `next check ${new Date(next).toISOString()}, not after ${new Date(notAfter).toISOString()}`)
  })

  test('no script error or CSP violation, and no URL carried the token', () => {
    assert.deepEqual(cb.scriptErrors, [])
    assert.ok(cb.urls.length > 3)
    assert.deepEqual(cb.urls.filter((u) => u.includes(ADMIN)), [])
  })
})
