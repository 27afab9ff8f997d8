// Distributed tracing with OpenTelemetry: W3C trace context (and optionally B3) extracted from the
// client and injected upstream with the gateway's own span ids; one SERVER span per request and
// one CLIENT span per upstream attempt, HTTP semantic-convention attributes; parent-based ratio
// sampling; OTLP/HTTP export through a bounded batch processor, so a slow or dead collector drops
// spans instead of slowing requests.
import { randomFillSync } from 'node:crypto'
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Context,
  type Span,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api'
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { B3Propagator, B3InjectEncoding } from '@opentelemetry/propagator-b3'
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import type { Logger } from 'pino'

export interface TracingSettings {
  serviceName: string
  sampleRatio: number
  endpoint: string
  headers: Record<string, string>
  timeoutMs: number
  b3: boolean
  /** Also record each plugin phase as a span event. */
  pluginEvents: boolean
}

/** Header names the tracer owns: removed from what the client sent before injecting ours. */
export const TRACE_HEADERS = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'] as const

export class Tracing {
  readonly settings: TracingSettings
  readonly #provider: BasicTracerProvider
  readonly #tracer: Tracer
  readonly #propagator: TextMapPropagator

  constructor(settings: TracingSettings, version: string, logger: Logger) {
    this.settings = settings
    const exporter = new OTLPTraceExporter({ url: settings.endpoint, headers: settings.headers, timeoutMillis: settings.timeoutMs })
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': settings.serviceName, 'service.version': version }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }),
      spanProcessors: [
        // Bounded: when the collector cannot keep up, spans are dropped, requests never wait.
        new BatchSpanProcessor(exporter, { maxQueueSize: 4096, maxExportBatchSize: 512, scheduledDelayMillis: 1000, exportTimeoutMillis: settings.timeoutMs }),
      ],
    })
    this.#tracer = this.#provider.getTracer('portico', version)
    this.#propagator = new CompositePropagator({
      propagators: settings.b3 ? [new W3CTraceContextPropagator(), new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER })] : [new W3CTraceContextPropagator()],
    })
    logger.info({ endpoint: settings.endpoint, sample_ratio: settings.sampleRatio, b3: settings.b3 }, 'tracing on')
  }

  /**
   * Starts the request's trace. Sampled requests get a SERVER span through the SDK (child of the
   * client's context when it sent a valid one). Unsampled ones — most of them at a 10% ratio —
   * skip the SDK entirely: the W3C header is parsed here, the sampling decision made here (the
   * same parent-based rule), and upstream gets a fresh `traceparent` with the sampled flag off.
   * Creating a non-recording span, extracting and injecting through the SDK cost ~15 µs per
   * request on the load benchmark; this path costs a header parse and 8 random bytes.
   */
  start(headers: IncomingHttpHeaders, method: string, path: string, scheme: string, clientIp: string): RequestTrace {
    const parent = parseTraceparent(headers.traceparent)
    // B3 input is rare and has several encodings: leave it to the SDK's propagator.
    const b3In = this.settings.b3 && parent === null && (headers.b3 !== undefined || headers['x-b3-traceid'] !== undefined)
    if (!b3In) {
      const sampled = parent !== null ? parent.sampled : Math.random() < this.settings.sampleRatio
      if (!sampled) {
        const tracestate = typeof headers.tracestate === 'string' && parent !== null ? headers.tracestate : undefined
        return new UnsampledTrace(parent?.traceId ?? randomHex(16), tracestate, this.settings.b3, parent === null || parent.random)
      }
    }
    // Trace Context Level 2 `random` flag: kept from the parent; set when the gateway starts the
    // trace (its ids come from crypto random bytes; the SDK's ids come from Math.random, which the
    // spec's "at least 7 random bytes" also accepts). A trace continued from B3 makes no such claim.
    const random = parent !== null ? parent.random : !b3In
    const ctx = this.#propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter)
    const span = this.#tracer.startSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'url.path': path,
          'url.scheme': scheme,
          'client.address': clientIp,
          'server.address': (headers.host ?? '').replace(/:\d+$/, ''),
          'user_agent.original': headers['user-agent'] ?? '',
        },
      },
      ctx,
    )
    return new SdkTrace(this.#tracer, this.#propagator, span, trace.setSpan(ctx, span), this.settings.pluginEvents, random)
  }

  /** Flushes what is queued and stops the exporter (drain, reload with tracing changed). */
  async shutdown(): Promise<void> {
    await this.#provider.shutdown()
  }
}

