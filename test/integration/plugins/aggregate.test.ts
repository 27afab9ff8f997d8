// aggregate through a real gateway and real origins: parallel calls, one slow and one failing
// backend (partial answer), a sequential dependency, a non-JSON backend, the fields allow-list,
// grouping, all-failed / required-failed 502s, and path-injection attempts.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { freePort, startOrigin, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const b = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) })
  res.end(b)
}

describe('aggregate plugin', () => {
  let users: Origin
  let orders: Origin
  let slow: Origin
  let html: Origin
  let gw: InProcGateway
  const slowTimers = new Set<NodeJS.Timeout>()
  before(async () => {
    users = await startOrigin((req, res) => {
      const id = decodeURIComponent((req.url ?? '').split('?')[0]!.split('/')[2] ?? '')
      if (id === '0') return json(res, 404, { error: 'no such user' })
      json(res, 200, { id: id === 'weird' ? '../admin?x=1' : Number(id), name: 'ann', ssn: '123', address: { city: 'Oslo', street: 'Main 1' }, auth: req.headers.authorization ?? null })
    })
    orders = await startOrigin((req, res) => json(res, 200, { url: req.url, items: [{ id: 1, total: 5, internal: 'x' }, { id: 2, total: 7, internal: 'y' }] }))
    slow = await startOrigin((_req, res) => {
      const t = setTimeout(() => {
        slowTimers.delete(t)
        json(res, 200, { late: true })
      }, 3000)
      slowTimers.add(t)
    })
    html = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<html>oops</html>')
    })
    const dead = await freePort()
    gw = await startInProc(`
upstreams:
  users: { targets: [ { url: ${users.url} } ] }
  orders: { targets: [ { url: ${orders.url} } ] }
  slow: { targets: [ { url: ${slow.url} } ] }
  html: { targets: [ { url: ${html.url} } ] }
  dead: { targets: [ { url: http://127.0.0.1:${dead} } ], timeouts: { connect: 500ms } }
routes:
  - name: dash
    paths: [/dash/:id]
    upstream: users
    plugins:
      - name: aggregate
        config:
          forward_headers: [authorization]
          forward_query: true
          backends:
            # the dependant is listed before its dependency on purpose
            - { name: orders, upstream: orders, path: "/orders/{user.id}?x=1", depends_on: { backend: user, field: id }, group: orders, fields: [items.id, items.total] }
            - { name: user, upstream: users, path: "/users/{id}", fields: [id, name, address.city, auth] }
            - { name: stats, upstream: slow, path: /stats, timeout: 300ms, group: stats }
            - { name: legacy, upstream: dead, path: /legacy }
  - name: mixed
    paths: [/mixed]
    upstream: users
    plugins:
      - name: aggregate
        config:
          backends:
            - { name: page, upstream: html, path: /page }
            - { name: user, upstream: users, path: /users/5, group: who }
  - name: allfail
    paths: [/allfail]
    upstream: users
    plugins:
      - name: aggregate
        config:
          backends:
            - { name: stats, upstream: slow, path: /s, timeout: 200ms }
            - { name: page, upstream: html, path: /p }
  - name: required
    paths: [/required/:id]
    upstream: users
    plugins:
      - name: aggregate
        config:
          backends:
            - { name: user, upstream: users, path: "/users/{id}", required: true }
            - { name: orders, upstream: orders, path: /orders }
`)
  })
  after(async () => {
    for (const t of slowTimers) clearTimeout(t)
    await gw.close()
    await Promise.all([users.close(), orders.close(), slow.close(), html.close()])
  })

  test('slow and failing backends: partial answer, marked, named in _errors, on time', async () => {
    const t0 = performance.now()
    const r = await request(`${gw.url}/dash/7?lang=en`, { headers: { authorization: 'Bearer abc' } })
    const ms = performance.now() - t0
    const body = (await r.body.json()) as Record<string, unknown>
    assert.equal(r.statusCode, 200)
    assert.equal(r.headers['x-portico-partial'], 'true')
    assert.ok(ms < 2500, `took ${ms}ms: the slow backend's timeout did not apply`)
    // user merged at the top with its allow-list; the Authorization header was forwarded
    assert.equal(body.id, 7)
    assert.equal(body.name, 'ann')
    assert.deepEqual(body.address, { city: 'Oslo' })
    assert.equal(body.ssn, undefined)
    assert.equal(body.auth, 'Bearer abc')
    // orders waited for user and used its id; allow-list applied per element; client query appended
    assert.deepEqual(body.orders, { items: [{ id: 1, total: 5 }, { id: 2, total: 7 }] })
    assert.equal(orders.seen.at(-1)!.url, '/orders/7?x=1&lang=en')
    const errors = body._errors as Record<string, { error: string; message: string }>
    assert.deepEqual(Object.keys(errors).sort(), ['legacy', 'stats'])
    assert.equal(errors.stats!.error, 'timeout')
    assert.equal(errors.legacy!.error, 'unreachable')
    assert.equal(body.stats, undefined)
  })

  test('a non-JSON backend is a clear error; the others still answer', async () => {
    const r = await request(`${gw.url}/mixed`)
    const body = (await r.body.json()) as { who: { id: number }; _errors: Record<string, { error: string; message: string }> }
    assert.equal(r.statusCode, 200)
    assert.equal(r.headers['x-portico-partial'], 'true')
    assert.equal(body.who.id, 5)
    assert.equal(body._errors.page!.error, 'not_json')
    assert.match(body._errors.page!.message, /content-type text\/html, not JSON/)
  })

  test('every backend failed: 502 aggregate_failed naming them', async () => {
    const r = await request(`${gw.url}/allfail`)
    const e = (await r.body.json()) as { error: string; message: string; request_id: string }
    assert.equal(r.statusCode, 502)
    assert.equal(e.error, 'aggregate_failed')
    assert.match(e.message, /stats \(timeout\)/)
    assert.match(e.message, /page \(not_json\)/)
    assert.equal(e.request_id, r.headers['x-request-id'])
  })

  test('a required backend that fails (404) fails the request; a failed dependency fails its dependant', async () => {
    const r = await request(`${gw.url}/required/0`)
    const e = (await r.body.json()) as { error: string; message: string }
    assert.equal(r.statusCode, 502)
    assert.match(e.message, /required backend failed: user \(status\)/)
    // On /dash/0 the user's 404 fails orders (its dependant) too; with stats and legacy down, nothing is left.
    const d = await request(`${gw.url}/dash/0`)
    const all = (await d.body.json()) as { message: string }
    assert.equal(d.statusCode, 502)
    assert.match(all.message, /orders \(dependency_failed\)/)
    assert.match(all.message, /user \(status\)/)
  })

  test('attack: values from a backend or the client are encoded into the path, never parsed as path or query', async () => {
    const before = orders.seen.length
    const r = await request(`${gw.url}/dash/weird`)
    await r.body.dump()
    assert.equal(orders.seen.length, before + 1)
    assert.equal(orders.seen.at(-1)!.url, '/orders/..%2Fadmin%3Fx%3D1?x=1')
    const u = await request(`${gw.url}/dash/%2E%2E%2Fadmin`)
    await u.body.dump()
    assert.match(users.seen.at(-1)!.url, /^\/users\/[^/]*$/)
  })
})
