// The HTTP plumbing every registry stand-in (Consul, Nacos, Kubernetes API) shares: listens on
// port 0 (reports the port), can go down (stops listening and cuts every connection, so clients
// see their requests fail) and come back on the same port, can answer every request with an
// error status or hang every request (for timeouts), and counts requests.
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>

export interface StandIn {
  port: number
  url: string
  requests: number
  /** 0 = answer normally; else every request gets this status. */
  failWith: number
  /** Accept requests and never answer them (the client's timeout must fire). */
  hang: boolean
  down(): Promise<void>
  up(): Promise<void>
  close(): Promise<void>
  /** Called when the stand-in goes down (blocked long-polls must be released). */
  onDown: Set<() => void>
}

export async function standIn(handler: Handler, opts: { tls?: { key: string; cert: string } } = {}): Promise<StandIn> {
  let server: http.Server | null = null
  const s: StandIn = {
    port: 0,
    url: '',
    requests: 0,
    failWith: 0,
    hang: false,
    onDown: new Set(),
    async up() {
      if (server !== null) return
      const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
        s.requests++
        if (s.hang) return
        if (s.failWith !== 0) {
          req.resume()
          res.writeHead(s.failWith, { 'content-type': 'text/plain' })
          res.end('stand-in failure')
          return
        }
        const url = new URL(req.url ?? '/', 'http://stand-in')
        Promise.resolve(handler(req, res, url)).catch((err: unknown) => {
          if (!res.headersSent) res.writeHead(500)
          res.end(String(err))
        })
      }
      const srv: http.Server = opts.tls !== undefined ? https.createServer(opts.tls, listener) : http.createServer(listener)
      srv.keepAliveTimeout = 60_000
      await new Promise<void>((r) => srv.listen(s.port, '127.0.0.1', r))
      s.port = (srv.address() as AddressInfo).port
      s.url = `${opts.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${s.port}`
      server = srv
    },
    async down() {
      const srv = server
      server = null
      if (srv === null) return
      for (const f of s.onDown) f()
      srv.closeAllConnections()
      await new Promise<void>((r) => srv.close(() => r()))
    },
    close() {
      return s.down()
    },
  }
  await s.up()
  return s
}

export async function readBody(req: http.IncomingMessage): Promise<string> {
  let body = ''
  for await (const c of req) body += String(c)
  return body
}

export function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

/** Go-style duration as Consul takes it ("30s", "100ms", "5m"); undefined when absent or invalid. */
export function goDuration(v: string | null): number | undefined {
  if (v === null) return undefined
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v)
  if (m === null) return undefined
  const n = Number(m[1])
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000)
}
