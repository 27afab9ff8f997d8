// The console's build: ui/ → dist/ui/, served by the admin listener at /ui (src/control/admin/console.ts).
// The config schema's validators are compiled here, at build time, into plain JavaScript
// (Ajv standalone): the console's Content-Security-Policy has no 'unsafe-eval', so Ajv could not
// compile them in the browser.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import standalone from 'ajv/dist/standalone/index.js'
import { defineConfig, type Plugin } from 'vite'

const root = fileURLToPath(new URL('.', import.meta.url))
const schemaFile = fileURLToPath(new URL('../schema/portico.config.json', import.meta.url))
const builtinFile = fileURLToPath(new URL('../src/plugins/builtin.ts', import.meta.url))

/** The built-in plugins' names, from BUILTIN_LOADERS (the schema leaves a plugin's name free-form). */
function builtinPluginNames(): string[] {
  const src = readFileSync(builtinFile, 'utf8')
  const block = /BUILTIN_LOADERS[^=]*=\s*new Map[^[]*\(\[([\s\S]*?)\]\)/.exec(src)?.[1] ?? ''
  const names = [...block.matchAll(/\['([a-z0-9-]+)',/g)].map((m) => m[1]!)
  if (names.length === 0) throw new Error('no built-in plugin names found in src/plugins/builtin.ts (BUILTIN_LOADERS); update ui/vite.config.ts')
  return names.sort()
}

type Obj = Record<string, unknown>

/** The published schema's resource schemas: what the console's editor validates one resource against. */
function resourceSchemas(): Record<string, Obj> {
  const s = JSON.parse(readFileSync(schemaFile, 'utf8')) as { properties: Record<string, Obj> }
  const p = s.properties
  const items = (k: string) => p[k]!.items as Obj
  return {
    routes: items('routes'),
    upstreams: Object.values(p.upstreams!.patternProperties as Record<string, Obj>)[0]!,
    consumers: items('consumers'),
    plugins: items('plugins'),
  }
}

function validators(): Plugin {
  const id = 'virtual:validators'
  return {
    name: 'portico-validators',
    resolveId: (source) => (source === id ? `\0${id}` : null),
    load(loaded) {
      if (loaded !== `\0${id}`) return null
      this.addWatchFile(schemaFile)
      this.addWatchFile(builtinFile)
      const schemas = resourceSchemas()
      const ajv = new Ajv({ allErrors: true, code: { source: true, esm: true } })
      for (const [kind, schema] of Object.entries(schemas)) ajv.addSchema(schema, kind)
      // CommonJS: the function is the module's `default` when loaded from ESM at run time.
      const generate = (standalone as unknown as { default?: typeof standalone }).default ?? standalone
      const code = generate(ajv, Object.fromEntries(Object.keys(schemas).map((k) => [k, k])))
      // The one runtime helper the schema needs (string length in code points), inlined so the
      // bundle does not pull Ajv's CommonJS runtime in.
      const inlined = code.replace(/require\("ajv\/dist\/runtime\/ucs2length"\)\.default/g, '((s) => [...s].length)')
      if (/require\(/.test(inlined)) throw new Error('the generated validators need another Ajv runtime helper; inline it in ui/vite.config.ts')
      return `${inlined}\nexport const schemas = ${JSON.stringify(schemas)};\nexport const pluginNames = ${JSON.stringify(builtinPluginNames())};\n`
    },
  }
}

export default defineConfig({
  root,
  base: '/ui/',
  logLevel: 'warn',
  plugins: [validators()],
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui/', import.meta.url)),
    emptyOutDir: true,
    // No inline polyfill script: the CSP allows scripts from /ui/assets only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
    target: 'es2022',
  },
})
