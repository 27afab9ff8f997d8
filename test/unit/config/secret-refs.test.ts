// ${env:NAME} and ${file:/path} references in config values: resolved by the loader, the file's
// trailing newline dropped, a missing file an error naming the path, and no resolved value ever
// quoted in a message. The admin API's redaction shows references as they are (they name, not hold).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfigText, formatErrors } from '../../../src/config/index.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { redact } from '../../../src/control/admin/redact.js'

const UPSTREAMS = 'upstreams:\n  users:\n    targets: [{ url: "http://127.0.0.1:8081" }]\n'
const SECRET = 'file-secret-value-0123456789'

describe('secret references', () => {
  let dir: string
  let file: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-secret-ref-'))
    file = join(dir, 'token')
    await writeFile(file, `${SECRET}\n`, { mode: 0o600 })
  })
  after(() => rm(dir, { recursive: true, force: true }))

  const doc = (token: string, upstream = 'users') => `${UPSTREAMS}admin: { token: "${token}" }\nroutes:\n  - name: a\n    paths: [/a]\n    upstream: ${upstream}\n`

  test('${file:/path} resolves to the content without its trailing newline', () => {
    const r = loadConfigText(doc(`\${file:${file}}`), 'c.yaml', { checks: INSTALLED_CHECKS })
    assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
    assert.equal(r.config.admin?.token, SECRET)
  })

  test('${env:NAME} is ${NAME}, defaults included', () => {
    const r = loadConfigText(doc('${env:PORTICO_T_TOKEN}'), 'c.yaml', { checks: INSTALLED_CHECKS, env: { PORTICO_T_TOKEN: 'env-value' } })
    assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
    assert.equal(r.config.admin?.token, 'env-value')
    const d = loadConfigText(doc('${env:PORTICO_T_UNSET:-fallback}'), 'c.yaml', { checks: INSTALLED_CHECKS, env: {} })
    assert.ok(d.ok)
    assert.equal(d.config.admin?.token, 'fallback')
    const missing = loadConfigText(doc('${env:PORTICO_T_UNSET}'), 'c.yaml', { checks: INSTALLED_CHECKS, env: {} })
    assert.ok(!missing.ok)
    assert.match(formatErrors(missing.errors), /environment variable "PORTICO_T_UNSET" is not set/)
  })

  test('a missing secret file is an error at the value naming the path', () => {
    const gone = join(dir, 'nope')
    const r = loadConfigText(doc(`\${file:${gone}}`), 'c.yaml', { checks: INSTALLED_CHECKS })
    assert.ok(!r.ok)
    const e = r.errors.find((x) => x.path === 'admin.token')
    assert.ok(e, formatErrors(r.errors))
    assert.match(e.message, /secret file ".*nope" cannot be read \(ENOENT\)/)
    // A relative path is relative to the config file.
    const rel = loadConfigText(doc('${file:token}'), join(dir, 'c.yaml'), { checks: INSTALLED_CHECKS })
    assert.ok(rel.ok, rel.ok ? '' : formatErrors(rel.errors))
    assert.equal(rel.config.admin?.token, SECRET)
  })

  test('a resolved value is never quoted back in a message', () => {
    const name = join(dir, 'upstream-name')
    return writeFile(name, 'private-upstream-name').then(() => {
      const r = loadConfigText(doc('x', `"\${file:${name}}"`), 'c.yaml', { checks: INSTALLED_CHECKS })
      assert.ok(!r.ok)
      const text = formatErrors(r.errors)
      assert.match(text, /routes\[0\]\.upstream/)
      assert.ok(!text.includes('private-upstream-name'), text)
    })
  })

  test('redaction shows pure references as written and hides inline secrets', () => {
    const shown = redact({ admin: { token: `\${file:${file}}` }, consumers: [{ name: 'c', credentials: { key_auth: ['${env:KEY}', 'inline-key'] } }] })
    assert.equal(shown.admin.token, `\${file:${file}}`)
    assert.deepEqual(shown.consumers[0]!.credentials.key_auth, ['${env:KEY}', '[REDACTED]'])
  })
})
