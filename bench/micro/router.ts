// Micro-benchmark of the router hot path: normalizePath and RouteTable.match on a 100-route table,
// with a bare find-my-way find() on the same patterns as the floor. Prints ns/op per case.
// Run: node --import tsx bench/micro/router.ts
import FindMyWay from 'find-my-way'
import { normalizePath } from '../../src/router/normalize.js'
import { RouteTable, type RouteSpec } from '../../src/router/table.js'

const RESOURCES = ['users', 'orders', 'items', 'carts', 'invoices', 'payments', 'shipments', 'reviews', 'coupons', 'stores']

// 100 routes the way a real gateway config looks: per resource an exact collection route, an item
// route with a param, a nested param route, a wildcard, a few host-bound and header-bound routes,
// and regex routes at the end.
function specs(): RouteSpec<number>[] {
  const out: RouteSpec<number>[] = []
  let i = 0
  for (const r of RESOURCES) {
    out.push({ name: `${r}-list`, paths: [`/api/v1/${r}`], methods: ['GET', 'POST'], data: i++ })
    out.push({ name: `${r}-item`, paths: [`/api/v1/${r}/:id`], methods: ['GET', 'PUT', 'DELETE'], data: i++ })
    out.push({ name: `${r}-sub`, paths: [`/api/v1/${r}/:id/events/:event`], data: i++ })
    out.push({ name: `${r}-files`, paths: [`/api/v1/${r}/:id/files/*`], data: i++ })
    out.push({ name: `${r}-v2`, paths: [`/api/v2/${r}`, `/api/v2/${r}/:id`], data: i++ })
    out.push({ name: `${r}-admin`, paths: [`/admin/${r}/*`], hosts: ['admin.example.com'], data: i++ })
    out.push({ name: `${r}-beta`, paths: [`/api/v1/${r}/search`], headers: { 'x-beta': '1' }, data: i++ })
    out.push({ name: `${r}-static`, paths: [`/static/${r}/*`], hosts: ['*.cdn.example.com'], data: i++ })
    out.push({ name: `${r}-health`, paths: [`/health/${r}`], data: i++ })
  }
  for (let k = 0; out.length < 99; k++) out.push({ name: `legacy-${k}`, paths: [`~^/legacy/${k}/\\d+$`], data: i++ })
  out.push({ name: 'catch-all', paths: ['/*'], priority: -1, data: i++ })
  return out
}

function bench(name: string, fn: () => unknown): void {
  // Warm-up long enough for V8 to optimize the path being measured, then several timed rounds;
  // the best round is reported because it is the least disturbed by GC and other processes.
  const warm = 200_000
  for (let i = 0; i < warm; i++) fn()
  const n = 1_000_000
  let best = Infinity
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) fn()
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n)
  }
  console.log(`${name.padEnd(48)} ${best.toFixed(1).padStart(8)} ns/op`)
}

const all = specs()
const table = new RouteTable(all)
const noHeaders = {}
const beta = { 'x-beta': '1' }

// The floor: find-my-way alone on the same non-regex patterns, one pseudo-method, as table.ts uses it.
const fmw = FindMyWay({ querystringParser: () => ({}) })
const seen = new Set<string>()
for (const s of all) for (const p of s.paths) {
  const key = p.replace(/:\w+/g, ':')
  if (!p.startsWith('~') && !seen.has(key)) {
    seen.add(key)
    fmw.on('GET', p, () => {})
  }
}

console.log(`router micro-benchmark: ${table.size} routes, node ${process.version}`)
bench('normalizePath clean (fast path)', () => normalizePath('/api/v1/users/12345/events/abc'))
bench('normalizePath with escapes and dot segments', () => normalizePath('/api/v1/%75sers/./12345/../12345/%7Eabc'))
bench('find-my-way find, param route (floor)', () => fmw.find('GET', '/api/v1/users/12345'))
bench('match exact', () => table.match('api.example.com', 'GET', '/api/v1/orders', noHeaders))
bench('match param', () => table.match('api.example.com', 'GET', '/api/v1/users/12345', noHeaders))
bench('match two params', () => table.match('api.example.com', 'GET', '/api/v1/items/9/events/created', noHeaders))
bench('match wildcard with param', () => table.match('api.example.com', 'GET', '/api/v1/carts/3/files/a/b.png', noHeaders))
bench('match wildcard host', () => table.match('eu.cdn.example.com', 'GET', '/static/stores/app.js', noHeaders))
bench('match header route', () => table.match('api.example.com', 'GET', '/api/v1/users/search', beta))
bench('match header fails, falls back to param', () => table.match('api.example.com', 'GET', '/api/v1/users/search', noHeaders))
bench('match regex route', () => table.match('api.example.com', 'GET', '/legacy/7/123', noHeaders))
bench('match 405', () => table.match('api.example.com', 'PATCH', '/api/v1/orders', noHeaders))
bench('match catch-all', () => table.match('api.example.com', 'GET', '/nothing/here', noHeaders))
bench('normalize + match param', () => {
  const p = normalizePath('/api/v1/users/12345')
  return p === undefined ? undefined : table.match('api.example.com', 'GET', p, noHeaders)
})
