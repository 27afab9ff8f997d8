// Strict HTTP-date parsing (RFC 9110 §5.6.7): exactly the three formats, anything else invalid,
// and an invalid Expires means "already expired" (RFC 9111 §5.3).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { freshnessLifetime, parseCacheControl, parseHttpDate } from '../../../src/plugins/cache/rfc9111.js'

const T = Date.UTC(1994, 10, 6, 8, 49, 37)

test('the three formats of RFC 9110 §5.6.7 parse to the same instant', () => {
  assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), T)
  assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), T)
  assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), T)
  assert.equal(parseHttpDate('sun, 06 NOV 1994 08:49:37 gmt'), T) // letter case is not significant here (as in nginx)
  assert.equal(parseHttpDate('Sun Nov 16 08:49:37 1994'), Date.UTC(1994, 10, 16, 8, 49, 37))
})

test('rfc850 two-digit years: more than 50 years ahead means the past century', () => {
  const year = new Date().getUTCFullYear()
  const yy = String((year + 60) % 100).padStart(2, '0')
  assert.equal(new Date(parseHttpDate(`Monday, 01-Jan-${yy} 00:00:00 GMT`)).getUTCFullYear(), year + 60 - 100)
  const near = String((year + 10) % 100).padStart(2, '0')
  assert.equal(new Date(parseHttpDate(`Monday, 01-Jan-${near} 00:00:00 GMT`)).getUTCFullYear(), year + 10)
})

test('what Date.parse accepts but HTTP does not is invalid', () => {
  for (const bad of [
    'Sun 06 Nov 1994 08:49:37 GMT', // missing comma
    'Sun,  06 Nov 1994 08:49:37 GMT', // double space
    'Sun, 06-Nov-1994 08:49:37 GMT', // dashes in IMF-fixdate
    'Sun, 06 Nov 1994 8:49:37 GMT', // one-digit hour
    'Sun, 6 Nov 1994 08:49:37 GMT', // one-digit day
    'Sun, 06 Nov 1994 08:49:37 UTC', // not GMT
    'Sun, 06 Nov 1994 08:49:37 +0000',
    'Sun, 31 Nov 1994 08:49:37 GMT', // no such day
    'Sun, 06 Nov 1994 24:00:00 GMT',
    '1994-11-06T08:49:37Z',
    '0',
    '-1',
    '',
    'Sun, 06 Nov 1994 08:49:37 GMT junk',
  ]) assert.ok(Number.isNaN(parseHttpDate(bad)), bad)
})

test('an invalid Expires gives a lifetime of 0 (already expired)', () => {
  const f = freshnessLifetime(200, { expires: 'Sun 06 Nov 2094 08:49:37 GMT', date: 'Sun, 06 Nov 1994 08:49:37 GMT' }, parseCacheControl(undefined), T, { fraction: 0.1, maxMs: 3_600_000 })
  assert.deepEqual(f, { lifetimeMs: 0, source: 'expires' })
})

test('request directives min-fresh, max-stale, only-if-cached are parsed', () => {
  const cc = parseCacheControl('min-fresh=10, max-stale=20, only-if-cached')
  assert.equal(cc.minFresh, 10)
  assert.equal(cc.maxStale, 20)
  assert.equal(cc.onlyIfCached, true)
  assert.equal(parseCacheControl('max-stale').maxStale, Infinity)
  assert.equal(parseCacheControl('max-age=1').maxStale, -1)
})
