// A raw HTTP/2 frame client for the attack tests: frames written by hand over a plain TCP socket
// (RFC 9113 §4.1), HPACK header blocks built from literals and indexed fields (RFC 7541), and a
// reader that parses what the server sends back. node:http2's client refuses to send the malformed
// or abusive sequences these tests need, so they are written byte by byte.
import net from 'node:net'

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const
export const ERR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, CANCEL: 8, ENHANCE_YOUR_CALM: 11 } as const

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(stream & 0x7fffffff, 5)
  return Buffer.concat([h, payload])
}

/** RFC 7541 §5.1 integer with an N-bit prefix; `first` holds the pattern bits above the prefix. */
function int(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1
  if (value < max) return Buffer.from([first | value])
  const out = [first | max]
  let v = value - max
  while (v >= 128) {
    out.push((v % 128) + 128)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return Buffer.from(out)
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'latin1')
  return Buffer.concat([int(b.length, 7, 0), b]) // H = 0: no Huffman
}

/** Literal header field without indexing, new name (§6.2.2). */
export function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), str(name), str(value)])
}

/** Literal header field with incremental indexing, new name (§6.2.1): it enters the dynamic table at index 62. */
export function indexedLiteral(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40]), str(name), str(value)])
}

/** Indexed header field (§6.1): a reference to the static or dynamic table. */
export function indexed(index: number): Buffer {
  return int(index, 7, 0x80)
}

/** A GET request's header block (literals only). */
export function requestBlock(path: string, authority = 'localhost', extra: Buffer[] = []): Buffer {
  return Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal(':path', path), literal(':authority', authority), ...extra])
}

export interface Frame {
  type: number
  flags: number
  stream: number
  payload: Buffer
}

/** A raw connection: preface and an empty SETTINGS sent, frames from the server collected as they come. */
export class RawH2 {
  readonly socket: net.Socket
  readonly frames: Frame[] = []
  closed = false
  #buf = Buffer.alloc(0)
  readonly #ready: Promise<void>

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect(port, host)
    this.socket.on('error', () => undefined) // a reset by the server is what some tests expect
    this.socket.on('close', () => (this.closed = true))
    this.socket.on('data', (c: Buffer) => this.#read(c))
    this.#ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve())
      this.socket.once('error', reject)
    })
    this.socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]))
  }

  ready(): Promise<void> {
    return this.#ready
  }

  #read(c: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, c])
    while (this.#buf.length >= 9) {
      const len = this.#buf.readUIntBE(0, 3)
      if (this.#buf.length < 9 + len) break
      const f = { type: this.#buf[3]!, flags: this.#buf[4]!, stream: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: this.#buf.subarray(9, 9 + len) }
      this.#buf = this.#buf.subarray(9 + len)
      this.frames.push(f)
      // Acknowledge the server's SETTINGS as a real client would.
      if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0 && !this.socket.destroyed) this.socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0))
    }
  }

  /** Writes unless the server already closed; false once it did (EPIPE/reset are expected there). */
  write(b: Buffer): boolean {
    if (this.socket.destroyed || this.closed) return false
    return this.socket.write(b)
  }

  goaway(): { lastStream: number; code: number } | undefined {
    const g = this.frames.find((f) => f.type === FRAME.GOAWAY)
    return g === undefined ? undefined : { lastStream: g.payload.readUInt32BE(0) & 0x7fffffff, code: g.payload.readUInt32BE(4) }
  }

  resets(stream?: number): Array<{ stream: number; code: number }> {
    return this.frames.filter((f) => f.type === FRAME.RST_STREAM && (stream === undefined || f.stream === stream)).map((f) => ({ stream: f.stream, code: f.payload.readUInt32BE(0) }))
  }

  /** Streams the server answered with a HEADERS frame. */
  answered(): number[] {
    return this.frames.filter((f) => f.type === FRAME.HEADERS).map((f) => f.stream)
  }

  close(): void {
    this.socket.destroy()
  }
}
