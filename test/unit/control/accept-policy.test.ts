// workers_accept → node:cluster's scheduling policy: auto is the kernel's accept with one worker
// (nothing to spread, no handle passed over IPC per connection) and round robin with more.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import cluster from 'node:cluster'
import { acceptPolicy } from '../../../src/control/supervisor.js'

test('workers_accept: auto, round_robin and kernel', () => {
  assert.equal(acceptPolicy('auto', 1), cluster.SCHED_NONE)
  assert.equal(acceptPolicy('auto', 2), cluster.SCHED_RR)
  assert.equal(acceptPolicy('round_robin', 1), cluster.SCHED_RR)
  assert.equal(acceptPolicy('kernel', 4), cluster.SCHED_NONE)
})
