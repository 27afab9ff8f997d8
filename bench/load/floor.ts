// The floor: the least a Node.js reverse proxy can do. node:http in front, one undici Pool with
// keep-alive behind, bodies streamed both ways, hop-by-hop headers dropped, a bare 502 when the
// origin fails. No routing, no logging, no limits: every gateway does at least this much, so its
// CPU per request is the yardstick the other subjects are divided by.
import { createServer } from 'node:http'
import { pipeline } from 'node:stream'
import { Pool } from 'undici'
import type { IncomingHttpHeaders } from 'undici/types/header.js'

const port = Number(process.env.PORT)
const origin = process.env.ORIGIN
if (!origin || !port) throw new Error('floor: PORT and ORIGIN must be set')

const pool = new Pool(origin, { keepAliveTimeout: 60_000 })

// RFC 9110 §7.6.1: connection-specific fields are not forwarded.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

function dropHop(raw: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (!HOP.has(name.toLowerCase())) out.push(name, raw[i + 1] as string)
  }
  return out
}

function dropHopResponse(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value !== undefined && !HOP.has(name)) out[name] = value
  }
  return out
}

const server = createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
  pool
    .request({
      method: req.method as 'GET',
      path: req.url ?? '/',
      headers: dropHop(req.rawHeaders),
      body: hasBody ? req : null,
    })
    .then(
      ({ statusCode, headers, body }) => {
        res.writeHead(statusCode, dropHopResponse(headers))
        // pipeline destroys the upstream body when the client goes away, which aborts the request.
        pipeline(body, res, () => {})
      },
      () => {
        if (!res.headersSent) {
          res.writeHead(502, { 'content-length': '0' })
          res.end()
        } else {
          res.destroy()
        }
      },
    )
})
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
