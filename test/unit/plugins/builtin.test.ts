// The data plane's lazy plugin loading: the same plugins as the primary's registry, only those a
// config names, and a worker with no plugins that loads neither them nor TypeBox.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { BUILTIN_LOADERS, loadPlugins, pluginNamesIn } from '../../../src/plugins/builtin.js'
import { BUILTIN_PLUGINS } from '../../../src/plugins/registry.js'

test('every built-in loads, under its own name, once (the registry and a worker share the modules)', async () => {
  assert.equal(BUILTIN_PLUGINS.size, BUILTIN_LOADERS.size)
  const again = await loadPlugins(BUILTIN_LOADERS.keys())
  for (const [name, def] of BUILTIN_PLUGINS) {
    assert.equal(def.name, name)
    assert.equal(again.get(name), def, name)
  }
})

test('pluginNamesIn: global, route and consumer plugins, disabled uses included', () => {
  const config = {
    plugins: [{ name: 'cors' }],
    routes: [
      { name: 'a', paths: ['/a'], upstream: 'u', plugins: [{ name: 'jwt', config: { plugins: 'not a list of uses' } }, { name: 'cors', enabled: false }] },
      { name: 'b', paths: ['/b'], upstream: 'u' },
    ],
    consumers: [{ name: 'c', plugins: [{ name: 'rate-limit' }] }],
  }
  assert.deepEqual([...pluginNamesIn(config)].sort(), ['cors', 'jwt', 'rate-limit'])
  assert.equal(pluginNamesIn({ routes: [{ name: 'x' }] }).size, 0)
})

test('loadPlugins: only what is asked; unknown names are left to the compiler to report', async () => {
  assert.equal((await loadPlugins([])).size, 0)
  const some = await loadPlugins(['headers', 'no-such-plugin'])
  assert.deepEqual([...some.keys()], ['headers'])
})

test('a worker process loads no plugin module and no TypeBox until its config names a plugin', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/helpers/imported-modules.mjs', 'src/control/worker.ts'], { encoding: 'utf8' })
  const urls = out.trim().split('\n')
  assert.ok(urls.some((u) => u.endsWith('/src/proxy/handler.ts')), 'the helper saw the data plane load')
  // A plugin's own modules (index, schema) stay out; shared helpers such as the cache zone the
  // worker purges on the primary's request may load.
  const unwanted = urls.filter((u) => /@sinclair\/typebox|\/node_modules\/jose\/|\/src\/plugins\/[^/]+\/(index|schema)\.ts$|\/src\/config\/schema\//.test(u))
  assert.deepEqual(unwanted, [])
})
