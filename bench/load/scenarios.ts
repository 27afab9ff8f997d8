// Benchmark scenarios are data. A scenario says what Portico is configured to do and what the load
// sends; the baselines (floor, nginx, peers) always proxy plainly to the first origin, so each
// scenario reads as "what this feature costs on top of the plain proxy".
// Adding one (3 targets with health checks, jwt, rate limit, ...) means adding an entry here.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Config } from '../../src/config/schema/index.js'
import { jwtFixture, startJwtFixture } from './jwt-fixture.js'
import { otlpSink, startOtlpSink } from './otlp-sink.js'

export interface ScenarioPorts {
  /** Portico's data-plane port. */
  port: number
  adminPort: number
  /** Base URLs of the scenario's origins (http://127.0.0.1:PORT). */
  origins: string[]
}

export interface Scenario {
  name: string
  description: string
  /** How many identical origins to start (all on the load core). */
  origins: number
  /** Request path and extra headers every load tool sends. */
  path: string
  headers: Record<string, string>
  /** The scenario needs a Redis: run.ts starts a private redis-server (or skips the scenario when it is not installed). */
  redis?: boolean
  gatewayConfig(p: ScenarioPorts): Config
  /** Starts what the scenario needs outside Portico before anything else; returns its teardown. */
  setup?(): Promise<() => Promise<void>>
  /**
   * The scenario verifies a JWT per request: the peers floor+fast-jwt and http-proxy+fast-jwt run
   * too, verifying the same token with fast-jwt (no cache). A getter: keys exist after setup().
   */
  /**
   * HTTP/2 scenarios: the origin is origin-h2.ts (h2c), the load is h2load (`clients` connections ×
   * `streams` streams each), the probe is an h2c request, the subjects are the ones that speak
   * HTTP/2 (direct, floor-h2, portico, nginx), and there is no fixed-rate run. `grpc`: each
   * request is a unary gRPC call (POST of one small message, trailers expected). With `tls` too
   * (h2-tls): HTTP/2 by ALPN over TLS in front, h2load over https://, the origin still h2c.
   */
  http2?: { kind: 'h2' | 'grpc'; clients: number; streams: number }
  /**
   * HTTPS in front (issue 13): Portico, the floor and nginx terminate TLS with the same ECDSA P-256
   * certificate (tlsFiles, made by setup()), the load is wrk over https://, the origin stays
   * cleartext HTTP/1.1. `handshakes`: every request on a new connection (Connection: close), so a
   * request's CPU includes a full handshake. No fixed-rate run. With `http2` (h2-tls) the load is
   * h2load instead and the origin origin-h2.ts.
   */
  tls?: { handshakes: boolean }
  jwtPeers?: { alg: 'HS256' | 'ES256'; key: string; issuer: string; audience: string }
}

/** The TLS scenarios' certificate and key (PEM files), set by their setup(). */
export const tlsFiles: { cert: string; key: string } = { cert: '', key: '' }

/** A throw-away self-signed ECDSA P-256 certificate for 127.0.0.1 / localhost (openssl). */
export async function makeCertificate(): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-tls-'))
  tlsFiles.cert = join(dir, 'cert.pem')
  tlsFiles.key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', tlsFiles.key, '-out', tlsFiles.cert], { stdio: 'ignore' })
  return async () => rmSync(dir, { recursive: true, force: true })
}

/** The TLS scenarios' Portico: one HTTPS listener with the bench certificate, the plain route. */
const tlsConfig = (p: ScenarioPorts): Config => ({
  ...base(p),
  server: { listeners: [{ listen: `127.0.0.1:${p.port}`, tls: { certificates: [{ cert_file: tlsFiles.cert, key_file: tlsFiles.key }] } }] },
  upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
  routes: [{ name: 'all', paths: ['/*'], upstream: 'origin' }],
})

/** Services run.ts started for the current scenario (set before gatewayConfig is called). */
export const services: { redisUrl: string } = { redisUrl: '' }

