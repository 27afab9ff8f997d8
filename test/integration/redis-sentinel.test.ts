// The Store on a real Sentinel set (master, replica, three redis-sentinel processes, started by
// test/helpers/redis-sentinel.ts): the fleet scenario of failover-scenario.ts — exact limits across
// three gateways, the master killed under load and the replica promoted by the sentinels.
import { describe, after } from 'node:test'
import { startRedisSentinel } from '../helpers/redis-sentinel.js'
import { failoverScenario } from './state/failover-scenario.js'
import { exitWhenDone } from '../helpers/exit-watchdog.js'

describe('Redis Sentinel: three gateways, the master killed under load', () => {
  failoverScenario(async () => {
    const s = await startRedisSentinel()
    return {
      storeYaml: `sentinel: { sentinels: [${s.sentinels.join(', ')}], name: ${s.name} }`,
      storeConfig: { sentinel: { sentinels: s.sentinels, name: s.name } },
      killMasterOf: () => s.stopMaster(),
      waitPromoted: (old) => s.waitPromoted(old),
      async heal(killed) {
        await s.startNode(killed)
        await s.waitHealthy(30_000)
      },
      close: () => s.close(),
    }
  })
})

// Last: if anything outlives the hooks above, say what, and end the file's process.
after(() => exitWhenDone(import.meta.filename))
