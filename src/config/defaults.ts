// Defaults the schema publishes AND the runtime reads. They live in this TypeBox-free module, outside schema/, so a
// worker can apply them without importing the schema (which would load TypeBox into every worker:
// test/unit/plugins/builtin.test.ts checks the worker's module graph). The schema uses these same
// constants for its `default:` values, so each literal is written once.
export const DEFAULT_DATA_PLANE_LISTEN = '0.0.0.0:8080'
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:9180'
export type ListenerProtocolName = 'http1' | 'h2' | 'h2c'
/** A cleartext listener's protocols when `protocols` is not set: HTTP/1.1 only (h2c is opt-in). */
export const DEFAULT_LISTENER_PROTOCOLS: readonly ListenerProtocolName[] = ['http1']
/** An https listener's protocols when `protocols` is not set: ALPN h2 and http/1.1 (what Caddy and Envoy do). */
export const DEFAULT_TLS_LISTENER_PROTOCOLS: readonly ListenerProtocolName[] = ['http1', 'h2']
/** `http2` settings of a listener (HTTP/2 SETTINGS the gateway announces, and its flood guards). */
export const DEFAULT_HTTP2 = {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: Envoy's and nginx's 128 (nghttp2's own default is unlimited). */
  max_concurrent_streams: 128,
  /** SETTINGS_INITIAL_WINDOW_SIZE: the RFC's 65535 (per stream; the connection window follows it). */
  initial_window_size: 65_535,
  /** SETTINGS_MAX_FRAME_SIZE: the RFC's minimum, 16384. */
  max_frame_size: 16_384,
  /** RST_STREAMs (either side) a connection may cause per second before it is closed (CVE-2023-44487). */
  max_resets_per_second: 100,
  /** SETTINGS and PING frames a client may send per second before its connection is closed. */
  max_control_frames_per_second: 100,
  /** SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): WebSocket over HTTP/2 offered. */
  enable_connect_protocol: true,
} as const
/** server.max_connections: client connections per worker (a file descriptor and buffers each). */
export const DEFAULT_MAX_CONNECTIONS = 16_384
