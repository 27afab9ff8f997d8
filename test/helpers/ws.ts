// WebSocket helpers for tests: a real `ws` origin on loopback (echo, with hooks) and client
// helpers that resolve on the handshake's outcome.
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer, type RawData } from 'ws'

export interface WsOrigin {
  url: string
  port: number
  server: WebSocketServer
  /** TCP connections accepted so far (a refused handshake must not add one). */
  connections: number
  /** Handshake requests the origin saw (headers and path). */
  handshakes: Array<{ url: string; headers: http.IncomingHttpHeaders }>
  /** Close codes the origin received from its clients. */
  closes: number[]
  close(): Promise<void>
}

/**
 * An echo origin: every message comes back as it came (text stays text, binary stays binary),
 * prefixed with `prefix` when set. Messages `close:<code>` make it close with that code;
 * `ping-me` makes it ping the client and answer `pong:<data>` once the pong arrives.
 */
export async function startWsOrigin(opts: { prefix?: string; perMessageDeflate?: boolean; tls?: { cert: string; key: string } } = {}): Promise<WsOrigin> {
  const plain = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(426, { 'content-type': 'text/plain' })
    res.end('websocket only')
  }
  // With `tls`, a wss:// origin: the same echo behind an https server with that certificate.
  const httpServer = opts.tls === undefined ? http.createServer(plain) : https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, plain)
  const server = new WebSocketServer({
    server: httpServer,
    perMessageDeflate: opts.perMessageDeflate ?? false,
    maxPayload: 64 * 1024 * 1024,
    handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
  })
  const origin: WsOrigin = {
    url: '',
    port: 0,
    server,
    connections: 0,
    handshakes: [],
    closes: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of server.clients) c.terminate()
        server.close(() => {
          httpServer.closeAllConnections()
          httpServer.close(() => resolve())
        })
      }),
  }
  httpServer.on('connection', () => origin.connections++)
  server.on('connection', (ws, req) => {
    origin.handshakes.push({ url: req.url ?? '', headers: req.headers })
    ws.on('close', (code) => origin.closes.push(code))
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
      if (!isBinary) {
        const text = buf.toString()
        if (text.startsWith('close:')) return ws.close(Number(text.slice(6)), 'origin says bye')
        if (text === 'ping-me') {
          ws.once('pong', (d) => ws.send(`pong:${d.toString()}`))
          return ws.ping('from-origin')
        }
        return ws.send((opts.prefix ?? '') + text)
      }
      ws.send(opts.prefix === undefined ? buf : Buffer.concat([Buffer.from(opts.prefix), buf]), { binary: true })
    })
  })
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve))
  const port = (httpServer.address() as AddressInfo).port
  origin.port = port
  origin.url = `${opts.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`
  return origin
}

/** Opens a client; resolves once open, rejects with the status of a refused handshake. */
export function openWs(
  url: string,
  opts: { headers?: Record<string, string>; protocols?: string[]; perMessageDeflate?: boolean; ca?: string; servername?: string } = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const tls = opts.ca === undefined ? {} : { ca: opts.ca, servername: opts.servername }
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers, perMessageDeflate: opts.perMessageDeflate ?? false, maxPayload: 64 * 1024 * 1024, ...tls })
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => reject(Object.assign(new Error(`handshake refused: ${res.statusCode}`), { status: res.statusCode, body, headers: res.headers })))
    })
    ws.once('error', reject)
  })
}

/** The refusal of a handshake expected to fail: status, parsed JSON body and headers. */
export async function refusedWs(url: string, opts: Parameters<typeof openWs>[1] = {}): Promise<{ status: number; body: Record<string, unknown>; headers: http.IncomingHttpHeaders }> {
  try {
    const ws = await openWs(url, opts)
    ws.terminate()
  } catch (e) {
    const err = e as { status?: number; body?: string; headers?: http.IncomingHttpHeaders }
    if (err.status === undefined) throw e
    return { status: err.status, body: JSON.parse(err.body ?? '{}') as Record<string, unknown>, headers: err.headers ?? {} }
  }
  throw new Error('the handshake was expected to be refused, and opened')
}

/** The next message of `ws` (text as string, binary as Buffer). */
export function nextMessage(ws: WebSocket): Promise<string | Buffer> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data: RawData, isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
      resolve(isBinary ? buf : buf.toString())
    })
    ws.once('close', (code) => reject(new Error(`closed (${code}) before a message`)))
  })
}

/** Resolves with the close code and reason once `ws` is closed. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 1006, reason: '' })
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
}
