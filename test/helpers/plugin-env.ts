// A PluginEnv for unit tests of plugins: silent logger, memory stores.
import type { PluginEnv } from '../../src/plugins/contract.js'
import { createLogger } from '../../src/observability/logger.js'
import { MemoryStore } from '../../src/state/memory.js'
import type { Store } from '../../src/state/store.js'
import { NO_CONSUMERS, type Consumers } from '../../src/plugins/consumers.js'

export function testPluginEnv(route: string | undefined = 'test', store?: Store, consumers: Consumers = NO_CONSUMERS): PluginEnv {
  const memory = new MemoryStore()
  return { logger: createLogger('silent'), route, store: store ?? memory, memory, consumers }
}
