// The Node flags data-plane workers are forked with.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { workerExecArgv } from '../../../src/control/supervisor.js'

test('workers get the 12 MB semi-space cap after the primary\'s own flags', () => {
  assert.deepEqual(workerExecArgv(['--enable-source-maps'], ''), ['--enable-source-maps', '--max-semi-space-size=12'])
})

test('an operator\'s --max-semi-space-size wins, from the command line or NODE_OPTIONS', () => {
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=32'], ''), ['--max-semi-space-size=32'])
  assert.deepEqual(workerExecArgv([], '--max-old-space-size=512 --max-semi-space-size=4'), [])
})
