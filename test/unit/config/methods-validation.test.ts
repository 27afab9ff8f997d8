// Route methods are registered method names: a typo (GTE) is an error with a did-you-mean, not a
// route that silently never matches.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { formatErrors } from '../../../src/config/errors.js'

const doc = (methods: string) => `upstreams: { u: { targets: [ { url: http://127.0.0.1:9001 } ] } }
routes: [ { name: r, paths: [/x], upstream: u, methods: ${methods} } ]
`

test('methods: [GTE] is refused with "did you mean GET"', () => {
  const r = loadConfigText(doc('[GET, GTE]'), 'm.yaml', { checks: INSTALLED_CHECKS })
  assert.equal(r.ok, false)
  const text = r.ok ? '' : formatErrors(r.errors)
  assert.match(text, /routes\[0\]\.methods\[1\]/)
  assert.match(text, /unknown method "GTE"/)
  assert.match(text, /did you mean "GET"/)
})

test('registered methods pass', () => {
  assert.equal(loadConfigText(doc('[GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, PROPFIND]'), 'm.yaml', { checks: INSTALLED_CHECKS }).ok, true)
})
