import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RoundRobin } from '../../../src/upstream/balancers/round-robin.js'
import { Target } from '../../../src/upstream/target.js'

const settings = { connections: 1, keepAliveTimeout: 1000 }
const t = (name: string, weight: number) => new Target(`http://${name}:80`, weight, settings)
const names = (rr: RoundRobin, n: number) => Array.from({ length: n }, () => new URL(rr.pick()!.url).hostname).join('')

test('equal weights rotate in order', () => {
  assert.equal(names(new RoundRobin([t('a', 1), t('b', 1), t('c', 1)]), 6), 'abcabc')
})

test('smooth weighted: 5,1,1 spreads the heavy target out (nginx sequence)', () => {
  assert.equal(names(new RoundRobin([t('a', 5), t('b', 1), t('c', 1)]), 7), 'aabacaa')
})

test('weights give exact shares over a full cycle', () => {
  const rr = new RoundRobin([t('a', 3), t('b', 2), t('c', 1)])
  const counts: Record<string, number> = {}
  for (const c of names(rr, 600)) counts[c] = (counts[c] ?? 0) + 1
  assert.deepEqual(counts, { a: 300, b: 200, c: 100 })
})

test('weight 0 is never picked; all zero → no target', () => {
  assert.equal(names(new RoundRobin([t('a', 0), t('b', 1)]), 3), 'bbb')
  assert.equal(new RoundRobin([t('a', 0)]).pick(), undefined)
})
