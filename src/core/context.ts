// RequestContext: the one per-request object. Fixed shape (every field initialised in the
// constructor) so V8 keeps one hidden class on the hot path.
import type { RequestTrace } from '../observability/tracing.js'
import type { IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http'
import type { ExchangeTap } from './verdict.js'
import type { ClientIdentity } from './client-identity.js'

export type HeaderMap = Record<string, string | string[] | undefined>

export class RequestContext {
  /** x-request-id: the client's when valid, else generated. */
  id: string
  /** performance.now() at arrival. */
  readonly start: number
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly method: string
  /** Host without port, lower-cased. */
  host: string
  /** Normalized path (router/normalize.ts); what routes were matched against. */
  path: string
  /** Raw query string without '?', or '' when absent. */
  query: string
  /** Client address after trusted_proxies resolution. */
  clientIp: string
  /** Path parameters captured by the route. */
  params: Record<string, string | undefined>
  /** Name of the matched route ('' until matched). */
  routeName: string
  /** Path to send upstream (after strip_prefix / rewrite; plugins may change it before upstream). */
  upstreamPath: string
  /** Headers to send upstream (hop-by-hop already removed). Plugins may change them. */
  upstreamHeaders: OutgoingHttpHeaders
  /** Extra headers to add to the client response (set by plugins in any phase). */
  responseHeaders: Record<string, string | string[]> | null
  /** Chosen target URL origin, for logs. */
  target: string
  upstreamStart: number
  upstreamDurationMs: number | undefined
  /** Identity established by an auth plugin. */
  consumer: string | undefined
  /** The client certificate of an https listener that asks for one (mTLS); null otherwise or when none was sent. */
  clientCert: ClientIdentity | null
  /** Verified JWT claims (set by `jwt`; read by rbac and revocation by jti/sub). Never mutate. */
  claims: Record<string, unknown> | undefined
  /** Roles of the consumer (set by the plugin that identified it; read by rbac). */
  consumerRoles: readonly string[] | undefined
  /** The request body, only on routes whose pipeline asked for it (PluginDefinition.body); else undefined (streamed). */
  body: Buffer | undefined
  /**
   * Largest request body for this request in bytes, when a plugin (request-size-limit) lowered it
   * below the route's max_body_size; Infinity = the route's limit alone applies.
   */
  bodyLimit: number
  /** Observer of the upstream exchange (core/verdict.ts ExchangeTap), or null. */
  tap: ExchangeTap | null
  /** The request's trace when tracing is on (observability/tracing.ts), else null. */
  trace: RequestTrace | null
  /** A gRPC call (content-type application/grpc[+…] over HTTP/2, or gRPC-Web): gateway replies are gRPC statuses, trailers are relayed. */
  grpc: boolean
  /** gRPC-Web (proxy/grpc-web.ts GrpcWeb): 0 = not, 1 = binary body, 2 = base64 (-text) body. */
  grpcWeb: number
  #state: Map<string, unknown> | null

  constructor(req: IncomingMessage, res: ServerResponse, id: string, start: number) {
    this.id = id
    this.start = start
    this.req = req
    this.res = res
    this.method = req.method ?? 'GET'
    this.host = ''
    this.path = '/'
    this.query = ''
    this.clientIp = ''
    this.params = {}
    this.routeName = ''
    this.upstreamPath = '/'
    this.upstreamHeaders = {}
    this.responseHeaders = null
    this.target = ''
    this.upstreamStart = 0
    this.upstreamDurationMs = undefined
    this.consumer = undefined
    this.clientCert = null
    this.claims = undefined
    this.trace = null
    this.grpc = false
    this.grpcWeb = 0
    this.consumerRoles = undefined
    this.body = undefined
    this.bodyLimit = Infinity
    this.tap = null
    this.#state = null
  }

  /** Per-request state of one plugin, keyed by plugin name (no per-request closures). */
  state<T>(plugin: string, init?: () => T): T {
    this.#state ??= new Map()
    let s = this.#state.get(plugin) as T | undefined
    if (s === undefined && init !== undefined) {
      s = init()
      this.#state.set(plugin, s)
    }
    return s as T
  }

  /** Adds a header to the client response (merged over the upstream's). */
  setResponseHeader(name: string, value: string | string[]): void {
    ;(this.responseHeaders ??= {})[name.toLowerCase()] = value
  }
}
