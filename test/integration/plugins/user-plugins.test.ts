// User plugins (PORTICO_PLUGINS) as an operator runs them: `portico validate` and `portico start`
// with cluster workers, the example plugin of examples/plugins, a TypeScript plugin file, and the
// ways a plugin module can be wrong (each refused at start with the module and the reason) or fail
// at run time (a 500 plugin_error, a logged rejection; the workers keep serving).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join, resolve } from 'node:path'
import { request } from 'undici'
import { stringify } from 'yaml'
import { runCli, startGateway, type Gateway } from '../../helpers/gateway.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'

const EXAMPLE = resolve(import.meta.dirname, '../../../examples/plugins/api-version')

// Plugins written as plain modules (no import of the package: they live in a temp dir), with JSON
// Schema instead of TypeBox, which the contract accepts too.
const FIXTURES: Record<string, string> = {
  'always-throws.mjs': `export default { name: 'always-throws', phases: ['access'], priority: 1, status: 'experimental',
    schema: { type: 'object', additionalProperties: false },
    create: () => ({ access() { throw new Error('boom from a user plugin') } }) }`,
  'rejects-later.mjs': `export default { name: 'rejects-later', phases: ['access'], priority: 1, status: 'experimental',
    schema: { type: 'object', additionalProperties: false },
    create: () => ({ access() { void Promise.reject(new Error('forgotten rejection')); return undefined } }) }`,
  'create-throws.mjs': `export default { name: 'create-throws', phases: ['access'], priority: 1, status: 'experimental',
    schema: { type: 'object', additionalProperties: false },
    create() { throw new Error('cannot create') } }`,
  // TypeScript, loaded as is (tsx) by the compiled gateway.
  'ts-header.ts': `interface Cfg { value: string }
    const plugin = { name: 'ts-header', phases: ['response'] as const, priority: 1, status: 'beta' as const,
      schema: { type: 'object', properties: { value: { type: 'string' } }, required: ['value'], additionalProperties: false },
      create: (config: Cfg) => ({ response(_ctx: unknown, head: { headers: Record<string, string> }): void { head.headers['x-ts-plugin'] = config.value } }) }
    export default [plugin]`,
  'no-default.mjs': `export const plugin2 = 1`,
  'clashes.mjs': `export default { name: 'cors', phases: ['access'], priority: 1, status: 'beta', schema: {}, create: () => ({}) }`,
  'bad-phase.mjs': `export default { name: 'bad-phase', phases: ['access', 'teardown'], priority: 1, status: 'beta', schema: {}, create: () => ({}) }`,
  'import-fails.mjs': `throw new Error('top-level failure in the module')`,
}

