// Real origin servers on free loopback ports (port 0), closed by the caller.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Origin {
  url: string
  port: number
  server: http.Server
  /** Requests seen so far (method, url, headers), for assertions. */
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>
  close(): Promise<void>
}

export type OriginHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/** Default handler: echoes method, url and headers as JSON. */
export const echo: OriginHandler = (req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
}

export async function startOrigin(handler: OriginHandler = echo): Promise<Origin> {
  const seen: Origin['seen'] = []
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    handler(req, res)
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export { freePort } from './ports.js'
