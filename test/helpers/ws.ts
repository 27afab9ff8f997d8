// WebSocket helpers for tests: a real `ws` origin on loopback (echo, with hooks) and client
// helpers that resolve on the handshake's outcome.
import http from 'node:http'
import { randomBytes } from 'node:crypto'
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

/** One RFC 6455 frame as a client writes it (masked, §5.3), or a server (unmasked). */
export function wsFrame(opcode: number, payload: Buffer | string, opts: { fin?: boolean; masked?: boolean } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload
  const masked = opts.masked ?? true
  const n = data.length
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8
  const head = Buffer.alloc(2 + lenBytes + (masked ? 4 : 0))
  head[0] = (opts.fin === false ? 0 : 0x80) | opcode
  head[1] = (masked ? 0x80 : 0) | (lenBytes === 0 ? n : lenBytes === 2 ? 126 : 127)
  if (lenBytes === 2) head.writeUInt16BE(n, 2)
  else if (lenBytes === 8) head.writeBigUInt64BE(BigInt(n), 2)
  if (!masked) return Buffer.concat([head, data])
  const mask = randomBytes(4)
  mask.copy(head, 2 + lenBytes)
  const out = Buffer.alloc(n)
  for (let i = 0; i < n; i++) out[i] = data[i]! ^ mask[i & 3]!
  return Buffer.concat([head, out])
}

/** A close frame's payload: the code, then the reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason))
  b.writeUInt16BE(code, 0)
  b.write(reason, 2)
  return b
}

export interface WsMessage {
  /** 1 text, 2 binary, 8 close, 9 ping, 10 pong (a fragmented message has its first frame's opcode). */
  opcode: number
  data: Buffer
}

/**
 * Reads whole messages off a byte stream of frames (any framing the peer chose: fragmented
 * messages are joined, control frames come out as they arrive). For raw clients, e.g. an HTTP/2
 * extended CONNECT stream.
 */
export class WsReader {
  #buf: Buffer = Buffer.alloc(0)
  #parts: Buffer[] = []
  #first = 0
  readonly #ready: WsMessage[] = []
  readonly #waiting: Array<{ resolve(m: WsMessage): void; reject(e: Error): void }> = []
  #ended: Error | null = null

  feed(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    for (;;) {
      const b = this.#buf
      if (b.length < 2) return
      const len7 = b[1]! & 0x7f
      const masked = (b[1]! & 0x80) !== 0
      const lenBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0
      const headLen = 2 + lenBytes + (masked ? 4 : 0)
      if (b.length < headLen) return
      const n = len7 < 126 ? len7 : len7 === 126 ? b.readUInt16BE(2) : Number(b.readBigUInt64BE(2))
      if (b.length < headLen + n) return
      let payload = b.subarray(headLen, headLen + n)
      if (masked) {
        const mask = b.subarray(2 + lenBytes, headLen)
        payload = Buffer.from(payload.map((x, i) => x ^ mask[i & 3]!))
      }
      this.#buf = b.subarray(headLen + n)
      const fin = (b[0]! & 0x80) !== 0
      const opcode = b[0]! & 0x0f
      if (opcode >= 8) this.#push({ opcode, data: Buffer.from(payload) })
      else {
        if (opcode !== 0) this.#first = opcode
        this.#parts.push(Buffer.from(payload))
        if (fin) {
          this.#push({ opcode: this.#first, data: Buffer.concat(this.#parts) })
          this.#parts = []
        }
      }
    }
  }

  /** The byte stream ended: pending and later next() calls reject. */
  end(): void {
    this.#ended = new Error('the stream ended before a message')
    for (const w of this.#waiting.splice(0)) w.reject(this.#ended)
  }

  #push(m: WsMessage): void {
    const w = this.#waiting.shift()
    if (w !== undefined) w.resolve(m)
    else this.#ready.push(m)
  }

  next(): Promise<WsMessage> {
    const m = this.#ready.shift()
    if (m !== undefined) return Promise.resolve(m)
    if (this.#ended !== null) return Promise.reject(this.#ended)
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }))
  }
}
