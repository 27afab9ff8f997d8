// cors with origins ["*"] and credentials: true is refused with a message that says what is wrong
// and why, not Ajv's "must match "then" schema" / "must NOT be valid".
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { formatErrors } from '../../../src/config/errors.js'

test('cors "*" + credentials explains itself', () => {
  const r = loadConfigText(
    `upstreams: { u: { targets: [ { url: http://127.0.0.1:9001 } ] } }
routes: [ { name: r, paths: [/x], upstream: u, plugins: [ { name: cors, config: { origins: ["*"], credentials: true } } ] } ]
`,
    'c.yaml',
    { checks: INSTALLED_CHECKS },
  )
  assert.equal(r.ok, false)
  const text = r.ok ? '' : formatErrors(r.errors)
  assert.doesNotMatch(text, /must match "then" schema/)
  assert.doesNotMatch(text, /must NOT be valid/)
  assert.match(text, /origins\[0\]/)
  assert.match(text, /cannot be combined with credentials: true/)
})
