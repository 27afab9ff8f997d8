// gRPC-Web (grpc/doc/PROTOCOL-WEB.md) translated to gRPC for the upstream, as Envoy's grpc_web
// filter does (docs/grpc.md#grpc-web). A gRPC-Web call is a POST with content-type
// application/grpc-web[+proto] (binary) or application/grpc-web-text[+proto] (the body base64),
// over HTTP/1.1 or HTTP/2. Upstream it is an ordinary gRPC call (content-type application/grpc,
// TE: trailers, the body decoded from base64 for -text); back to the client the head's content-type
// says grpc-web again, messages pass through (base64 for -text), and the trailers, which HTTP/1.1
// and browsers cannot read, come as the body's last frame: flag 0x80, a 4-byte length, then
// `name: value\r\n` lines. A trailers-only answer (grpc-status in the head) stays headers only,
// which the protocol allows. Only exchanges with ctx.grpcWeb set get here.
import { Transform, type TransformCallback } from 'node:stream'
import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import { HOP_BY_HOP } from '../core/address.js'
import type { HeaderList } from './forward.js'

/** ctx.grpcWeb: not gRPC-Web / binary body / base64 body. */
export const GrpcWeb = { None: 0, Binary: 1, Text: 2 } as const
export type GrpcWeb = (typeof GrpcWeb)[keyof typeof GrpcWeb]

/** The suffix after the type (`+proto`, `;charset=…`) is at `at`: it must be the end or `+`/`;`. */
function ends(ct: string, at: number): boolean {
  if (ct.length === at) return true
  const c = ct.charCodeAt(at)
  return c === 43 /* + */ || c === 59 /* ; */
}

/** The gRPC-Web kind of a content-type already known to start with application/grpc (handler.ts). */
export function grpcWebMode(ct: string): GrpcWeb {
  if (ct.length < 20 || ct.charCodeAt(16) !== 45 /* - */ || !ct.startsWith('application/grpc-web')) return GrpcWeb.None
  if (ends(ct, 20)) return GrpcWeb.Binary
  if (ct.startsWith('-text', 20) && ends(ct, 25)) return GrpcWeb.Text
  return GrpcWeb.None
}

/** `+proto`, `+json`, … of a gRPC-Web content-type, '' when none. */
function subtype(ct: string, mode: GrpcWeb): string {
  const at = mode === GrpcWeb.Text ? 25 : 20
  if (ct.charCodeAt(at) !== 43 /* + */) return ''
  const semi = ct.indexOf(';', at)
  return (semi === -1 ? ct.slice(at) : ct.slice(at, semi)).trim()
}

/** The upstream call's content-type: application/grpc with the client's message subtype. */
export function upstreamType(ct: string, mode: GrpcWeb): string {
  return 'application/grpc' + subtype(ct, mode)
}

/** The client's response content-type: gRPC-Web of the request's kind (`+proto` unless it named another). */
export function responseType(ct: string, mode: GrpcWeb): string {
  return (mode === GrpcWeb.Text ? 'application/grpc-web-text' : 'application/grpc-web') + (subtype(ct, mode) || '+proto')
}

/** The response head towards a gRPC-Web client: its content-type, and no Content-Length (the body changes). */
export function webHead(headers: Record<string, string | string[]> | HeaderList, type: string): void {
  if (Array.isArray(headers)) {
    let typed = false
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]
      if (k === 'content-type') {
        headers[i + 1] = type
        typed = true
      } else if (k === 'content-length') {
        headers.splice(i, 2)
        i -= 2
      }
    }
    if (!typed) headers.push('content-type', type)
  } else {
    delete headers['content-length']
    headers['content-type'] = type
  }
}

/**
 * The trailers as gRPC-Web's trailer frame: 0x80, the length, `name: value\r\n` per field (names
 * lower-case, as HTTP/2 has them). Pseudo and hop-by-hop fields are left out, as for relayed trailers.
 */
export function trailerFrame(trailers: Record<string, string | string[] | undefined>): Buffer {
  let text = ''
  for (const k in trailers) {
    const v = trailers[k]
    if (v === undefined || k.charCodeAt(0) === 58 /* : */ || HOP_BY_HOP.has(k)) continue
    if (Array.isArray(v)) for (const one of v) text += `${k}: ${one}\r\n`
    else text += `${k}: ${v}\r\n`
  }
  const body = Buffer.from(text, 'latin1')
  const frame = Buffer.allocUnsafe(5 + body.length)
  frame[0] = 0x80
  frame.writeUInt32BE(body.length, 1)
  body.copy(frame, 5)
  return frame
}

/**
 * -text responses: base64 of a byte stream cut anywhere. Whole 3-byte groups are encoded now (no
 * padding mid-stream), the 0–2 bytes left over wait for the next chunk (`carry`); end() encodes
 * the rest with its padding.
 */
export class Base64Encoder {
  #carry: Buffer | null = null

  push(chunk: Buffer): string {
    const buf = this.#carry === null ? chunk : Buffer.concat([this.#carry, chunk])
    const whole = buf.length - (buf.length % 3)
    this.#carry = whole === buf.length ? null : buf.subarray(whole)
    return whole === 0 ? '' : buf.toString('base64', 0, whole)
  }