/** What the handler does with a request's trace, sampled or not. */
export interface RequestTrace {
  readonly traceId: string
  readonly spanId: string
  readonly sampled: boolean
  readonly pluginEvents: boolean
  setRoute(method: string, route: string): void
  startAttempt(headers: OutgoingHttpHeaders, method: string, origin: string, path: string): void
  attemptStatus(status: number): void
  endAttempt(error: string | undefined): void
  event(name: string, attributes?: Record<string, string | number>): void
  /** A gRPC call's status (its code), before end(): recorded as rpc.grpc.status_code. */
  grpcStatus(code: number): void
  end(status: number, error: string | undefined): void
}

/**
 * gRPC statuses that make a server span an error (OpenTelemetry's gRPC semantic conventions):
 * UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. The others are the
 * client's doing, as 4xx are for HTTP.
 */
const GRPC_SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15])

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
/** trace-flags bits (W3C Trace Context Level 2 §3.2.2.5): sampled, random. */
const FLAG_SAMPLED = 1
const FLAG_RANDOM = 2

/** W3C trace-context §3.2 (version 00); invalid or all-zero ids → null (a new trace starts). */
function parseTraceparent(v: string | string[] | undefined): { traceId: string; sampled: boolean; random: boolean } | null {
  if (typeof v !== 'string') return null
  const m = TRACEPARENT.exec(v.trim())
  if (m === null || m[1] === '00000000000000000000000000000000' || m[2] === '0000000000000000') return null
  const flags = parseInt(m[3]!, 16)
  return { traceId: m[1]!, sampled: (flags & FLAG_SAMPLED) !== 0, random: (flags & FLAG_RANDOM) !== 0 }
}

/** The SDK's propagator writes only the sampled bit (its span flags come from the sampler): add random. */
function withRandomFlag(tp: string): string {
  const flags = parseInt(tp.slice(-2), 16)
  return tp.slice(0, -2) + (flags | FLAG_RANDOM).toString(16).padStart(2, '0')
}

// Random ids from a pooled buffer: one randomFillSync per 512 ids instead of one call per id.
const pool = Buffer.alloc(4096)
let poolOff = pool.length
function randomHex(bytes: number): string {
  if (poolOff + bytes > pool.length) {
    randomFillSync(pool)
    poolOff = 0
  }
  const hex = pool.toString('hex', poolOff, poolOff + bytes)
  poolOff += bytes
  return hex
}

/** An unsampled request: nothing recorded, context still propagated with the sampled flag off. */
class UnsampledTrace implements RequestTrace {
  readonly traceId: string
  /** The id the upstream sees as its parent (the gateway's hop, not recorded). */
  readonly spanId: string
  readonly sampled = false
  readonly pluginEvents = false
  readonly #tracestate: string | undefined
  readonly #b3: boolean
  readonly #flags: string

  constructor(traceId: string, tracestate: string | undefined, b3: boolean, random: boolean) {
    this.traceId = traceId
    this.spanId = randomHex(8)
    this.#tracestate = tracestate
    this.#b3 = b3
    this.#flags = random ? '02' : '00'
  }

  setRoute(): void {}

