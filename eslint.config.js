// Flat config: typescript-eslint's recommended rules plus the house rules from
// shared/design/style.md. Every rule switched off carries its reason.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// Folder floors (docs/architecture.md): imports point down only, and folders on one floor do not
// import each other. Each folder may import the floors below it; everything else is an error.
const FLOORS = [
  ['cli', 'testing'],
  ['control'],
  ['dataplane'],
  ['proxy'],
  ['snapshot'],
  ['router', 'plugins', 'upstream', 'tls'],
  ['config', 'state', 'observability'],
  ['core'],
]
const floorRules = FLOORS.flatMap((floor, level) =>
  floor.map((folder) => {
    const forbidden = FLOORS.slice(0, level + 1)
      .flat()
      .filter((f) => f !== folder)
    // core may name observability's types (RequestContext carries the request's trace).
    const typeOnly = folder === 'core' ? ['observability'] : []
    const group = (names, allowTypeImports) => ({
      regex: `^(\\.\\./)+(${names.join('|')})(/|\\.js$)`,
      allowTypeImports,
      message: `src/${folder} sits below ${names.join(', ')}: imports point down (docs/architecture.md, "Folders and floors").`,
    })
    const patterns = [group(forbidden.filter((f) => !typeOnly.includes(f)), false)]
    if (typeOnly.length > 0) patterns.push(group(typeOnly, true))
    return {
      files: [`src/${folder}/**/*.ts`],
      rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] },
    }
  }),
)

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', AbortController: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', queueMicrotask: 'readonly' } },
    rules: {
      // Unused function arguments are named with a leading underscore when a signature needs them.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'prefer-const': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      // Every outbound call from the gateway goes through undici pools (timeouts, limits, metrics).
      'no-restricted-globals': ['error', { name: 'fetch', message: 'use undici through src/upstream' }],
      'no-console': 'error',
    },
  },
  ...floorRules,
)
