// The h2 floor: the least a Node.js HTTP/2 proxy can do. A node:http2 cleartext server (prior
// knowledge) in front; every stream is forwarded as a stream of ONE node:http2 client session to
// the origin (h2c), bodies piped both ways, connection-specific headers dropped (HTTP/2 has none
// to drop but `te` other than trailers), trailers relayed (gRPC's status is in them), the upstream
// stream cancelled when the client's goes away, a bare 502 when the origin fails. No routing, no
// logging, no limits: the yardstick of the h2 and grpc scenarios (see floor.ts for HTTP/1.1).
// With TLS_CERT/TLS_KEY (the h2-tls scenario), as floor.ts: TLS in front, HTTP/2 by ALPN; the
// upstream session stays h2c.
import { readFileSync } from 'node:fs'
import { connect, constants, createSecureServer, createServer } from 'node:http2'
import type { ClientHttp2Session, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2'

const port = Number(process.env.PORT)
const origin = process.env.ORIGIN
if (!origin || !port) throw new Error('floor-h2: PORT and ORIGIN must be set')

// The client side of the run opens as many streams as the gateway allows (10,000 for the open
// streams figure): neither side of the floor limits them, as the least a proxy does.
const UNLIMITED = { maxConcurrentStreams: 100_000 }
let session: ClientHttp2Session | null = null
function upstream(): ClientHttp2Session {
  if (session === null || session.destroyed || session.closed) {
    const s = connect(origin as string, { settings: UNLIMITED, peerMaxConcurrentStreams: 100_000 })
    s.on('error', () => {})
    s.once('close', () => {
      if (session === s) session = null
    })
    session = s
  }
  return session
}

const { HTTP2_HEADER_STATUS } = constants

function forwardHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const name in h) if (name !== 'te' || h.te === 'trailers') out[name] = h[name]
  return out
}

function responseHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const name in h) out[name] = h[name]
  return out
}

// createSecureServer offers ALPN h2 alone (no allowHTTP1): a client that cannot speak HTTP/2 is
// not served, as the least an HTTP/2 proxy does.
const tlsCert = process.env.TLS_CERT
const server = tlsCert ? createSecureServer({ cert: readFileSync(tlsCert), key: readFileSync(process.env.TLS_KEY ?? ''), settings: UNLIMITED }) : createServer({ settings: UNLIMITED })
server.on('stream', (down, h) => {
  down.on('error', () => {})
  const hasBody = h[':method'] !== 'GET' && h[':method'] !== 'HEAD'
  const up = upstream().request(forwardHeaders(h), { endStream: !hasBody })
  up.on('error', () => {
    if (down.destroyed) return
    if (!down.headersSent) down.respond({ [HTTP2_HEADER_STATUS]: 502, 'content-length': '0' }, { endStream: true })
    else down.close(constants.NGHTTP2_INTERNAL_ERROR)
  })
  if (hasBody) down.pipe(up)
  let trailers: OutgoingHttpHeaders | null = null
  up.on('response', (rh) => {
    if (down.destroyed) return
    // Only a gRPC answer is known to end in trailers; anything else is answered without waiting.
    const grpc = String(rh['content-type'] ?? '').startsWith('application/grpc')
    down.respond(responseHeaders(rh), grpc ? { waitForTrailers: true } : {})
    if (grpc) down.once('wantTrailers', () => down.sendTrailers(trailers ?? { 'grpc-status': '0' }))
    up.pipe(down)
  })
  up.on('trailers', (t) => (trailers = responseHeaders(t)))
  down.once('close', () => {
    if (!up.closed) up.close(constants.NGHTTP2_CANCEL)
  })
})
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