/** jwt (ES256 through a JWKS URL) + rbac on the route; `cache_size` 0 measures every signature check. */
function jwtScenario(name: string, cacheSize: number): Scenario {
  return {
    name,
    description: `jwt (ES256 via JWKS, one long-lived token, verified-token cache ${cacheSize > 0 ? 'on' : 'off'}) + rbac (scope any-of), access log on`,
    origins: 1,
    path: '/bench',
    // A getter: the token exists only once setup() has minted it.
    get headers() {
      return { authorization: `Bearer ${jwtFixture.token}` }
    },
    setup: startJwtFixture,
    gatewayConfig: (p) => ({
      ...base(p),
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
      routes: [
        {
          name: 'all',
          paths: ['/*'],
          upstream: 'origin',
          plugins: [
            {
              name: 'jwt',
              config: {
                keys: [{ jwks_uri: jwtFixture.jwksUrl, algorithms: ['ES256'] }],
                issuer: jwtFixture.issuer,
                audience: jwtFixture.audience,
                claims_to_headers: { sub: 'x-user-id' },
                cache_size: cacheSize,
              },
            },
            { name: 'rbac', config: { any_of: ['read'] } },
          ],
        },
      ],
    }),
  }
}

/**
 * jwt alone, a static key (HS256: a secret; ES256: a PEM public key), no other plugin: the same
 * work as the fast-jwt peers (verify signature, iss, aud, exp; no claims forwarded).
 */
function jwtStatic(alg: 'HS256' | 'ES256', cacheSize: number): Scenario {
  return {
    name: `jwt-${alg.toLowerCase()}${cacheSize > 0 ? '' : '-nocache'}`,
    description: `jwt only (${alg}, static ${alg === 'HS256' ? 'secret' : 'PEM key'}, one long-lived token, verified-token cache ${cacheSize > 0 ? 'on' : 'off'}), access log on; peers verify the same token with fast-jwt`,
    origins: 1,
    path: '/bench',
    get headers() {
      return { authorization: `Bearer ${alg === 'HS256' ? jwtFixture.hsToken : jwtFixture.token}` }
    },
    get jwtPeers() {
      return { alg, key: alg === 'HS256' ? jwtFixture.secret : jwtFixture.pem, issuer: jwtFixture.issuer, audience: jwtFixture.audience }
    },
    setup: startJwtFixture,
    gatewayConfig: (p) => ({
      ...base(p),
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
      routes: [
        {
          name: 'all',
          paths: ['/*'],
          upstream: 'origin',
          plugins: [
            {
              name: 'jwt',
              config: {
                keys: [alg === 'HS256' ? { secret: jwtFixture.secret, algorithms: ['HS256'] } : { public_key: jwtFixture.pem, algorithms: ['ES256'] }],
                issuer: jwtFixture.issuer,
                audience: jwtFixture.audience,
                cache_size: cacheSize,
              },
            },
          ],
        },
      ],
    }),
  }
}

/** A rate limit that never triggers under the load (so every request still reaches the origin). */
const NEVER_LIMITED = [{ limit: 1_000_000_000, window: '1s' }]

const base = (p: ScenarioPorts): Pick<Config, 'server' | 'admin' | 'workers' | 'log'> => ({
  server: { listen: `127.0.0.1:${p.port}` },
  admin: { listen: `127.0.0.1:${p.adminPort}` },
  // One worker, started as in production (a primary that forks it): the figures are per core.
  // Not --no-cluster: that mode shares one V8 isolate between the control plane (YAML parser, ajv)
  // and the data plane, and Node core's inline caches (process.nextTick's among them) go
  // megamorphic there; measured 78.7 vs 62.2 µs/req on this box (2026-11-23).
  workers: 1,
  log: { level: 'warn', access_log: true },
})

/** The HTTP/2 scenarios' Portico: one h2c listener (HTTP/1.1 on the same port too), an h2c upstream. */
const h2Config = (p: ScenarioPorts, maxStreams = 128): Config => ({
  ...base(p),
  server: { listeners: [{ listen: `127.0.0.1:${p.port}`, protocols: ['http1', 'h2c'], http2: { max_concurrent_streams: maxStreams } }] },
  upstreams: { origin: { protocol: 'h2c', targets: p.origins.map((url) => ({ url })) } },
  routes: [{ name: 'all', paths: ['/*'], upstream: 'origin' }],
})

/**
 * The h2-tls scenario's Portico: an HTTPS listener offering h2 by ALPN (and HTTP/1.1, the default
 * for a tls listener, spelled out), the bench certificate, the same h2c upstream as h2Config.
 */
const h2TlsConfig = (p: ScenarioPorts): Config => ({
  ...base(p),
  server: {
    listeners: [
      {
        listen: `127.0.0.1:${p.port}`,
        tls: { certificates: [{ cert_file: tlsFiles.cert, key_file: tlsFiles.key }] },
        protocols: ['http1', 'h2'],
        http2: { max_concurrent_streams: 128 },
      },
    ],
  },
  upstreams: { origin: { protocol: 'h2c', targets: p.origins.map((url) => ({ url })) } },
  routes: [{ name: 'all', paths: ['/*'], upstream: 'origin' }],
})

