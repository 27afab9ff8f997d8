// Defaults the schema publishes AND the runtime reads. They live in this TypeBox-free module, outside schema/, so a
// worker can apply them without importing the schema (which would load TypeBox into every worker:
// test/unit/plugins/builtin.test.ts checks the worker's module graph). The schema uses these same
// constants for its `default:` values, so each literal is written once.
export const DEFAULT_DATA_PLANE_LISTEN = '0.0.0.0:8080'
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:9180'
export const DEFAULT_LISTENER_PROTOCOLS: readonly 'http1'[] = ['http1']
/** server.max_connections: client connections per worker (a file descriptor and buffers each). */
export const DEFAULT_MAX_CONNECTIONS = 16_384
