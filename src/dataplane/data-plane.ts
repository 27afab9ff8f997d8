// The data plane's interface to control (src/control): load() a validated config, listen(),
// drain() on shutdown, status(). The implementation is plane.ts.
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Store } from '../state/store.js'
import type { Config } from '../config/schema/index.js'
import type { PluginDefinition } from '../plugins/contract.js'
import type { ClusterStatus } from '../upstream/cluster.js'
import type { StoreInfo } from '../state/store.js'
import type { CertificateSummary } from '../tls/certificate.js'

export interface SnapshotMeta {
  /** Monotonic config version assigned by the control plane. */
  version: number
  /** sha256 of the canonical config document. */
  hash: string
}

export interface DataPlaneStatus {
  ready: boolean
  version: number
  hash: string
  inFlight: number
  routes: number
  /** Open WebSocket sessions in this process (also counted in inFlight), and per route (handshakes in progress included). */
  websockets?: { open: number; routes: Record<string, number> }
  /** Live state of this process's clusters: health, ejection, in-flight, breaker. */
  upstreams: Record<string, ClusterStatus>
  /** The shared Store as this process sees it: topology, nodes and their connection state. */
  store?: StoreInfo
  /** Certificates the https listeners serve (names, issuer, validity, source; never a key). */
  certificates?: CertificateSummary[]
}

export interface DataPlaneOptions {
  logger: Logger
  /** Plugin definitions by name; defaults to the built-ins. Embedders add their own here. */
  plugins?: ReadonlyMap<string, PluginDefinition>
  /**
   * The shared Store when the config has no store.redis; default: this process's memory. A
   * cluster worker passes the instance's (state/instance.ts), so its sibling workers share it.
   */
  instanceStore?: Store
}

export interface DataPlane {
  /**
   * Compile `config` into a new Snapshot and swap it in atomically. Rejects with an Error whose
   * message names the problem when compilation fails; the previous Snapshot keeps serving.
   */
  load(config: Config, meta: SnapshotMeta): Promise<void>
  /** Bind the listeners of the first loaded config. Returns the first one's address (port 0 → real port). */
  listen(): Promise<AddressInfo>
  /** Every bound listener's address, in config order. */
  addresses(): AddressInfo[]
  /** Stop accepting connections, let in-flight requests finish up to timeoutMs, then close everything. */
  drain(timeoutMs: number): Promise<void>
  status(): DataPlaneStatus
}

export { createDataPlane } from './plane.js'
