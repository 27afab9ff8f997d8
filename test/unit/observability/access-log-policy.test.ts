// log.access_log options: the schema's accepted forms, success sampling (failures always logged),
// and query redaction against encoded, repeated, bracketed and case-changed parameter names.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { accessLogPolicy, redactQuery } from '../../../src/observability/access-log.js'
import { loadConfigText } from '../../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'

const base = 'upstreams: { o: { targets: [ { url: "http://127.0.0.1:1" } ] } }\nroutes: [ { name: r, paths: [/x], upstream: o } ]\n'

test('schema: true/false and the object form are valid; bad values are errors with the path', () => {
  for (const v of ['true', 'false', '{ enabled: false }', '{ sample_success: 0.25, include_query: true, redact_query_params: [token], format: json }']) {
    const r = loadConfigText(`${base}log: { access_log: ${v} }\n`, 't.yaml', { checks: INSTALLED_CHECKS })
    assert.equal(r.ok, true, `${v}: ${r.ok ? '' : JSON.stringify(r.errors)}`)
  }
  for (const v of ['{ sample_success: 1.5 }', '{ sample_success: -0.1 }', '{ format: text }', '{ redact: [a] }', '{ redact_query_params: [""] }', '"yes"']) {
    const r = loadConfigText(`${base}log: { access_log: ${v} }\n`, 't.yaml', { checks: INSTALLED_CHECKS })
    assert.equal(r.ok, false, v)
    assert.ok(!r.ok && r.errors.some((e) => (e.path ?? '').includes('access_log')), `${v}: ${JSON.stringify(!r.ok && r.errors)}`)
  }
})

test('policy: off forms are null; true logs every line and no query', () => {
  assert.equal(accessLogPolicy(false), null)
  assert.equal(accessLogPolicy({ enabled: false, sample_success: 1 }), null)
  for (const on of [true, undefined, {}]) {
    const p = accessLogPolicy(on)!
    assert.equal(p.keep(200, undefined), true)
    assert.equal(p.redact, null)
    assert.equal(p.query('token=1'), undefined)
  }
})

test('sampling: successes sampled, 4xx/5xx and failed requests always kept', () => {
  const none = accessLogPolicy({ sample_success: 0 })!
  assert.equal(none.keep(200, undefined), false)
  assert.equal(none.keep(304, undefined), false)
  assert.equal(none.keep(404, 'route_not_found'), true)
  assert.equal(none.keep(502, 'upstream_unreachable'), true)
  assert.equal(none.keep(200, 'client_closed'), true, 'a 499 written with the upstream status is still a failure')
  assert.equal(none.keep(200, undefined, true), true, 'a gRPC call that ended non-OK (HTTP 200) is a failure')
  assert.equal(none.keep(200, undefined, false), false)
  const tenth = accessLogPolicy({ sample_success: 0.1 })!
  let kept = 0
  for (let i = 0; i < 20_000; i++) if (tenth.keep(200, undefined)) kept++
  assert.ok(kept > 1500 && kept < 2500, `kept ${kept} of 20000 at 0.1`)
})

test('redaction: decoded, case-insensitive, bracket suffixes, every repeat; other params untouched', () => {
  const names = new Set(['token', 'api_key'])
  assert.equal(redactQuery('a=1&token=s1&b=2', names), 'a=1&token=[REDACTED]&b=2')
  assert.equal(redactQuery('TOKEN=s1&Api_Key=s2', names), 'TOKEN=[REDACTED]&Api_Key=[REDACTED]')
  assert.equal(redactQuery('%74oken=s1&api%5Fkey=s2', names), '%74oken=[REDACTED]&api%5Fkey=[REDACTED]')
  assert.equal(redactQuery('token[]=s1&token[0]=s2&token=s3', names), 'token[]=[REDACTED]&token[0]=[REDACTED]&token=[REDACTED]')
  assert.equal(redactQuery('token&x=%zz&token+=s', names), 'token=[REDACTED]&x=%zz&token+=[REDACTED]')
  assert.equal(redactQuery('tokens=ok&my_token=ok', names), 'tokens=ok&my_token=ok')
  assert.equal(redactQuery('%zz=1&token=s', names), '%zz=1&token=[REDACTED]', 'a malformed name does not stop redaction')
  const p = accessLogPolicy({ include_query: true, redact_query_params: ['Token'] })!
  assert.equal(p.query(''), undefined)
  assert.equal(p.query('token=s&q=1'), 'token=[REDACTED]&q=1')
  assert.equal(p.query('q=' + 'x'.repeat(5000))!.length, 2048, 'long queries are cut')
})
