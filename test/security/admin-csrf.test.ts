// Cross-site requests and DNS rebinding against the admin listener. A browser on a hostile page can
// send a "simple" cross-site POST (text/plain, no preflight) to 127.0.0.1:9180, and a rebinding name
// (evil.example resolving to 127.0.0.1) lets its scripts read the answers with a foreign Host.
// The admin listener refuses writes that are not application/json, requests with a foreign Origin
// (or Sec-Fetch-Site: cross-site), and a Host that is not one of its own names. The real admin
// server on loopback, with a source and revocation writer that record what reached them.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import pino from 'pino'
import { startAdminServer, type AdminServer } from '../../src/control/admin/server.js'
import type { RevocationRequest } from '../../src/control/admin/revocations.js'
import { rawRequest } from '../helpers/raw.js'

const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)

describe('admin listener without a token, on loopback', () => {
  let admin: AdminServer
  let base: string
  const revoked: RevocationRequest[] = []
  const purged: unknown[] = []
  before(async () => {
    admin = await startAdminServer({
      listen: '127.0.0.1:0',
      token: undefined,
      logger: pino({ level: 'silent' }),
      source: {
        readiness: () => ({ ready: true }) as never,
        status: () => ({ ok: true }),
        metrics: () => Promise.resolve('# nothing\n'),
        purgeCache: (p) => {
          purged.push(p)
          return Promise.resolve({ memory: 0, tier2: 0 } as never)
        },
      },
      revocations: () => ({
        revoke: (r) => {
          revoked.push(r)
          return Promise.resolve()
        },
      }),
    })
    base = `http://127.0.0.1:${admin.address.port}`
  })
  after(() => admin.close())

  const revocation = JSON.stringify({ jti: 'abc', exp: Math.floor(Date.now() / 1000) + 600 })

  test('a JSON POST from a same-origin client is accepted (control)', async () => {
    const r = await request(`${base}/admin/revocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: revocation })
    await r.body.dump()
    assert.equal(r.statusCode, 201)
    assert.equal(revoked.length, 1)
  })

  test('a text/plain POST (a cross-site form or fetch without preflight) → 415, nothing revoked', async () => {
    const before = revoked.length
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const r = await request(`${base}/admin/revocations`, { method: 'POST', headers: type === undefined ? {} : { 'content-type': type }, body: revocation })
      const body = (await r.body.json()) as { status: number; error: string }
      assert.equal(r.statusCode, 415, String(type))
      assert.equal(body.error, 'unsupported_media_type')
    }
    assert.equal(revoked.length, before)
  })

  test('a foreign Origin → 403, even with a JSON body', async () => {
    const before = revoked.length
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1:1']) {
      const r = await request(`${base}/admin/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: revocation })
      await r.body.dump()
      assert.equal(r.statusCode, 403, origin)
    }
    const d = await request(`${base}/admin/cache?key=a/b`, { method: 'DELETE', headers: { origin: 'https://evil.example' } })
    await d.body.dump()
    assert.equal(d.statusCode, 403)
    assert.equal(revoked.length, before)
    assert.equal(purged.length, 0)
  })

  test('Sec-Fetch-Site: cross-site → 403', async () => {
    const r = await request(`${base}/status`, { headers: { 'sec-fetch-site': 'cross-site' } })
    await r.body.dump()
    assert.equal(r.statusCode, 403)
  })

  test('the admin\'s own Origin is fine', async () => {
    const r = await request(`${base}/status`, { headers: { origin: base } })
    await r.body.dump()
    assert.equal(r.statusCode, 200)
  })

  test('DNS rebinding: /status with a foreign Host → 403; loopback names and IP literals are fine', async () => {
    const port = admin.address.port
    for (const host of ['evil.example', `evil.example:${port}`, 'attacker.localhost.evil.example']) {
      const res = await rawRequest(port, `GET /status HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      assert.equal(status(res), 403, host)
      assert.doesNotMatch(res, /"ok":true/)
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', '[::1]:1', '10.0.0.7']) {
      const res = await rawRequest(port, `GET /status HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      assert.equal(status(res), 200, host)
    }
  })

  test('probes stay open whatever the Host (orchestrators)', async () => {
    const res = await rawRequest(admin.address.port, `GET /healthz HTTP/1.1\r\nHost: portico-admin.svc\r\nConnection: close\r\n\r\n`)
    assert.equal(status(res), 200)
  })
})
