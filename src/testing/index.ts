// The plugin author's test kit (`import ... from 'portico/testing'`): a real gateway in the test's
// own process with the author's plugins installed beside the built-ins, an echo upstream to put
// behind it, and the context and env a unit test of one phase needs. The gateway is the production
// data plane, and the config goes through the production validator, so a test sees what a user
// sees: the plugin's schema errors with their YAML path, its check(), its replies on the wire.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import YAML from 'yaml'
import { formatErrors } from '../config/errors.js'
import { loadConfigText } from '../config/load.js'
import { RequestContext } from '../core/context.js'
import { createDataPlane, type DataPlane } from '../dataplane/data-plane.js'
import { createLogger } from '../observability/logger.js'
import { assertPluginDefinition, type PluginDefinition, type PluginEnv } from '../plugins/contract.js'
import { NO_CONSUMERS, type Consumers } from '../plugins/consumers.js'
import { BUILTIN_PLUGINS } from '../plugins/registry.js'
import { documentChecks } from '../snapshot/document-checks.js'
import { MemoryStore } from '../state/memory.js'
import type { Store } from '../state/store.js'

export interface TestGatewayOptions {
  /** The config document: YAML text or an object. `server.listen` defaults to 127.0.0.1:0 and logging to silent. */
  config: string | Record<string, unknown>
  /** Plugins to install beside the built-ins, as PORTICO_PLUGINS would. */
  plugins?: readonly PluginDefinition[]
  /** pino level for the gateway's log (default silent; 'debug' while writing a test). */
  logLevel?: 'silent' | 'error' | 'warn' | 'info' | 'debug'
}

export interface TestGateway {
  /** http://127.0.0.1:<port> of the gateway's listener. */
  readonly url: string
  readonly port: number
  /** The running data plane (status, snapshot), for assertions a reply cannot show. */
  readonly dataPlane: DataPlane
  /** Loads a new config as a hot reload does; throws with every validation error when it is invalid (the old one keeps serving). */
  reload(config: string | Record<string, unknown>): Promise<void>
  /** Drains (in-flight requests finish) and closes the listener. */
  close(): Promise<void>
}

/** A config that failed validation: `message` lists every error with its path, line and column. */
export class TestConfigError extends Error {
  override name = 'TestConfigError'
}

function documentText(config: string | Record<string, unknown>): string {
  const doc = (typeof config === 'string' ? YAML.parse(config) : structuredClone(config)) as Record<string, unknown> | null
  if (doc === null || typeof doc !== 'object') throw new TestConfigError('the test config must be a mapping')
  const server = (doc.server ?? {}) as Record<string, unknown>
  if (server.listen === undefined && server.listeners === undefined) doc.server = { ...server, listen: '127.0.0.1:0' }
  doc.log ??= { level: 'silent', access_log: false }
  return YAML.stringify(doc)
}

/** Starts a gateway with `plugins` installed, on a free loopback port. */
export async function startTestGateway(opts: TestGatewayOptions): Promise<TestGateway> {
  const registry = new Map(BUILTIN_PLUGINS)
  for (const def of opts.plugins ?? []) {
    assertPluginDefinition(def)
    if (registry.has(def.name)) throw new TypeError(`plugin "${def.name}" is ${BUILTIN_PLUGINS.has(def.name) ? 'a built-in plugin' : 'given twice'}`)
    registry.set(def.name, def)
  }
  const checks = documentChecks(registry)
  let version = 0
  const parse = (config: string | Record<string, unknown>) => {
    const r = loadConfigText(documentText(config), 'test.yaml', { checks })
    if (!r.ok) throw new TestConfigError(`config invalid:\n${formatErrors(r.errors)}`)
    return r
  }
  const first = parse(opts.config)
  const dataPlane = createDataPlane({ plugins: registry, logger: createLogger(opts.logLevel ?? 'silent') })
  await dataPlane.load(first.config, { version: ++version, hash: first.hash })
  const addr: AddressInfo = await dataPlane.listen()
  return {
    url: `http://127.0.0.1:${addr.port}`,
    port: addr.port,
    dataPlane,
    async reload(config) {
      const r = parse(config)
      await dataPlane.load(r.config, { version: ++version, hash: r.hash })
    },
    close: () => dataPlane.drain(1000),
  }
}

export interface EchoUpstream {
  /** http://127.0.0.1:<port>, for an upstream's `targets`. */
  readonly url: string
  /** Every request it received, in order. */
  readonly requests: ReadonlyArray<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }>
  close(): Promise<void>
}

/** An upstream that answers every request with 200 and JSON `{ method, url, headers, body }` of what reached it. */
export async function startEchoUpstream(): Promise<EchoUpstream> {
  const requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() }
      requests.push(seen)
      const body = JSON.stringify(seen)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export interface FakeContextOptions {
  method?: string
  headers?: Record<string, string>
  ip?: string
  path?: string
  query?: string
  route?: string
  consumer?: string
  claims?: Record<string, unknown>
}

/**
 * A RequestContext for a unit test of one phase: the real class over a minimal request (method,
 * headers) and no response socket. A phase that writes the response needs startTestGateway.
 */
export function fakeContext(opts: FakeContextOptions = {}): RequestContext {
  const req = { method: opts.method ?? 'GET', headers: opts.headers ?? {} } as unknown as IncomingMessage
  const c = new RequestContext(req, {} as ServerResponse, 'test-request', 0)
  c.clientIp = opts.ip ?? '10.0.0.1'
  c.path = opts.path ?? '/'
  c.query = opts.query ?? ''
  c.routeName = opts.route ?? 'test'
  c.consumer = opts.consumer
  c.claims = opts.claims
  return c
}

/** The env a plugin's create() gets: a silent logger and memory stores (or `store`), no consumers. */
export function testPluginEnv(route: string | undefined = 'test', store?: Store, consumers: Consumers = NO_CONSUMERS): PluginEnv {
  const memory = new MemoryStore()
  return { logger: createLogger('silent'), route, store: store ?? memory, memory, consumers }
}