describe('user plugins (PORTICO_PLUGINS)', () => {
  let dir: string
  let origin: Origin
  const fixture = (name: string) => join(dir, name)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-user-plugins-'))
    for (const [name, text] of Object.entries(FIXTURES)) await writeFile(join(dir, name), text)
    origin = await startOrigin()
  })
  after(async () => {
    await origin?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const document = (): { upstreams: Record<string, unknown>; routes: Array<{ name: string; paths: string[]; upstream: string; plugins: Array<{ name: string; config?: Record<string, unknown> }> }> } => ({
    upstreams: { app: { targets: [{ url: origin.url }] } },
    routes: [
      { name: 'versioned', paths: ['/users/*'], upstream: 'app', plugins: [{ name: 'api-version', config: { supported: ['1', '2'] } }] },
      { name: 'boom', paths: ['/boom'], upstream: 'app', plugins: [{ name: 'always-throws' }] },
      { name: 'late', paths: ['/late'], upstream: 'app', plugins: [{ name: 'rejects-later' }] },
      { name: 'typed', paths: ['/typed'], upstream: 'app', plugins: [{ name: 'ts-header', config: { value: 'from-ts' } }] },
    ],
  })
  const allPlugins = () => [EXAMPLE, fixture('always-throws.mjs'), fixture('rejects-later.mjs'), fixture('create-throws.mjs'), fixture('ts-header.ts')].join(delimiter)

  test('portico validate checks a user plugin config like a built-in one, and names unknown ones without it', async () => {
    const file = join(dir, 'ok.yaml')
    await writeFile(file, stringify({ server: { listen: '127.0.0.1:8080' }, ...document() }))
    const bad = join(dir, 'bad.yaml')
    const doc = document()
    doc.routes[0]!.plugins[0]!.config = { supported: ['1'], header: 7 }
    await writeFile(bad, stringify({ server: { listen: '127.0.0.1:8080' }, ...doc }))
    const [ok, invalid, without] = await Promise.all([
      runCli(['validate', '-c', file], { env: { PORTICO_PLUGINS: allPlugins() } }),
      runCli(['validate', '-c', bad], { env: { PORTICO_PLUGINS: allPlugins() } }),
      runCli(['validate', '-c', file], { env: { PORTICO_PLUGINS: '' } }),
    ])
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /OK \(4 routes/)
    assert.match(ok.stdout, /user plugins loaded \(PORTICO_PLUGINS\): api-version, always-throws, rejects-later, create-throws, ts-header/)
    assert.equal(invalid.code, 1)
    assert.match(invalid.stderr, /routes\[0\]\.plugins\[0\]\.config\.header/)
    assert.match(invalid.stderr, /bad\.yaml:\d+:\d+/)
    assert.equal(without.code, 1)
    assert.match(without.stderr, /api-version/)
    assert.match(without.stderr, /known plugins/)
  })

  test('a plugin module that is wrong stops validate and start with the module and the reason, no stack trace', async () => {
    const file = join(dir, 'min.yaml')
    await writeFile(file, stringify({ server: { listen: '127.0.0.1:8080' }, routes: [] }))
    const cases: Array<[string, RegExp]> = [
      [fixture('no-default.mjs'), /no-default\.mjs has no default export/],
      [fixture('clashes.mjs'), /"cors" is the name of a built-in plugin/],
      [fixture('bad-phase.mjs'), /bad-phase: phases must be a non-empty subset of rewrite, access/],
      [fixture('import-fails.mjs'), /importing .*import-fails\.mjs failed: top-level failure in the module/],
      [fixture('missing.mjs'), /missing\.mjs does not exist/],
      ['portico-plugin-not-installed', /no package of that name under node_modules/],
      [[EXAMPLE, EXAMPLE].join(delimiter), /"api-version" is already defined by/],
    ]
    const results = await Promise.all(cases.map(([spec]) => runCli(['validate', '-c', file], { env: { PORTICO_PLUGINS: spec } })))
    results.forEach((r, i) => {
      const [spec, pattern] = cases[i]!
      assert.equal(r.code, 1, `${spec}: ${r.stdout}${r.stderr}`)
      assert.match(r.stderr, /^portico: plugin /m, spec)
      assert.match(r.stderr, pattern, spec)
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${spec}: no stack trace`)
    })
    // `start` refuses the same way before anything listens.
    const started = await runCli(['start', '-c', file, '--no-cluster'], { env: { PORTICO_PLUGINS: fixture('clashes.mjs') } })
    assert.equal(started.code, 1)
    assert.match(started.stderr, /"cors" is the name of a built-in plugin/)
  })

  describe('in a running gateway with workers', () => {
    let gw: Gateway
    before(async () => {
      gw = await startGateway({ config: document(), args: ['--workers', '2'], env: { PORTICO_PLUGINS: allPlugins() } })
    })
    after(async () => {
      await gw?.stop()
    })

    const get = async (path: string, headers: Record<string, string> = {}) => {
      const res = await request(`${gw.url}${path}`, { headers })
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
    }

    test('the example plugin and a TypeScript plugin run in every worker', async () => {
      for (let i = 0; i < 6; i++) {
        const r = await get('/users/7', { 'accept-version': '2' })
        assert.equal(r.status, 200, r.body)
        assert.equal(r.headers['api-version'], '2')
        assert.equal((JSON.parse(r.body) as { url: string }).url, '/v2/users/7')
      }
      const refused = await get('/users/7', { 'accept-version': '3' })
      assert.equal(refused.status, 400)
      assert.equal((JSON.parse(refused.body) as { error: string }).error, 'bad_request')
      const typed = await get('/typed')
      assert.equal(typed.status, 200)
      assert.equal(typed.headers['x-ts-plugin'], 'from-ts')
    })

    test('a plugin that throws answers 500 plugin_error, a forgotten rejection is logged, and no worker dies', async () => {
      const boom = await get('/boom')
      assert.equal(boom.status, 500)
      const body = JSON.parse(boom.body) as { error: string; message: string }
      assert.equal(body.error, 'plugin_error')
      assert.doesNotMatch(body.message, /boom from a user plugin/, 'the exception text is for the log, not the client')
      for (let i = 0; i < 4; i++) assert.equal((await get('/late')).status, 200)
      await gw.waitForOutput(/unhandled promise rejection/)
      for (let i = 0; i < 6; i++) assert.equal((await get('/users/1', { 'accept-version': '1' })).status, 200)
      assert.doesNotMatch(gw.stderr() + gw.stdout(), /worker died unexpectedly/)
    })

    test('a reload naming a plugin whose create() throws is refused; the old config keeps serving', async () => {
      const doc = document()
      doc.routes.push({ name: 'broken', paths: ['/broken'], upstream: 'app', plugins: [{ name: 'create-throws' }] })
      await gw.writeConfig(gw.document(doc))
      await pollUntil(async () => /cannot create/.test(gw.stdout() + gw.stderr()), { timeoutMs: 60_000, what: 'the reload to be refused' })
      assert.equal((await get('/broken')).status, 404)
      assert.equal((await get('/users/1', { 'accept-version': '1' })).status, 200)
    })
  })
})
