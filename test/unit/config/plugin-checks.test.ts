// The plugin contract's `check` hook: a plugin's document-level rules run inside the validator, so
// their errors carry file, YAML path and line:column like every other mistake, for built-ins
// (rate-limit, aggregate) and for a definition the validator has never heard of.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { loadConfigText } from '../../../src/config/load.js'
import { documentChecks } from '../../../src/snapshot/document-checks.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { BUILTIN_PLUGINS } from '../../../src/plugins/registry.js'
import { definePlugin } from '../../../src/plugins/contract.js'

const head = 'upstreams:\n  users: { targets: [{ url: "http://127.0.0.1:9" }] }\nroutes:\n  - name: r\n    paths: [/r]\n    upstream: users\n    plugins:\n'

test('rate-limit policy redis without store.redis: refused at the policy, with line:column', () => {
  const r = loadConfigText(head + '      - name: rate-limit\n        config: { policy: redis, limits: [{ limit: 5, window: 1s }] }\n', 'p.yaml', { checks: INSTALLED_CHECKS, env: {} })
  assert.equal(r.ok, false)
  const e = !r.ok ? r.errors.find((x) => x.path === 'routes[0].plugins[0].config.policy') : undefined
  assert.ok(e, JSON.stringify(!r.ok && r.errors))
  assert.match(e.message, /needs store\.redis/)
  assert.equal(e.line, 9)
})

test('aggregate backend naming an unknown upstream: refused with a did-you-mean; a ${...} value is not echoed', () => {
  const use = (name: string) => `      - name: aggregate\n        config: { backends: [{ name: a, upstream: ${name}, path: /x }] }\n`
  const r = loadConfigText(head + use('user'), 'p.yaml', { checks: INSTALLED_CHECKS, env: {} })
  assert.equal(r.ok, false)
  const e = !r.ok ? r.errors.find((x) => x.path === 'routes[0].plugins[0].config.backends[0].upstream') : undefined
  assert.ok(e, JSON.stringify(!r.ok && r.errors))
  assert.equal(e.message, 'unknown upstream "user"')
  assert.match(e.hint ?? '', /users/)
  const hidden = loadConfigText(head + use('"${UP}"'), 'p.yaml', { checks: INSTALLED_CHECKS, env: { UP: 'secret-name' } })
  assert.equal(hidden.ok, false)
  assert.ok(!hidden.ok && hidden.errors.every((x) => !x.message.includes('secret-name')), JSON.stringify(!hidden.ok && hidden.errors))
  assert.equal(loadConfigText(head + use('users'), 'p.yaml', { checks: INSTALLED_CHECKS, env: {} }).ok, true)
})

test('a plugin the validator does not know brings its own check; disabled uses and schema failures skip it', () => {
  const seen: unknown[] = []
  const quota = definePlugin({
    name: 'quota',
    phases: ['access'],
    priority: 1,
    schema: Type.Object({ tier: Type.String() }, { additionalProperties: false }),
    status: 'experimental',
    check(config, ctx) {
      seen.push(config.tier)
      return config.tier === 'gold' && !ctx.sharedStore ? [{ path: ['tier'], message: 'tier gold needs store.redis', hint: 'use tier silver' }] : []
    },
    create: () => ({}),
  })
  const checks = documentChecks(new Map([...BUILTIN_PLUGINS, ['quota', quota]]))
  const r = loadConfigText(head + '      - name: quota\n        config: { tier: gold }\n', 'p.yaml', { checks, env: {} })
  assert.equal(r.ok, false)
  const e = !r.ok ? r.errors.find((x) => x.path === 'routes[0].plugins[0].config.tier') : undefined
  assert.equal(e?.message, 'tier gold needs store.redis')
  assert.equal(e?.hint, 'use tier silver')
  assert.equal(e?.line, 9)
  assert.equal(loadConfigText(head + '      - name: quota\n        enabled: false\n        config: { tier: gold }\n', 'p.yaml', { checks, env: {} }).ok, true)
  const bad = loadConfigText(head + '      - name: quota\n        config: { tier: 7 }\n', 'p.yaml', { checks, env: {} })
  assert.equal(bad.ok, false, 'the schema still refuses')
  assert.deepEqual(seen, ['gold'], 'check ran once: not for the disabled use, not after a schema failure')
})
