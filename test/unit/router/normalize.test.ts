import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { normalizePath } from '../../../src/router/normalize.js'

describe('normalizePath', () => {
  test('returns the input string itself when there is nothing to normalize', () => {
    for (const p of ['/', '/a', '/api/v1/users/42', '/a-b_c~d/e.f', '/a;b=c', '/x/', '/a..b/c.']) {
      assert.equal(normalizePath(p), p)
    }
  })

  test('refuses targets that are not an absolute path', () => {
    for (const p of ['', '*', 'a/b', 'http://example.com/a']) assert.equal(normalizePath(p), undefined, p)
  })

  const table: Array<[string, string | undefined]> = [
    ['/a//b', '/a/b'],
    ['///', '/'],
    ['/a//', '/a/'],
    ['/a/./b', '/a/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/b/../', '/a/'],
    ['/..', '/'],
    ['/.', '/'],
    ['/../a', '/a'],
    ['/a/../../b', '/b'],
    ['/a/.../b', '/a/.../b'],
    ['/.well-known/x', '/.well-known/x'],
    ['/%7Euser', '/~user'],
    ['/%7euser', '/~user'],
    ['/%41%5a%30%2D%5F', '/AZ0-_'],
    ['/a%20b', '/a%20b'],
    ['/a%3a%3A', '/a%3A%3A'],
    ['/a%25', '/a%25'],
    ['/a%252e', '/a%252e'],
    ['/%2e', '/'],
    ['/a/%2e%2e', '/'],
    ['/a%ff', '/a%FF'],
    ['/a%7f', undefined],
    ['/a%1F', undefined],
    ['/a%5C', undefined],
    ['/a%2', undefined],
    ['/a b', undefined],
    ['/a\u007f', undefined],
    ['/a/.;x/b', undefined],
  ]
  for (const [raw, expected] of table) {
    test(`${JSON.stringify(raw)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(normalizePath(raw), expected)
    })
  }

  test('decoding never creates a new escape, so a second pass changes nothing', () => {
    for (const [raw] of table) {
      const once = normalizePath(raw)
      if (once !== undefined) assert.equal(normalizePath(once), once, raw)
    }
  })
})
