import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { Type } from '@sinclair/typebox'
import { loadConfigFile, loadConfigText, formatErrors, type ConfigError, type LoadResult } from '../../../src/config/index.js'
import { Duration } from '../../../src/config/schema/index.js'
import { BUILTIN_PLUGINS } from '../../../src/plugins/registry.js'
import { definePlugin, type PluginDefinition } from '../../../src/plugins/contract.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { documentChecks } from '../../../src/snapshot/document-checks.js'

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/config/${name}`, import.meta.url))

function errorsOf(r: LoadResult): ConfigError[] {
  assert.equal(r.ok, false, 'expected the config to be rejected')
  return r.ok ? [] : r.errors
}

function only(r: LoadResult, path: string): ConfigError {
  const errs = errorsOf(r).filter((e) => e.path === path)
  assert.equal(errs.length, 1, `expected one error at ${path}, got:\n${formatErrors(errorsOf(r))}`)
  return errs[0]!
}

const UPSTREAMS = 'upstreams:\n  users:\n    targets: [{ url: "http://127.0.0.1:8081" }]\n'

describe('loadConfigFile', () => {
  test('accepts a minimal valid file and hashes it', async () => {
    const r = await loadConfigFile(fixture('minimal.yaml'), { checks: INSTALLED_CHECKS })
    assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
    assert.equal(r.config.routes[0]?.upstream, 'users')
    assert.match(r.hash, /^[0-9a-f]{64}$/)
    assert.equal(r.file, fixture('minimal.yaml'))
  })

  test('reports a YAML syntax error with its line and column', async () => {
    const file = fixture('syntax-error.yaml')
    const errs = errorsOf(await loadConfigFile(file, { checks: INSTALLED_CHECKS }))
    assert.ok(errs.length >= 1)
    const e = errs[0]!
    assert.equal(e.path, '')
    assert.equal(e.file, file)
    // The unclosed `[` opens on line 3; the parser notices it only on line 4.
    assert.deepEqual([e.line, e.column], [3, 14])
    assert.match(e.hint ?? '', /flow sequence "\[" that starts here is not closed; noticed at line 4/)
  })

  test('an unclosed quote is reported where it opens, not at the end of the file', () => {
    const errs = errorsOf(loadConfigText(`server:\n  listen: "127.0.0.1:8080\nupstreams: {}\nroutes: []\n`, 'q.yaml', { checks: INSTALLED_CHECKS }))
    assert.deepEqual([errs[0]!.line, errs[0]!.column], [2, 11])
    assert.match(errs[0]!.hint ?? '', /quoted string that starts here is not closed/)
  })

  test('reports an unknown key at the key, with a did-you-mean hint', async () => {
    const e = only(await loadConfigFile(fixture('unknown-key.yaml'), { checks: INSTALLED_CHECKS }), 'upstreams.users.tiemouts')
    assert.equal(e.message, 'unknown key "tiemouts"')
    assert.equal(e.hint, 'did you mean "timeouts"?')
    assert.deepEqual([e.line, e.column], [5, 5])
  })

  test('lists the allowed keys when no key is close', () => {
    const e = only(loadConfigText(`${UPSTREAMS}routes: []\nserver: { zzzzzz: 1 }\n`, 'c.yaml', { checks: INSTALLED_CHECKS }), 'server.zzzzzz')
    assert.match(e.hint ?? '', /^allowed: .*listen/)
  })

  test('reports every error in a file at once, in line order', async () => {
    const file = fixture('many-errors.yaml')
    const errs = errorsOf(await loadConfigFile(file, { checks: INSTALLED_CHECKS }))
    const paths = errs.map((e) => e.path)
    for (const p of [
      'server.tiemouts',
      'server.header_timeout',
      'server.trusted_proxies[1]',
      'server.trusted_proxies[2]',
      'workers',
      'log.level',
      'upstreams.users.targets[0].url',
      'upstreams.users.balancer',
      'upstreams.users.timeouts.total',
      'upstreams["bad name"]',
      'routes[0].hosts[2]',
      'routes[0].paths[1]',
      'routes[0].paths[2]',
      'routes[0].upstream',
      'routes[0].rewrite.pattern',
      'routes[0].strip_prefix',
      'routes[0].plugins[0].name',
      'routes[1].name',
      'routes[1].methods[0]',
      'routes[2]',
    ]) {
      assert.ok(paths.includes(p), `missing error at ${p}; got:\n${formatErrors(errs)}`)
    }
    const lines = errs.map((e) => e.line)
    assert.deepEqual(lines, [...lines].sort((a, b) => a - b))
    // One line per error, each starting with file:line:col.
    const text = formatErrors(errs).split('\n')
    assert.equal(text.length, errs.length)
    assert.ok(text.every((l) => l.startsWith(`${file}:`)))
    assert.ok(text.includes(`${file}:6:10  workers: must be "auto" or an integer from 1 to 256`), formatErrors(errs))
    // A disabled global plugin without config is only a switch: nothing to validate.
    assert.ok(!paths.some((p) => p.startsWith('plugins[')))
  })

  test('reports a missing upstream reference with a hint', () => {
    const r = loadConfigText(`${UPSTREAMS}routes:\n  - name: a\n    paths: [/a]\n    upstream: user\n`, 'c.yaml', { checks: INSTALLED_CHECKS })
    const e = only(r, 'routes[0].upstream')
    assert.equal(e.message, 'unknown upstream "user"')
    assert.equal(e.hint, 'did you mean "users"?')
    assert.deepEqual([e.line, e.column], [7, 15])
  })

  test('reports a duplicate route name at the second use, naming the first line', () => {
    const text = `${UPSTREAMS}routes:\n  - name: a\n    paths: [/a]\n    upstream: users\n  - name: a\n    paths: [/b]\n    upstream: users\n`
    const e = only(loadConfigText(text, 'c.yaml', { checks: INSTALLED_CHECKS }), 'routes[1].name')
    assert.equal(e.message, 'duplicate route name "a" (first defined at line 5)')
    assert.equal(e.line, 8)
  })

  test('reports an unknown plugin with a hint', () => {
    const text = `${UPSTREAMS}routes: []\nplugins:\n  - name: corss\n`
    const e = only(loadConfigText(text, 'c.yaml', { checks: INSTALLED_CHECKS }), 'plugins[0].name')
    assert.equal(e.message, 'unknown plugin "corss"')
    assert.equal(e.hint, 'did you mean "cors"?')
    assert.deepEqual([e.line, e.column], [6, 11])
  })

  test('reports a bad duration once, with the expected forms, in a JSON file', async () => {
    const errs = errorsOf(await loadConfigFile(fixture('bad-duration.json'), { checks: INSTALLED_CHECKS }))
    assert.equal(errs.length, 1, formatErrors(errs))
    const e = errs[0]!
    assert.equal(e.path, 'routes[0].timeouts.read')
    assert.equal(e.message, 'must be a duration like 250ms, 2s, 5m or integer milliseconds')
    assert.deepEqual([e.line, e.column], [6, 86])
  })

  test('refuses a file it cannot read with the OS message', async () => {
    const errs = errorsOf(await loadConfigFile(fixture('does-not-exist.yaml'), { checks: INSTALLED_CHECKS }))
    assert.equal(errs.length, 1)
    assert.match(errs[0]!.message, /ENOENT/)
    assert.equal(errs[0]!.line, 0)
  })

  test('accepts anchors and merge keys, and points errors at the overriding key', () => {
    const text = [
      'upstreams:',
      '  a: &defaults',
      '    targets: [{ url: "http://127.0.0.1:8081" }]',
      '    timeouts: { connect: 2s }',
      '  b:',
      '    <<: *defaults',
      '    max_connections: 0',
      'routes: [{ name: r, paths: [/r], upstream: b }]',
    ].join('\n')
    const errs = errorsOf(loadConfigText(text, 'c.yaml', { checks: INSTALLED_CHECKS }))
    assert.deepEqual(
      errs.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`),
      ['7:22 upstreams.b.max_connections: must be >= 1'],
    )
    const ok = loadConfigText(text.replace('max_connections: 0', 'max_connections: 8'), 'c.yaml', { checks: INSTALLED_CHECKS })
    assert.ok(ok.ok, ok.ok ? '' : formatErrors(ok.errors))
    assert.deepEqual(ok.config.upstreams.b?.timeouts, { connect: '2s' })
  })

  test('refuses an empty document', () => {
    const errs = errorsOf(loadConfigText('# nothing here\n', 'c.yaml', { checks: INSTALLED_CHECKS }))
    assert.equal(errs[0]?.message, 'the document is empty')
  })
})

describe('plugin configs', () => {
  // A stand-in plugin whose schema is known here, so the test does not depend on how the
  // built-in plugins' schemas evolve.
  const probe = definePlugin({
    name: 'config-probe',
    phases: ['access'],
    priority: 0,
    status: 'experimental',
    schema: Type.Object(
      {
        limit: Type.Integer({ minimum: 1, default: 10 }),
        window: Duration('Window.', '1s'),
        mode: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
      },
      { additionalProperties: false },
    ),
    create: () => ({}),
  }) as unknown as PluginDefinition
  // Installed beside the built-ins, as a user plugin is (never by changing the shared map).
  const checks = documentChecks(new Map([...BUILTIN_PLUGINS, [probe.name, probe]]))

  const withPlugin = (use: string): string =>
    `${UPSTREAMS}routes:\n  - name: a\n    paths: [/a]\n    upstream: users\n    plugins:\n${use}`

  test('errors are pathed into the plugin config', () => {
    const r = loadConfigText(withPlugin('      - name: config-probe\n        config:\n          limit: 0\n          windw: 5s\n          mode: shut\n'), 'c.yaml', { checks })
    const errs = errorsOf(r)
    assert.deepEqual(
      errs.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}${e.hint ? ` (${e.hint})` : ''}`),
      [
        '11:18 routes[0].plugins[0].config.limit: must be >= 1',
        '12:11 routes[0].plugins[0].config.windw: unknown key "windw" (did you mean "window"?)',
        '13:17 routes[0].plugins[0].config.mode: must be one of "open", "closed"',
      ],
    )
  })

  test('defaults are applied so create() gets a complete config', () => {
    const r = loadConfigText(withPlugin('      - name: config-probe\n'), 'c.yaml', { checks })
    assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
    assert.deepEqual(r.config.routes[0]?.plugins?.[0]?.config, { limit: 10, window: '1s' })
  })

  test('config of a built-in plugin is checked against its schema', () => {
    const r = loadConfigText(withPlugin('      - name: headers\n        config: { no_such_option_anywhere: 1 }\n'), 'c.yaml', { checks })
    const e = only(r, 'routes[0].plugins[0].config.no_such_option_anywhere')
    assert.equal(e.message, 'unknown key "no_such_option_anywhere"')
  })
})

