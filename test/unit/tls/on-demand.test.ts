// On-demand TLS policy (tls/acme/on-demand.ts) against a real loopback ask server with an injected
// clock: the per-name interval, the global window, the ask URL's verdicts; and the storage's name
// guards (a demand is only ever a DNS name) and the acme config check.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OnDemandGate } from '../../../src/tls/acme/on-demand.js'
import { AcmeDirectory } from '../../../src/tls/acme/storage.js'
import { loadConfigText } from '../../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'

async function askServer(t: { after(fn: () => unknown): void }): Promise<{ url: string; asked: string[] }> {
  const asked: string[] = []
  const s = http.createServer((req, res) => {
    const d = new URL(req.url ?? '/', 'http://x').searchParams.get('domain') ?? ''
    asked.push(d)
    res.writeHead(d.endsWith('.ok.test') ? 200 : 404).end()
  })
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  t.after(() => new Promise((r) => s.close(r)))
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/ask`, asked }
}

test('gate: the ask URL approves; a refused name rests for per_name_interval; max_orders per window', async (t) => {
  const { url, asked } = await askServer(t)
  let now = 1_000_000
  const gate = new OnDemandGate({ ask: url, per_name_interval: '10m', max_orders: 2, per: '1h' }, () => now)
  assert.equal(await gate.decide('a.ok.test'), null)
  assert.match((await gate.decide('x.no.test')) ?? '', /answered 404/)
  assert.match((await gate.decide('x.no.test')) ?? '', /per_name_interval/)
  assert.deepEqual(asked, ['a.ok.test', 'x.no.test'])
  assert.equal(await gate.decide('b.ok.test'), null)
  assert.match((await gate.decide('c.ok.test')) ?? '', /global on-demand limit/)
  assert.equal(asked.includes('c.ok.test'), false, 'the global limit is checked before asking')
  // An hour later the window is free again; c.ok.test was refused then, so it rests 10 minutes only.
  now += 3_600_000
  assert.equal(await gate.decide('c.ok.test'), null)
  // A failed order counts as a refusal.
  gate.refused('c.ok.test', 'order failed')
  assert.match((await gate.decide('c.ok.test')) ?? '', /per_name_interval/)
})

test('gate: an ask URL that does not answer does not approve', async () => {
  const gate = new OnDemandGate({ ask: 'http://127.0.0.1:1/ask', ask_timeout: '2s' })
  assert.match((await gate.decide('a.ok.test')) ?? '', /did not answer/)
})

test('storage: demands are DNS names only; refusals and TLS-ALPN-01 certificates are keyed by name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-acme-unit-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const s = new AcmeDirectory(dir)
  await s.init()
  for (const bad of ['127.0.0.1', '../etc', 'a/b.test', '*.wild.test', '']) await s.putDemand(bad)
  await s.putDemand('Shop.Example.test')
  await s.putDemand('shop.example.test') // once: an existing demand stands
  assert.deepEqual(await s.demands(), ['shop.example.test'])
  await s.removeDemand('shop.example.test')
  assert.deepEqual(await s.demands(), [])
  await s.refuse('x.test', 'no')
  assert.deepEqual(await readdir(s.refusedDir), ['x.test'])
  await assert.rejects(s.putAlpnChallenge('../x', { cert: 'c', key: 'k' }))
  await s.putAlpnChallenge('A.test', { cert: 'c', key: 'k' })
  assert.deepEqual(await s.alpnChallenge('a.test'), { cert: 'c', key: 'k' })
  assert.equal(await s.alpnChallenge('../a.test'), null)
  await s.removeAlpnChallenge('a.test')
  assert.equal(await s.alpnChallenge('a.test'), null)
})

test('config: acme needs certificates or on_demand; on_demand needs an http(s) ask URL', () => {
  const errs = (acme: string): string[] => {
    const r = loadConfigText(`acme: ${acme}\nupstreams: {}\nroutes: []\n`, 't.yaml', { checks: INSTALLED_CHECKS })
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
  }
  assert.match(errs('{ terms_of_service_agreed: true }').join(), /acme needs certificates \(or on_demand\)/)
  assert.deepEqual(errs('{ terms_of_service_agreed: true, on_demand: { ask: "http://127.0.0.1:9/ok" } }'), [])
  assert.ok(errs('{ terms_of_service_agreed: true, on_demand: { ask: "ftp://x" } }').some((m) => m.startsWith('acme.on_demand.ask')))
  assert.ok(errs('{ terms_of_service_agreed: true, challenge: dns-01, certificates: [{ names: [a.test] }] }').some((m) => m.startsWith('acme.challenge')))
})
