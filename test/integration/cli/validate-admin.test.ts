// `portico validate` is exactly as strict as `start` about the admin listener: one shared rule
// (config/admin-rule.ts). Each case is checked both ways — the validator's verdict and the
// primary's resolveAdminListen — and the CLI is run once for the case that used to slip through.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfigText } from '../../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { resolveAdminListen } from '../../../src/control/admin/server.js'
import { runCli } from '../../helpers/gateway.js'

const BASE = `server: { listen: 127.0.0.1:8080 }
upstreams: { u: { targets: [ { url: http://127.0.0.1:9001 } ] } }
routes: [ { name: r, paths: [/x], upstream: u } ]
`
const CASES: Array<[string, boolean]> = [
  ['', true],
  ['admin: { listen: 127.0.0.1:9180 }', true],
  ['admin: { listen: "9180" }', true],
  ['admin: { listen: "[::1]:9180" }', true],
  ['admin: { listen: localhost:9180 }', true],
  ['admin: { listen: 0.0.0.0:9180 }', false],
  ['admin: { listen: "[::]:9180" }', false],
  ['admin: { listen: 10.1.2.3:9180 }', false],
  ['admin: { listen: 0.0.0.0:9180, token: "" }', false],
  ['admin: { listen: 0.0.0.0:9180, token: s3cr3t-token }', true],
  // Hashed role tokens protect the listener as admin.token does; an empty list does not.
  [`admin: { listen: 0.0.0.0:9180, tokens: [ { name: ops, role: admin, sha256: ${'a'.repeat(64)} } ] }`, true],
  ['admin: { listen: 0.0.0.0:9180, tokens: [] }', false],
]

test('validate and start agree on every admin listener case', () => {
  for (const [admin, ok] of CASES) {
    const r = loadConfigText(BASE + admin + '\n', 'admin.yaml', { checks: INSTALLED_CHECKS })
    assert.equal(r.ok, ok, `validate on "${admin}": ${r.ok ? 'accepted' : JSON.stringify(r.errors)}`)
    const doc = (r.ok ? r.config : undefined) as { admin?: { listen?: string; token?: string; tokens?: unknown[] } } | undefined
    let starts = true
    try {
      const a = /listen: ("?)([^",}]+)\1/.exec(admin)?.[2]
      const t = /token: "?([^",}]*)"?/.exec(admin)?.[1]
      resolveAdminListen(doc?.admin?.listen ?? a, doc?.admin?.token ?? t, (doc?.admin?.tokens?.length ?? (/tokens: \[ \{/.test(admin) ? 1 : 0)) > 0)
    } catch {
      starts = false
    }
    assert.equal(starts, ok, `start on "${admin}"`)
  }
})

test('portico validate refuses 0.0.0.0 without a token, naming admin.listen and the fix', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-admin-'))
  try {
    const file = join(dir, 'p.yaml')
    await writeFile(file, BASE + 'admin: { listen: 0.0.0.0:9180 }\n')
    const r = await runCli(['validate', '-c', file])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stderr, /admin\.listen/)
    assert.match(r.stderr, /admin\.token/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
