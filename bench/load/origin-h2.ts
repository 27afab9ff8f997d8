// The HTTP/2 scenarios' origin (h2, grpc, the open-streams RSS figure): as cheap as origin.ts, one
// process with two servers so its CPU is one pid.
// - PORT: h2c by prior knowledge. A GET gets the same 100 bytes as origin.ts; a gRPC call
//   (content-type application/grpc) gets one fixed 100-byte gRPC frame and `grpc-status: 0` in
//   trailers, without decoding the request (a real server would, equally for every subject);
//   `GET /hold` gets its response head and then nothing until the client leaves (open streams).
// - H1_PORT: HTTP/1.1 with the same 100 bytes, for nginx in the h2 scenario: nginx's proxy_pass
//   speaks only HTTP/1.x upstream (its HTTP/2 upstream is grpc_pass, used in the grpc scenario).
import { createServer as createH1 } from 'node:http'
import { createServer } from 'node:http2'
import type { ServerHttp2Stream } from 'node:http2'

const body = Buffer.alloc(100, 'x')
const headers = { ':status': 200, 'content-type': 'text/plain', 'content-length': String(body.length) }
// A gRPC message frame: flag 0 (not compressed), 4-byte big-endian length, then the message (95
// bytes of a protobuf string field: tag 0x0a, length 93): 100 bytes on the wire, like the GET.
const grpcFrame = Buffer.concat([Buffer.from([0, 0, 0, 0, 95, 0x0a, 93]), Buffer.alloc(93, 'x')])
const grpcHeaders = { ':status': 200, 'content-type': 'application/grpc' }
const grpcTrailers = { 'grpc-status': '0' }
const held = { ':status': 200, 'content-type': 'text/plain' }

function grpc(stream: ServerHttp2Stream): void {
  // Answer once the call's request is in, as a unary server does.
  stream.on('end', () => {
    if (stream.destroyed) return
    stream.respond(grpcHeaders, { waitForTrailers: true })
    stream.once('wantTrailers', () => stream.sendTrailers(grpcTrailers))
    stream.end(grpcFrame)
  })
  stream.resume()
}

// No stream limit of our own: the subjects' limits are what the open-streams figure is about.
const server = createServer({ settings: { maxConcurrentStreams: 100_000 } })
server.on('stream', (stream, h) => {
  stream.on('error', () => {})
  if (String(h['content-type'] ?? '').startsWith('application/grpc')) return grpc(stream)
  stream.resume()
  if (h[':path'] === '/hold') {
    stream.respond(held)
    return
  }
  stream.respond(headers)
  stream.end(body)
})
server.on('sessionError', () => {})
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1')

const h1 = createH1((req, res) => {
  req.resume()
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) })
  res.end(body)
})
h1.keepAliveTimeout = 65_000
h1.listen(Number(process.env.H1_PORT ?? 0), '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
