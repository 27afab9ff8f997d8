// cache plugin: schema accepts and rejects, RFC 9111 logic (directives, freshness, age, storing,
// conditionals), key building, zone size bound and purge matching.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Value } from '@sinclair/typebox/value'
import { CacheSchema } from '../../../src/plugins/cache/schema.js'
import {
  freshnessLifetime,
  initialAgeMs,
  mayStore,
  notModified,
  parseCacheControl,
  varyNames,
  varySignature,
} from '../../../src/plugins/cache/rfc9111.js'
import { compileKey } from '../../../src/plugins/cache/key.js'
import { Zone, entrySize, type Entry } from '../../../src/plugins/cache/zone.js'
import cache from '../../../src/plugins/cache/index.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import { createLogger } from '../../../src/observability/logger.js'
import type { RequestContext } from '../../../src/core/context.js'

const H = { fraction: 0.1, maxMs: 3600_000 }
const rules = { statuses: new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]), storeSetCookie: false }
const NONE = parseCacheControl(undefined)

describe('cache schema', () => {
  test('accepts an empty config and fills defaults', () => {
    const c = Value.Default(CacheSchema, {}) as Record<string, unknown>
    assert.ok(Value.Check(CacheSchema, c))
    assert.equal(c.max_size, '64mb')
    assert.equal(c.tier2, 'none')
    assert.equal(c.failure_mode, 'open')
  })
  test('rejects unknown keys, bad methods, bad sizes and bad header names', () => {
    for (const bad of [{ nope: 1 }, { methods: ['POST'] }, { max_size: 'lots' }, { key: { headers: ['bad header'] } }, { heuristic_fraction: 2 }, { tier2: 'memcached' }]) {
      assert.equal(Value.Check(CacheSchema, bad), false, JSON.stringify(bad))
    }
  })
  test('tier2: redis without store.redis is refused at compile time', () => {
    assert.throws(() => cache.create(Value.Default(CacheSchema, { tier2: 'redis' }) as never, testPluginEnv('t')), /store\.redis/)
  })
})

describe('Cache-Control parsing', () => {
  test('directives, arguments, quotes and case', () => {
    const cc = parseCacheControl('Public, MAX-AGE=60, s-maxage="30", no-cache="set-cookie, x", stale-while-revalidate=5, stale-if-error=7')
    assert.equal(cc.public, true)
    assert.equal(cc.maxAge, 60)
    assert.equal(cc.sMaxAge, 30)
    assert.equal(cc.noCache, true)
    assert.equal(cc.staleWhileRevalidate, 5)
    assert.equal(cc.staleIfError, 7)
  })
  test('an invalid max-age counts as 0 (stale); repeated lines are joined', () => {
    assert.equal(parseCacheControl('max-age=abc').maxAge, 0)
    assert.equal(parseCacheControl('max-age=-5').maxAge, 0)
    const cc = parseCacheControl(['max-age=10', 'private'])
    assert.equal(cc.maxAge, 10)
    assert.equal(cc.private, true)
    assert.equal(parseCacheControl('max-age=99999999999').maxAge, 2147483648)
  })
})

describe('freshness and age (RFC 9111 §4.2)', () => {
  const now = Date.parse('2026-01-01T12:00:00Z')
  const date = new Date(now).toUTCString()
  test('s-maxage wins over max-age, which wins over Expires', () => {
    const h = { date, expires: new Date(now + 500_000).toUTCString() }
    assert.equal(freshnessLifetime(200, h, parseCacheControl('max-age=10, s-maxage=20'), now, H).lifetimeMs, 20_000)
    assert.equal(freshnessLifetime(200, h, parseCacheControl('max-age=10'), now, H).lifetimeMs, 10_000)
    assert.equal(freshnessLifetime(200, h, NONE, now, H).lifetimeMs, 500_000)
    assert.equal(freshnessLifetime(200, { date, expires: '0' }, NONE, now, H).lifetimeMs, 0, 'invalid Expires = expired')
  })
  test('heuristic: 10% of Date − Last-Modified, capped, only for heuristic statuses or public', () => {
    const lm = new Date(now - 10_000_000).toUTCString()
    assert.deepEqual(freshnessLifetime(200, { date, 'last-modified': lm }, NONE, now, H), { lifetimeMs: 1_000_000, source: 'heuristic' })
    assert.equal(freshnessLifetime(200, { date, 'last-modified': new Date(now - 100 * 3600_000).toUTCString() }, NONE, now, H).lifetimeMs, 3600_000)
    assert.equal(freshnessLifetime(302, { date, 'last-modified': lm }, NONE, now, H).lifetimeMs, 0)
    assert.equal(freshnessLifetime(302, { date, 'last-modified': lm }, parseCacheControl('public'), now, H).lifetimeMs, 1_000_000)
    assert.equal(freshnessLifetime(200, { date, 'last-modified': lm }, NONE, now, { fraction: 0, maxMs: 1 }).lifetimeMs, 0)
  })
  test('initial age: Age header plus response delay, or apparent age from Date', () => {
    assert.equal(initialAgeMs({ date, age: '30' }, now - 2000, now), 32_000)
    assert.equal(initialAgeMs({ date: new Date(now - 5000).toUTCString() }, now - 100, now), 5000)
    assert.equal(initialAgeMs({ age: 'junk' }, now, now), 0)
  })
})

