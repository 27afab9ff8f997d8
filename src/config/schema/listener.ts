// Data-plane listeners (`server.listeners`). One entry per bound address; `server.listen` is the
// shorthand for a single cleartext HTTP/1.1 listener. The scheme a listener reports upstream
// (X-Forwarded-Proto, Forwarded) follows from it: https when it has `tls`, else http.
import { Type, type Static } from '@sinclair/typebox'
import { DEFAULT_LISTENER_PROTOCOLS } from '../defaults.js'
import { ListenerTls, RedirectHttps } from './tls.js'

/** host:port, [v6]:port or a bare port (a bare port binds every interface: core/address.ts). */
export const ListenAddress = (description: string, def?: string) =>
  Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0, maximum: 65535 })], { description, ...(def === undefined ? {} : { default: def }) })

export const ListenerProtocol = Type.Union([Type.Literal('http1')], { description: 'A protocol served on the listener: http1 (HTTP/1.1; ALPN "http/1.1" on https).' })

export const Listener = Type.Object(
  {
    listen: ListenAddress('Address to bind: host:port, [ipv6]:port or a port.'),
    protocols: Type.Optional(Type.Array(ListenerProtocol, { minItems: 1, uniqueItems: true, default: [...DEFAULT_LISTENER_PROTOCOLS], description: 'Protocols served on this listener.' })),
    tls: Type.Optional(ListenerTls),
    redirect_https: Type.Optional(RedirectHttps),
  },
  { additionalProperties: false, description: 'One data-plane listener.' },
)

export type ListenerConfig = Static<typeof Listener>
