// Which source holds the resources: the file itself, or the config center named under
// `config_center` (exactly one; the file then keeps the settings). Each center is imported only
// when configured, so a file-only gateway loads none of their clients.
import type { Logger } from 'pino'
import type { Config } from '../../config/schema/index.js'
import { readDocumentAsWritten, type ConfigSource } from './source.js'

export async function configCenterSource(config: Config, file: string, logger: Logger): Promise<ConfigSource | null> {
  const c = config.config_center
  if (c === undefined) return null
  const settings = await readDocumentAsWritten(file)
  const cacheFile = (kind: string, configured: string | undefined) => configured ?? `${file}.${kind}-cache.json`
  if (c.etcd !== undefined) {
    const { EtcdSource } = await import('./etcd.js')
    return new EtcdSource({ settings, policy: c.etcd, cacheFile: cacheFile('etcd', c.etcd.cache_file), logger })
  }
  if (c.consul !== undefined) {
    const { ConsulSource } = await import('./consul.js')
    return new ConsulSource({ settings, policy: c.consul, cacheFile: cacheFile('consul', c.consul.cache_file), logger })
  }
  if (c.zookeeper !== undefined) {
    const { ZookeeperSource } = await import('./zookeeper.js')
    return new ZookeeperSource({ settings, policy: c.zookeeper, cacheFile: cacheFile('zookeeper', c.zookeeper.cache_file), logger })
  }
  if (c.apollo !== undefined) {
    const { ApolloSource } = await import('./apollo.js')
    return new ApolloSource({ settings, policy: c.apollo, cacheFile: cacheFile('apollo', c.apollo.cache_file), logger })
  }
  return null
}
