// The floor: the least a Node.js reverse proxy can do. node:http in front, one undici Pool with
// keep-alive behind, bodies streamed both ways with backpressure, hop-by-hop headers dropped, the
// upstream request aborted when the client leaves, a bare 502 when the origin fails. No routing,
// no logging, no limits: every gateway does at least this much, so its CPU per request is the
// yardstick the other subjects are divided by.
// With JWT_ALG set (the jwt scenarios' "+fast-jwt" subject): every request's bearer token is
// verified first with fast-jwt (JWT_KEY, JWT_ISS, JWT_AUD; its cache off, as each token were new),
// a bare 401 when it fails. Loaded only then, so the plain floor carries none of it.
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { ServerResponse } from 'node:http'
import { Pool } from 'undici'
import type { Dispatcher } from 'undici'
import { authorized, unauthorized } from './peer-jwt.js'

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

function dropHopResponse(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name in headers) if (!HOP.has(name)) out[name] = headers[name] as string | string[]
  return out
}

/**
 * One exchange, as undici's dispatch handler: the upstream response goes straight into `res`,
 * without the Readable that pool.request() would build in between (Portico dispatches the same
 * way, so the two are compared on equal terms).
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly res: ServerResponse
  controller: Dispatcher.DispatchController | null = null
  /** The client went away: stop reading from the origin and release the connection. */
  readonly onClose = (): void => {
    if (!this.res.writableFinished) this.controller?.abort(new Error('client closed'))
  }

  constructor(res: ServerResponse) {
    this.res = res
    res.once('close', this.onClose)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>): void {
    this.res.writeHead(statusCode, dropHopResponse(headers))
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause()
      this.res.once('drain', () => controller.resume())
    }
  }

  onResponseEnd(): void {
    this.res.end()
  }

  onResponseError(_c: Dispatcher.DispatchController, _err: Error): void {
    const res = this.res
    if (res.headersSent) {
      res.destroy()
    } else {
      res.writeHead(502, { 'content-length': '0' })
      res.end()
    }
  }
}

function proxy(req: IncomingMessage, res: ServerResponse): void {
  if (!authorized(req.headers.authorization)) return unauthorized(res)
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
  pool.dispatch({ method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers: dropHop(req.rawHeaders), body: hasBody ? req : null }, new Exchange(res))
}

// TLS_CERT/TLS_KEY (the TLS scenarios): the least a Node HTTPS proxy does, node:https in front.
const tlsCert = process.env.TLS_CERT
const server = tlsCert ? createHttpsServer({ cert: readFileSync(tlsCert), key: readFileSync(process.env.TLS_KEY ?? '') }, proxy) : createServer(proxy)
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
