import { startRedisCluster } from './helpers/redis-cluster.js'
import { RedisStore } from '../src/state/redis.js'
const c = await startRedisCluster()
const s = new RedisStore({ cluster: { nodes: c.nodes }, timeoutMs: 500 })
await s.ready()
const un = await s.subscribe('ch', (m) => console.log('got', m))
await s.publish('ch', 'hi')
await new Promise(r => setTimeout(r, 300))
await un()
await s.close()
await c.close()
console.log('closed', process.getActiveResourcesInfo())