  end(last?: Buffer): string {
    const rest = last === undefined ? this.#carry : this.#carry === null ? last : Buffer.concat([this.#carry, last])
    this.#carry = null
    return rest === null ? '' : rest.toString('base64')
  }
}

/**
 * -text requests: the body is base64, and a client may send each message base64'd on its own, so
 * padding can come mid-stream ("AAAA…=AAAA…"), which Buffer's decoder stops at. Decodes whole
 * 4-character groups as they come, a padded group ending a segment; keeps a partial group for the
 * next chunk. A character outside the alphabet fails the stream (→ 400 from the upstream call's error).
 */
export class Base64Decoder extends Transform {
  #pending = ''

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const s = this.#pending + chunk.toString('latin1').replace(/[\r\n\t ]/g, '')
    const whole = s.length - (s.length % 4)
    this.#pending = s.slice(whole)
    if (whole === 0) return cb()
    const text = s.slice(0, whole)
    if (!/^[A-Za-z0-9+/=_-]*$/.test(text)) return cb(new InvalidGrpcWebText('the grpc-web-text body is not base64'))
    cb(null, decodeSegments(text))
  }

  override _flush(cb: TransformCallback): void {
    if (this.#pending !== '') return cb(new InvalidGrpcWebText('the grpc-web-text body ends inside a base64 group'))
    cb()
  }
}

export class InvalidGrpcWebText extends Error {
  readonly code = 'PORTICO_GRPC_WEB_TEXT'
}

/** Whole 4-character groups: each run that ends in padding is decoded on its own. */
function decodeSegments(text: string): Buffer {
  if (!text.includes('=')) return Buffer.from(text, 'base64')
  const parts: Buffer[] = []
  let from = 0
  for (let i = 0; i < text.length; i += 4) {
    if (text.charCodeAt(i + 3) === 61 /* = */) {
      parts.push(Buffer.from(text.slice(from, i + 4), 'base64'))
      from = i + 4
    }
  }
  if (from < text.length) parts.push(Buffer.from(text.slice(from), 'base64'))
  return Buffer.concat(parts)
}

/** What the -text handler and endWeb need of the exchange. */
export interface WebExchange {
  readonly res: import('node:http').ServerResponse
  /** The encoder of the try whose response goes to the client. */
  webEnc: Base64Encoder | null
  grpcStatus: string | undefined
  bytes: number
}

/**
 * -text: wraps one try's dispatch handler and base64-encodes its response data before the
 * exchange streams it. One per try, each with its own encoder, so the bytes of a discarded
 * (retried) try never reach the winner's carry; the try whose head the exchange takes makes its
 * encoder the exchange's (webEnc), for the end of the body. Only -text calls pay for it.
 */
export class WebTextHandler implements Dispatcher.DispatchHandler {
  readonly inner: Dispatcher.DispatchHandler
  readonly ex: WebExchange
  readonly enc = new Base64Encoder()

  constructor(inner: Dispatcher.DispatchHandler, ex: WebExchange) {
    this.inner = inner
    this.ex = ex
  }

  onRequestStart(c: Dispatcher.DispatchController, context: unknown): void {
    this.inner.onRequestStart?.(c, context)
  }

  onResponseStart(c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, message: string): void {
    this.ex.webEnc = this.enc
    this.inner.onResponseStart?.(c, status, headers, message)
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    const s = this.enc.push(chunk)
    if (s !== '') this.inner.onResponseData?.(c, Buffer.from(s, 'latin1'))
  }

  onResponseEnd(c: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.inner.onResponseEnd?.(c, trailers)
  }

  onResponseError(c: Dispatcher.DispatchController, err: Error): void {
    this.inner.onResponseError?.(c, err)
  }
}

/**
 * Ends a gRPC-Web response with `trailers`: the trailer frame (base64 with the rest of the body for
 * -text) written as the body's last bytes. A trailers-only head still staged (not sent) carries the
 * status itself, so it just ends.
 */
export function endWeb(ex: WebExchange, text: boolean, trailers: Record<string, string | string[] | undefined>): void {
  const res = ex.res
  const st = trailers['grpc-status']
  if (typeof st === 'string') ex.grpcStatus = st
  if (!res.headersSent && res.getHeader('grpc-status') !== undefined) {
    res.end()
    return
  }
  const frame = trailerFrame(trailers)
  if (text) {
    const s = (ex.webEnc ?? new Base64Encoder()).end(frame)
    ex.bytes += s.length
    res.end(s, 'latin1')
  } else {
    ex.bytes += frame.length
    res.end(frame)
  }
}

/** A whole -text body (buffered by a plugin) decoded, or null when it is not base64 in whole groups. */
export function decodeGrpcWebText(buf: Buffer): Buffer | null {
  const text = buf.toString('latin1').replace(/[\r\n\t ]/g, '')
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/=_-]*$/.test(text)) return null
  return decodeSegments(text)
}
