// The benchmark origin: the cheapest possible upstream, so the proxy in front of it is what gets
// measured. A fixed 100-byte body with content-length (no chunked encoding) on keep-alive
// connections. Run as its own process, pinned next to the load generator (see run.ts).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const body = Buffer.alloc(100, 'x')
const headers = { 'content-type': 'text/plain', 'content-length': String(body.length) }

const server = createServer((req, res) => {
  // Drain any request body so the connection stays reusable; GETs have none.
  req.resume()
  res.writeHead(200, headers)
  res.end(body)
})
// Longer than every proxy's idle pool timeout, so the proxy decides when connections close and a
// measurement never pays for reconnects the origin forced.
server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`)
})
process.on('SIGTERM', () => process.exit(0))
