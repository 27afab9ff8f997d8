// The fleet view's assessment (control/fleet.ts assess): which records are behind, by revision and
// the hash of the resources (the document hash differs per instance: it covers its own settings).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assess, type FleetRecord } from '../../../src/control/fleet.js'

const rec = (id: string, revision: string | null, resources: string | null, updatedAt = '2026-01-01T00:00:00.000Z'): FleetRecord => ({
  id,
  hostname: 'h',
  pid: 1,
  version: '0.1.0',
  build: null,
  node: 'v20',
  admin: null,
  listen: [],
  config: { version: 1, hash: `doc-${id}`, revision, resources },
  ready: true,
  health_detail: null,
  started_at: updatedAt,
  updated_at: updatedAt,
})

test('an older revision with other resources is behind; an older one with the same resources is not', () => {
  const { entries, newest } = assess([rec('c', '90', 'r2'), rec('a', '100', 'r2'), rec('b', '80', 'r1')], null, Date.parse('2026-01-01T00:00:05.000Z'), 'a')
  assert.deepEqual(newest, { revision: '100', resources: 'r2' })
  assert.deepEqual(entries.map((e) => [e.id, e.behind, e.self]), [['a', false, true], ['b', true, false], ['c', false, false]])
  assert.equal(entries[0]!.updated_ago_s, 5)
})

test("the source's held revision counts: every instance behind it with other resources is behind", () => {
  const { entries } = assess([rec('a', '100', 'r2'), rec('b', '100', 'r2')], { revision: '120', resources: 'r3' }, Date.now(), 'a')
  assert.deepEqual(entries.map((e) => e.behind), [true, true])
  // Revisions compare as integers, not strings.
  const { entries: e2 } = assess([rec('a', '9', 'x'), rec('b', '10', 'y')], null, Date.now(), 'a')
  assert.deepEqual(e2.map((e) => e.behind), [true, false])
})

test('records without a revision are never behind and never the newest', () => {
  const { entries, newest } = assess([rec('a', null, null), rec('b', '5', 'r')], null, Date.now(), 'a')
  assert.deepEqual(newest, { revision: '5', resources: 'r' })
  assert.deepEqual(entries.map((e) => e.behind), [false, false])
})
