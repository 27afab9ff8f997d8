// The config hash names a document's content in fleet records, /status and reload logs, and is
// compared across processes and versions: it must not change with how it is computed. The value
// below is what the first implementation (entries, filter, sort, map) gave for this document.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hashConfig } from '../../../src/config/load.js'

test('the config hash is the sha256 of canonical JSON, unchanged across implementations', () => {
  const doc = { z: 1, a: [1, undefined, { y: 'x', b: undefined, é: true, Z: null }], m: { '10': 1, '9': 2, 'a"b': 'q\n' }, e: {}, l: [] }
  assert.equal(hashConfig(doc), '8435d7983192a10e6fc82e526ba9f664ec713b070ed5d898ae70ceba36bacd8f')
})

test('key order and undefined members do not change the hash; values do', () => {
  assert.equal(hashConfig({ a: 1, b: [2, { c: 3, d: 4 }] }), hashConfig({ b: [2, { d: 4, c: 3, e: undefined }], a: 1 }))
  assert.notEqual(hashConfig({ a: 1 }), hashConfig({ a: 2 }))
  assert.notEqual(hashConfig({ a: [1, 2] }), hashConfig({ a: [2, 1] }))
})