/** The gRPC method every call of the grpc scenario goes to (the origin answers any path alike). */
export const GRPC_PATH = '/bench.v1.Bench/Unary'
/** The request of one unary call: a gRPC frame holding a 10-byte protobuf message (field 1, a string). */
export const GRPC_REQUEST = Buffer.from([0, 0, 0, 0, 12, 0x0a, 10, ...Buffer.from('0123456789')])

/** Open streams held through a subject for the RSS figure (run.ts measureStreams). */
export const OPEN_STREAMS = { sessions: 10, perSession: 1000 }
export const openStreamsConfig = (p: ScenarioPorts): Config => h2Config(p, OPEN_STREAMS.perSession)

export const scenarios: Scenario[] = [
  {
    name: 'plain',
    description: 'one route /* to one origin, no plugins, access log on',
    origins: 1,
    path: '/bench',
    headers: {},
    gatewayConfig: (p) => ({
      ...base(p),
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
      routes: [{ name: 'all', paths: ['/*'], upstream: 'origin' }],
    }),
  },
  {
    name: 'observability',
    description: 'plain + OpenTelemetry tracing (10% sampling, OTLP/HTTP to a local sink) + metrics + access log',
    origins: 1,
    path: '/bench',
    headers: {},
    setup: startOtlpSink,
    gatewayConfig: (p) => ({
      ...base(p),
      tracing: { sample_ratio: 0.1, otlp: { endpoint: otlpSink.url } },
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
      routes: [{ name: 'all', paths: ['/*'], upstream: 'origin' }],
    }),
  },
  {
    name: 'rate-limit-local',
    description: 'plain + rate-limit (policy local, per client ip, sliding window; limit never reached), RateLimit headers on',
    origins: 1,
    path: '/bench',
    headers: {},
    gatewayConfig: (p) => ({
      ...base(p),
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
      routes: [{ name: 'all', paths: ['/*'], upstream: 'origin', plugins: [{ name: 'rate-limit', config: { limits: NEVER_LIMITED } }] }],
    }),
  },
  {
    name: 'rate-limit-redis',
    description: 'plain + rate-limit (policy redis on a local redis-server, one EVALSHA per request; limit never reached)',
    origins: 1,
    path: '/bench',
    headers: {},
    redis: true,
    gatewayConfig: (p) => ({
      ...base(p),
      store: { redis: { url: services.redisUrl, timeout: '100ms' } },
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
      routes: [
        { name: 'all', paths: ['/*'], upstream: 'origin', plugins: [{ name: 'rate-limit', config: { policy: 'redis', timeout: '100ms', limits: NEVER_LIMITED } }] },
      ],
    }),
  },
  {
    name: 'cache-hit',
    description:
      'cache hit path: the headers plugin marks the origin response public, max-age=3600 and the cache plugin answers every request after the first from memory (the origin is not asked); compare with plain',
    origins: 1,
    path: '/bench',
    headers: {},
    gatewayConfig: (p) => ({
      ...base(p),
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
      routes: [
        {
          name: 'all',
          paths: ['/*'],
          upstream: 'origin',
          plugins: [
            { name: 'headers', config: { response: { set: { 'cache-control': 'public, max-age=3600' } } } },
            { name: 'cache', config: {} },
          ],
        },
      ],
    }),
  },
  {
    // The control for three-targets-health: same 3 origins, no health checks, so the two together
    // separate what spreading over 3 origins costs from what the health checks cost.
    name: 'three-targets',
    description: 'one route to 3 origins, round-robin, no health checks',
    origins: 3,
    path: '/bench',
    headers: {},
    gatewayConfig: (p) => ({
      ...base(p),
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })), balancer: 'round-robin' } },
      routes: [{ name: 'all', paths: ['/*'], upstream: 'origin' }],
    }),
  },
  {
    name: 'three-targets-health',
    description: 'one route to 3 origins, round-robin, active (1s) + passive health checks on; baselines still proxy to the first origin only',
    origins: 3,
    path: '/bench',
    headers: {},
    gatewayConfig: (p) => ({
      ...base(p),
      upstreams: {
        origin: {
          targets: p.origins.map((url) => ({ url })),
          balancer: 'round-robin',
          health_checks: { active: { path: '/bench', interval: '1s', timeout: '500ms' }, passive: { consecutive_failures: 5 } },
        },
      },
      routes: [{ name: 'all', paths: ['/*'], upstream: 'origin' }],
    }),
  },
  jwtScenario('jwt-rbac', 10_000),
  jwtScenario('jwt-rbac-nocache', 0),
  jwtStatic('HS256', 10_000),
  jwtStatic('HS256', 0),
  jwtStatic('ES256', 10_000),
  jwtStatic('ES256', 0),
  {
    // What a production route does: authenticate every request (no cache: each token seen once),
    // limit per user, shape headers, count and log. The peers only verify the token.
    name: 'chain',
    description:
      'jwt (HS256, cache off) + rate-limit (local, key claim:sub, limit never reached) + headers (request and response set) + metrics + access log',
    origins: 1,
    path: '/bench',
    get headers() {
      return { authorization: `Bearer ${jwtFixture.hsToken}` }
    },
    get jwtPeers() {
      return { alg: 'HS256' as const, key: jwtFixture.secret, issuer: jwtFixture.issuer, audience: jwtFixture.audience }
    },
    setup: startJwtFixture,
    gatewayConfig: (p) => ({
      ...base(p),
      upstreams: { origin: { targets: p.origins.map((url) => ({ url })) } },
      routes: [
        {
          name: 'all',
          paths: ['/*'],
          upstream: 'origin',
          plugins: [
            {
              name: 'jwt',
              config: { keys: [{ secret: jwtFixture.secret, algorithms: ['HS256'] }], issuer: jwtFixture.issuer, audience: jwtFixture.audience, cache_size: 0 },
            },
            { name: 'rate-limit', config: { key: 'claim:sub', limits: NEVER_LIMITED } },
            { name: 'headers', config: { request: { set: { 'x-gateway': 'portico' } }, response: { set: { 'x-served-by': 'portico' } } } },
          ],
        },
      ],
    }),
  },
  {
    name: 'h2',
    description: 'h2c by prior knowledge, h2load -c10 -m20 (20 streams per connection), GET of 100 bytes; portico: h2c listener → h2c upstream, access log on; nginx: listen http2 → proxy_pass HTTP/1.1',
    origins: 1,
    path: '/bench',
    headers: {},
    http2: { kind: 'h2', clients: 10, streams: 20 },
    gatewayConfig: (p) => h2Config(p),
  },
  {
    name: 'grpc',
    description: 'unary gRPC calls (12-byte request message, 100-byte response frame, grpc-status in trailers) over h2c, h2load -c10 -m20; portico: h2c listener → h2c upstream, access log on; nginx: grpc_pass',
    origins: 1,
    path: GRPC_PATH,
    headers: { 'content-type': 'application/grpc', te: 'trailers' },
    http2: { kind: 'grpc', clients: 10, streams: 20 },
    gatewayConfig: (p) => h2Config(p),
  },
  {
    // The h2 scenario behind TLS: with it, what TLS adds to an HTTP/2 request when a connection
    // carries many streams (set against tls, where each HTTP/1.1 connection has one at a time).
    name: 'h2-tls',
    description:
      'HTTP/2 by ALPN over TLS 1.3 (ECDSA P-256 certificate), h2load -c10 -m20 over https://, GET of 100 bytes; portico: https listener (h2) → h2c upstream, access log on; nginx: listen ssl http2 → proxy_pass HTTP/1.1',
    origins: 1,
    path: '/bench',
    headers: {},
    http2: { kind: 'h2', clients: 10, streams: 20 },
    tls: { handshakes: false },
    setup: makeCertificate,
    gatewayConfig: (p) => h2TlsConfig(p),
  },
  {
    name: 'tls',
    description: 'HTTPS, kept-alive connections (TLS 1.3, ECDSA P-256 certificate), GET of 100 bytes, plain proxy to a cleartext origin; access log on',
    origins: 1,
    path: '/bench',
    headers: {},
    tls: { handshakes: false },
    setup: makeCertificate,
    gatewayConfig: (p) => tlsConfig(p),
  },
  {
    name: 'tls-handshake',
    description: 'HTTPS, a new connection per request (Connection: close): a full TLS 1.3 handshake (ECDHE + ECDSA P-256) and one GET of 100 bytes each',
    origins: 1,
    path: '/bench',
    headers: { connection: 'close' },
    tls: { handshakes: true },
    setup: makeCertificate,
    gatewayConfig: (p) => tlsConfig(p),
  },
]
