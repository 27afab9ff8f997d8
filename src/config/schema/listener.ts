// Data-plane listeners (`server.listeners`). One entry per bound address; `server.listen` is the
// shorthand for a single cleartext HTTP/1.1 listener. The scheme a listener reports upstream
// (X-Forwarded-Proto, Forwarded) follows from it: https when it has `tls`, else http.
import { Type, type Static } from '@sinclair/typebox'
import { DEFAULT_HTTP2 } from '../defaults.js'
import { ListenerTls, RedirectHttps } from './tls.js'

/** host:port, [v6]:port or a bare port (a bare port binds every interface: core/address.ts). */
export const ListenAddress = (description: string, def?: string) =>
  Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0, maximum: 65535 })], { description, ...(def === undefined ? {} : { default: def }) })

export const ListenerProtocol = Type.Union([Type.Literal('http1'), Type.Literal('h2'), Type.Literal('h2c')], {
  description: 'A protocol served on the listener: http1 (HTTP/1.1; ALPN "http/1.1" on https), h2 (HTTP/2 by ALPN "h2"; https only), h2c (cleartext HTTP/2 by prior knowledge; cleartext only).',
})

export const Http2Settings = Type.Object(
  {
    max_concurrent_streams: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1, default: DEFAULT_HTTP2.max_concurrent_streams, description: 'SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open on one connection; more are refused (RST_STREAM REFUSED_STREAM).' })),
    initial_window_size: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: DEFAULT_HTTP2.initial_window_size, description: 'SETTINGS_INITIAL_WINDOW_SIZE in bytes: how much request body a client may send on a stream before the gateway reads it (flow control).' })),
    max_frame_size: Type.Optional(Type.Integer({ minimum: 16_384, maximum: 16_777_215, default: DEFAULT_HTTP2.max_frame_size, description: 'SETTINGS_MAX_FRAME_SIZE in bytes: the largest frame payload the gateway accepts.' })),
    max_header_list_size: Type.Optional(Type.Integer({ minimum: 1024, maximum: 2 ** 31 - 1, description: 'SETTINGS_MAX_HEADER_LIST_SIZE in bytes (decoded, RFC 9113 §6.5.2); a larger header list (an HPACK bomb included) is refused. Default: server.max_header_size.' })),
    max_resets_per_second: Type.Optional(Type.Integer({ minimum: 1, default: DEFAULT_HTTP2.max_resets_per_second, description: 'Streams a connection may have reset (RST_STREAM, by either side) per second; past it the connection gets GOAWAY ENHANCE_YOUR_CALM and is closed (rapid reset, CVE-2023-44487).' })),
    max_control_frames_per_second: Type.Optional(Type.Integer({ minimum: 1, default: DEFAULT_HTTP2.max_control_frames_per_second, description: 'SETTINGS and PING frames a client may send per second; past it the connection gets GOAWAY ENHANCE_YOUR_CALM and is closed (settings and ping floods).' })),
    enable_connect_protocol: Type.Optional(Type.Boolean({ default: DEFAULT_HTTP2.enable_connect_protocol, description: 'SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): clients may open WebSocket sessions as extended CONNECT streams on routes with websocket.enabled. false: not advertised, and an extended CONNECT is refused by the HTTP/2 layer.' })),
  },
  { additionalProperties: false, description: 'HTTP/2 settings of the listener (used when `protocols` has h2 or h2c).' },
)

export const Listener = Type.Object(
  {
    listen: ListenAddress('Address to bind: host:port, [ipv6]:port or a port.'),
    protocols: Type.Optional(
      Type.Array(ListenerProtocol, { minItems: 1, uniqueItems: true, description: 'Protocols served on this listener. Default: [http1, h2] with `tls`, [http1] without; [http1] turns HTTP/2 off on an https listener, [http1, h2c] adds h2c to a cleartext one.' }),
    ),
    http2: Type.Optional(Http2Settings),
    tls: Type.Optional(ListenerTls),
    redirect_https: Type.Optional(RedirectHttps),
  },
  { additionalProperties: false, description: 'One data-plane listener.' },
)

export type ListenerConfig = Static<typeof Listener>
export type Http2Config = Static<typeof Http2Settings>
