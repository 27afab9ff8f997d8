// The data-plane listeners a document asks for, with `server.listen` expanded into its one-entry
// `server.listeners` form and the schema's defaults applied: what the data plane binds and what
// the control plane reports and compares across reloads.
import type { Config, ListenerConfig } from './schema/index.js'
import { DEFAULT_DATA_PLANE_LISTEN, DEFAULT_LISTENER_PROTOCOLS, DEFAULT_TLS_LISTENER_PROTOCOLS, type ListenerProtocolName } from './defaults.js'

export interface ResolvedListener {
  /** host:port, [v6]:port, a port string or a number, as configured. */
  readonly listen: string | number
  /** Defaults applied: [http1, h2] with tls, [http1] without. */
  readonly protocols: readonly ListenerProtocolName[]
  /** Its HTTP/2 settings as configured (defaults are applied where the listener is built). */
  readonly http2: ListenerConfig['http2']
  /** Its TLS (an https listener); reloads apply a change here without a rebind. */
  readonly tls: ListenerConfig['tls']
  /** A cleartext listener that answers every request with a redirect to https. */
  readonly redirectHttps: ListenerConfig['redirect_https']
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
  if (list === undefined) return [{ listen: s?.listen ?? DEFAULT_LISTEN, protocols: DEFAULT_PROTOCOLS, http2: undefined, tls: undefined, redirectHttps: undefined, proto: 'http', where: 'server.listen' }]
  return list.map((l, i) => ({
    listen: l.listen,
    protocols: l.protocols ?? (l.tls === undefined ? DEFAULT_PROTOCOLS : DEFAULT_TLS_LISTENER_PROTOCOLS),
    http2: l.http2,
    tls: l.tls,
    redirectHttps: l.redirect_https,
    proto: l.tls === undefined ? 'http' : 'https',
    where: `server.listeners[${i}].listen`,
  }))
}

/**
 * A stable key of what is bound: a change needs a restart (listeners are bound once). What an
 * https listener serves (certificates, versions, client_auth …) is not in it: a reload applies that
 * to the bound listener, so only turning TLS on or off counts here. Protocols and HTTP/2 settings
 * are the server's options, fixed when it is created: they count.
 */
export function listenersKey(config: Pick<Config, 'server'>): string {
  return JSON.stringify(resolveListeners(config).map((l) => [String(l.listen), l.protocols, l.proto, l.redirectHttps ?? null, l.http2 ?? null]))
}

/** For logs: the configured addresses, comma-separated. */
export function listenersLabel(config: Pick<Config, 'server'>): string {
  return resolveListeners(config)
    .map((l) => String(l.listen))
    .join(', ')
}