describe('environment interpolation', () => {
  const file = fixture('env.yaml')

  test('substitutes set variables and defaults, and keeps $${ literal', async () => {
    const r = await loadConfigFile(file, { checks: INSTALLED_CHECKS, env: { PORTICO_TEST_TOKEN: 's3cret-value' } })
    assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors))
    assert.equal(r.config.admin?.token, 's3cret-value')
    assert.equal(r.config.upstreams.users?.targets?.[0]?.url, 'http://127.0.0.1:8081')
    assert.equal(r.config.routes[0]?.headers?.['x-template'], '${not_a_var}')
    const other = await loadConfigFile(file, { checks: INSTALLED_CHECKS, env: { PORTICO_TEST_TOKEN: 's3cret-value', PORTICO_TEST_HOST: '10.1.2.3' } })
    assert.ok(other.ok)
    assert.equal(other.config.upstreams.users?.targets?.[0]?.url, 'http://10.1.2.3:8081')
  })

  test('an unset variable is an error naming it, and no value leaks', async () => {
    const r = await loadConfigFile(file, { checks: INSTALLED_CHECKS, env: { PORTICO_TEST_HOST: 'host-value-do-not-print' } })
    const e = only(r, 'admin.token')
    assert.equal(e.message, 'environment variable "PORTICO_TEST_TOKEN" is not set')
    assert.deepEqual([e.line, e.column], [2, 10])
    assert.ok(!formatErrors(errorsOf(r)).includes('host-value-do-not-print'))
  })

  test('values from the environment are not quoted back in messages', () => {
    const r = loadConfigText(`${UPSTREAMS}routes:\n  - name: a\n    paths: [/a]\n    upstream: \${UP}\n`, 'c.yaml', { checks: INSTALLED_CHECKS, env: { UP: 'private-name' } })
    const e = only(r, 'routes[0].upstream')
    assert.ok(!formatErrors([e]).includes('private-name'), formatErrors([e]))
  })

  test('a malformed reference is an error', () => {
    const e = only(loadConfigText(`${UPSTREAMS}routes: []\nadmin: { token: "\${oops" }\n`, 'c.yaml', { checks: INSTALLED_CHECKS, env: {} }), 'admin.token')
    assert.match(e.message, /malformed/)
  })
})

describe('hash', () => {
  test('is the same for the same content in another format, and differs for other content', async () => {
    const yaml = await loadConfigFile(fixture('minimal.yaml'), { checks: INSTALLED_CHECKS })
    const json = await loadConfigFile(fixture('minimal.json'), { checks: INSTALLED_CHECKS })
    const flow = loadConfigText(
      '# same thing, flow style\nroutes: [{name: users, upstream: users, paths: ["/users"]}]\nupstreams: {users: {targets: [{url: "http://127.0.0.1:8081"}]}}\n',
      'flow.yaml', { checks: INSTALLED_CHECKS })
    const other = loadConfigText(`${UPSTREAMS}routes: [{name: users, upstream: users, paths: ["/other"]}]\n`, 'other.yaml', { checks: INSTALLED_CHECKS })
    assert.ok(yaml.ok && json.ok && flow.ok && other.ok)
    assert.equal(json.hash, yaml.hash)
    assert.equal(flow.hash, yaml.hash)
    assert.notEqual(other.hash, yaml.hash)
  })
})