describe('storing (RFC 9111 §3)', () => {
  const cc = (s: string) => parseCacheControl(s)
  test('no-store, private, Vary: *, Set-Cookie and non-listed statuses are refused', () => {
    assert.equal(mayStore(200, {}, cc('no-store, max-age=60'), NONE, false, rules).store, false)
    assert.equal(mayStore(200, {}, cc('private, max-age=60'), NONE, false, rules).store, false)
    assert.equal(mayStore(200, { vary: 'accept, *' }, cc('max-age=60'), NONE, false, rules).store, false)
    assert.equal(mayStore(200, { 'set-cookie': 'a=1' }, cc('max-age=60'), NONE, false, rules).store, false)
    assert.equal(mayStore(500, {}, cc('max-age=60'), NONE, false, rules).store, false)
    assert.equal(mayStore(200, {}, cc('max-age=60'), cc('no-store'), false, rules).store, false)
  })
  test('Authorization needs public, s-maxage or must-revalidate (§3.5)', () => {
    assert.equal(mayStore(200, {}, cc('max-age=60'), NONE, true, rules).store, false)
    for (const ok of ['public', 's-maxage=5', 'must-revalidate, max-age=5']) assert.equal(mayStore(200, {}, cc(ok), NONE, true, rules).store, true, ok)
  })
  test('a status outside the heuristic list needs explicit freshness', () => {
    const r = { ...rules, statuses: new Set([200, 302]) }
    assert.equal(mayStore(302, {}, NONE, NONE, false, r).store, false)
    assert.equal(mayStore(302, {}, cc('max-age=5'), NONE, false, r).store, true)
    assert.equal(mayStore(200, {}, NONE, NONE, false, r).store, true)
  })
})

