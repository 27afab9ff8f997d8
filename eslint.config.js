// Flat config: typescript-eslint's recommended rules plus the house rules from
// shared/design/style.md. Every rule switched off carries its reason.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

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
)
