import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatErrors, closest, type ConfigError } from '../../../src/config/errors.js'

test('formatErrors prints one line per error, sorted by line then column', () => {
  const errs: ConfigError[] = [
    { file: 'p.yaml', path: 'routes[0].upstream', line: 9, column: 15, message: 'unknown upstream "user"', hint: 'did you mean "users"?' },
    { file: 'p.yaml', path: 'server.tiemouts', line: 3, column: 3, message: 'unknown key "tiemouts"' },
    { file: 'p.yaml', path: '', line: 1, column: 1, message: 'the document is empty' },
    { file: 'p.yaml', path: 'workers', line: 3, column: 1, message: 'must be "auto"' },
  ]
  assert.equal(
    formatErrors(errs),
    [
      'p.yaml:1:1  the document is empty',
      'p.yaml:3:1  workers: must be "auto"',
      'p.yaml:3:3  server.tiemouts: unknown key "tiemouts"',
      'p.yaml:9:15  routes[0].upstream: unknown upstream "user" (did you mean "users"?)',
    ].join('\n'),
  )
  assert.equal(errs[0]!.line, 9, 'the input array is not reordered')
})

test('closest finds typos and prefixes, and nothing for unrelated words', () => {
  const keys = ['timeouts', 'targets', 'balancer', 'max_connections']
  assert.equal(closest('tiemouts', keys), 'timeouts')
  assert.equal(closest('Balancer', keys), 'balancer')
  assert.equal(closest('max_conn', keys), 'max_connections')
  assert.equal(closest('zzzz', keys), undefined)
})