describe('Vary and conditionals', () => {
  test('vary names are normalized; signatures separate values', () => {
    assert.deepEqual(varyNames({ vary: 'Accept-Encoding, accept-language,ACCEPT-ENCODING' }), ['accept-encoding', 'accept-language'])
    assert.equal(varyNames({}), null)
    const names = ['accept-language']
    assert.notEqual(varySignature(names, { 'accept-language': 'en' }), varySignature(names, { 'accept-language': 'fr' }))
    assert.notEqual(varySignature(names, {}), varySignature(names, { 'accept-language': '' }))
    assert.equal(varySignature(names, { 'accept-language': 'en , fr' }), varySignature(names, { 'accept-language': 'en,fr' }))
  })
  test('If-None-Match (weak comparison, lists, *) takes precedence over If-Modified-Since', () => {
    const stored = { etag: '"a"', 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT' }
    assert.equal(notModified({ 'if-none-match': 'W/"a"' }, stored), true)
    assert.equal(notModified({ 'if-none-match': '"x", "a"' }, stored), true)
    assert.equal(notModified({ 'if-none-match': '*' }, stored), true)
    assert.equal(notModified({ 'if-none-match': '"b"', 'if-modified-since': 'Tue, 02 Jan 2024 00:00:00 GMT' }, stored), false)
    assert.equal(notModified({ 'if-modified-since': 'Tue, 02 Jan 2024 00:00:00 GMT' }, stored), true)
    assert.equal(notModified({ 'if-modified-since': 'Sun, 31 Dec 2023 00:00:00 GMT' }, stored), false)
    assert.equal(notModified({ 'if-modified-since': 'garbage' }, stored), false)
  })
})

describe('cache key', () => {
  const ctx = (host: string, path: string, query: string, headers: Record<string, string> = {}) => ({ host, path, query, req: { headers } }) as unknown as RequestContext
  test('host + path + query by default; options sort, filter and drop', () => {
    assert.equal(compileKey({})(ctx('a.com', '/x', 'b=2&a=1')), 'a.com/x?b=2&a=1')
    assert.equal(compileKey({ query: 'sorted' })(ctx('a.com', '/x', 'b=2&a=1')), 'a.com/x?a=1&b=2')
    assert.equal(compileKey({ query: 'none', host: false })(ctx('a.com', '/x', 'b=2')), '/x')
    assert.equal(compileKey({ query_ignore: ['utm_source'] })(ctx('a.com', '/x', 'utm_source=z&id=1')), 'a.com/x?id=1')
    assert.equal(compileKey({ query_include: ['id'] })(ctx('a.com', '/x', 'utm_source=z&id=1&q=2')), 'a.com/x?id=1')
    assert.equal(compileKey({ query_include: ['id'] })(ctx('a.com', '/x', 'q=2')), 'a.com/x')
  })
  test('configured headers become variant parts after the purgeable base', () => {
    const k = compileKey({ headers: ['X-Tenant'] })
    assert.equal(k(ctx('a.com', '/x', '', { 'x-tenant': 't1' })), 'a.com/x\nx-tenant=2:t1;')
    assert.notEqual(k(ctx('a.com', '/x', '', { 'x-tenant': 't1' })), k(ctx('a.com', '/x', '', { 'x-tenant': 't2' })))
  })
})

describe('zone', () => {
  const entry = (body: number): Omit<Entry, 'size'> => ({
    kind: 'entry',
    status: 200,
    headers: { 'content-type': 'text/plain' },
    body: Buffer.alloc(body),
    requestTime: 0,
    responseTime: 0,
    initialAge: 0,
    lifetime: 60_000,
    noCache: false,
    mustRevalidate: false,
    swr: 0,
    sie: 0,
    authOk: false,
    etag: undefined,
    lastModified: undefined,
    varyNames: null,
    varySig: '',
  })
  const zoneOf = (maxSize: number) => new Zone({ name: 'z', maxSize, tier2: null, tier2TimeoutMs: 0, keepStaleMs: 0, logger: createLogger('silent') })

  test('the memory tier never holds more bytes than max_size', () => {
    const z = zoneOf(10_000)
    for (let i = 0; i < 50; i++) {
      const e = entry(1000)
      z.put(`k${i}`, { ...e, size: entrySize(`k${i}`, e) })
      assert.ok(z.lru.calculatedSize <= 10_000, `size ${z.lru.calculatedSize}`)
    }
    assert.ok(z.lru.size >= 7 && z.lru.size <= 9, `entries: ${z.lru.size}`)
    assert.equal(z.lru.has('k49'), true)
    assert.equal(z.lru.has('k0'), false)
  })
  test('purge by key takes the entry and its variants, not its neighbours; by prefix takes all below', () => {
    const z = zoneOf(1_000_000)
    const e = entry(1)
    for (const k of ['h/a', 'h/a\nvary:x', 'h/a?1', 'h/ab', 'h/b']) z.put(k, { ...e, size: entrySize(k, e) })
    assert.equal(z.purgeLocal({ key: 'h/a' }), 2)
    assert.deepEqual([...z.lru.keys()].sort(), ['h/a?1', 'h/ab', 'h/b'])
    assert.equal(z.purgeLocal({ prefix: 'h/a' }), 2)
    assert.deepEqual([...z.lru.keys()], ['h/b'])
  })
  test('flights settle once and leave the table', async () => {
    const z = zoneOf(1000)
    const f = z.startFlight('k')
    assert.equal(z.inflight.get('k'), f)
    f.settle(null)
    f.settle({ entry: { ...entry(1), size: 1 }, stale: false })
    assert.equal(await f.promise, null)
    assert.equal(z.inflight.has('k'), false)
  })
})