  startAttempt(headers: OutgoingHttpHeaders): void {
    for (const h of TRACE_HEADERS) if (headers[h] !== undefined) delete headers[h]
    headers.traceparent = `00-${this.traceId}-${this.spanId}-${this.#flags}`
    if (this.#tracestate !== undefined) headers.tracestate = this.#tracestate
    if (this.#b3) {
      headers['x-b3-traceid'] = this.traceId
      headers['x-b3-spanid'] = this.spanId
      headers['x-b3-sampled'] = '0'
    }
  }

  attemptStatus(): void {}
  endAttempt(): void {}
  event(): void {}
  grpcStatus(): void {}
  end(): void {}
}

class SdkTrace implements RequestTrace {
  readonly #tracer: Tracer
  readonly #propagator: TextMapPropagator
  readonly span: Span
  readonly #context: Context
  readonly pluginEvents: boolean
  readonly #random: boolean
  #attempt: Span | null = null
  #attempts = 0

  constructor(tracer: Tracer, propagator: TextMapPropagator, span: Span, context: Context, pluginEvents: boolean, random: boolean) {
    this.#tracer = tracer
    this.#propagator = propagator
    this.span = span
    this.#context = context
    this.pluginEvents = pluginEvents
    this.#random = random
  }

  get traceId(): string {
    return this.span.spanContext().traceId
  }

  get spanId(): string {
    return this.span.spanContext().spanId
  }

  get sampled(): boolean {
    return (this.span.spanContext().traceFlags & 1) === 1
  }

  /** The route is known: name the span after it (bounded cardinality, as the semconv asks). */
  setRoute(method: string, route: string): void {
    this.span.updateName(`${method} ${route}`)
    this.span.setAttribute('http.route', route)
  }

  /**
   * Starts the CLIENT span of one upstream attempt and writes its context into the upstream
   * headers (the client's own trace headers were stripped by the forwarder).
   */
  startAttempt(headers: OutgoingHttpHeaders, method: string, origin: string, path: string): void {
    this.#attempt?.end()
    const u = new URL(origin)
    this.#attempt = this.#tracer.startSpan(
      method,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': method,
          'server.address': u.hostname,
          'server.port': Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
          'url.full': origin + path,
          'http.request.resend_count': this.#attempts++,
        },
      },
      this.#context,
    )
    for (const h of TRACE_HEADERS) delete headers[h]
    this.#propagator.inject(trace.setSpan(this.#context, this.#attempt), headers, defaultTextMapSetter)
    if (this.#random && typeof headers.traceparent === 'string') headers.traceparent = withRandomFlag(headers.traceparent)
  }

  /** The upstream answered with this status (the attempt goes on while its body streams). */
  attemptStatus(status: number): void {
    const s = this.#attempt
    if (s === null) return
    s.setAttribute('http.response.status_code', status)
    if (status >= 500) {
      s.setAttribute('error.type', String(status))
      s.setStatus({ code: SpanStatusCode.ERROR })
    }
  }

  /** The attempt is over; `error` names why when it failed. */
  endAttempt(error: string | undefined): void {
    const s = this.#attempt
    if (s === null) return
    this.#attempt = null
    if (error !== undefined) {
      s.setAttribute('error.type', error)
      s.setStatus({ code: SpanStatusCode.ERROR })
    }
    s.end()
  }

  event(name: string, attributes?: Record<string, string | number>): void {
    this.span.addEvent(name, attributes)
  }

  grpcStatus(code: number): void {
    this.span.setAttribute('rpc.system', 'grpc')
    this.span.setAttribute('rpc.grpc.status_code', code)
    // An HTTP 200 on the wire: the gRPC status decides whether the span failed.
    if (GRPC_SERVER_ERRORS.has(code)) this.span.setStatus({ code: SpanStatusCode.ERROR })
  }

  /** Ends the request: status as the client saw it (499 = client went away). */
  end(status: number, error: string | undefined): void {
    this.endAttempt(error)
    this.span.setAttribute('http.response.status_code', status)
    if (status >= 500 || error !== undefined) {
      if (error !== undefined) this.span.setAttribute('error.type', error)
      // Server spans: 4xx are the client's doing, not an error of the gateway (semconv).
      if (status >= 500) this.span.setStatus({ code: SpanStatusCode.ERROR })
    }
    this.span.end()
  }
}
