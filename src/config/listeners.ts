// The data-plane listeners a document asks for, with `server.listen` expanded into its one-entry
// `server.listeners` form and the schema's defaults applied: what the data plane binds and what
// the control plane reports and compares across reloads.
import type { Config, ListenerConfig } from './schema/index.js'
import { DEFAULT_DATA_PLANE_LISTEN, DEFAULT_LISTENER_PROTOCOLS } from './defaults.js'

export interface ResolvedListener {
  /** host:port, [v6]:port, a port string or a number, as configured. */
  readonly listen: string | number
  readonly protocols: readonly 'http1'[]
  readonly tls: ListenerConfig['tls']
  /** The scheme this listener reports upstream (X-Forwarded-Proto, Forwarded, traces). */
  readonly proto: 'http' | 'https'
  /** Where it came from in the document, for messages ("server.listeners[1].listen"). */
  readonly where: string
}

const DEFAULT_LISTEN = DEFAULT_DATA_PLANE_LISTEN
const DEFAULT_PROTOCOLS = DEFAULT_LISTENER_PROTOCOLS

export function resolveListeners(config: Pick<Config, 'server'>): ResolvedListener[] {
  const s = config.server
  const list = s?.listeners
  if (list === undefined) return [{ listen: s?.listen ?? DEFAULT_LISTEN, protocols: DEFAULT_PROTOCOLS, tls: undefined, proto: 'http', where: 'server.listen' }]
  return list.map((l, i) => ({
    listen: l.listen,
    protocols: l.protocols ?? DEFAULT_PROTOCOLS,
    tls: l.tls,
    proto: l.tls === undefined ? 'http' : 'https',
    where: `server.listeners[${i}].listen`,
  }))
}

/** A stable key of what is bound: a change needs a restart (listeners are bound once). */
export function listenersKey(config: Pick<Config, 'server'>): string {
  return JSON.stringify(resolveListeners(config).map((l) => [String(l.listen), l.protocols, l.tls ?? null]))
}

/** For logs: the configured addresses, comma-separated. */
export function listenersLabel(config: Pick<Config, 'server'>): string {
  return resolveListeners(config)
    .map((l) => String(l.listen))
    .join(', ')
}
