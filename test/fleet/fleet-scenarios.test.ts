// The fleet scenarios on one real fleet (test/fleet/fleet.ts: HAProxy → three Portico instances in
// network namespaces → one redis-server, one etcd, origins), started once for the file: a fleet
// start is three gateway starts plus Redis, etcd and HAProxy, 15-20 s on a loaded CI machine, and
// each scenario file used to start its own. They run in this order, each group leaving the fleet
// as the next expects (every instance up and in the LB):
//   fleet-state.ts    shared state: global rate limit, revocation, Redis/etcd down and up, partitions
//   fleet-kill.ts     SIGKILL of one instance under load
//   fleet-rollout.ts  canary and rolling upgrade (last: it moves every instance to v2)
import { after, before, describe } from 'node:test'
import { startFleet, type Fleet } from './fleet.js'
import { stateScenarios } from './fleet-state.js'
import { killScenarios } from './fleet-kill.js'
import { rolloutScenarios } from './fleet-rollout.js'

let fleet: Fleet | undefined

const current = (): Fleet => {
  if (fleet === undefined) throw new Error('the fleet did not start (see the before hook)')
  return fleet
}

before(async () => {
  fleet = await startFleet()
})
after(async () => {
  await fleet?.close()
})

describe('fleet: shared state', () => stateScenarios(current))
describe('fleet: SIGKILL of an instance', () => killScenarios(current))
describe('fleet: canary and rolling upgrade', () => rolloutScenarios(current))
