// Debian's Chromium through playwright-core for the console's end-to-end tests, with the page's
// script errors and every requested URL recorded (the tests assert no script error or CSP
// violation happened and no URL carried a token).
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export interface ConsoleBrowser {
  browser: Browser
  context: BrowserContext
  page: Page
  /** Uncaught exceptions and console errors of the page (CSP violations are logged as errors). */
  scriptErrors: string[]
  /** Every URL the page requested. */
  urls: string[]
  close(): Promise<void>
}

export async function launchConsoleBrowser(viewport = { width: 1280, height: 800 }): Promise<ConsoleBrowser> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const scriptErrors: string[] = []
  const urls: string[] = []
  page.on('pageerror', (e) => scriptErrors.push(e.message))
  page.on('request', (r) => urls.push(r.url()))
  // (A 4xx answer the console handles is logged by Chromium as "Failed to load resource": not a script error.)
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && scriptErrors.push(m.text()))
  return { browser, context, page, scriptErrors, urls, close: () => browser.close() }
}
