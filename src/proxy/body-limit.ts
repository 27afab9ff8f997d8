// Counts a streamed (chunked) request body and fails the stream once it passes the route's limit.
// Only used when the client sent no Content-Length; declared lengths are checked up front.
import { Transform, type TransformCallback } from 'node:stream'

export class PayloadTooLarge extends Error {
  readonly code = 'PORTICO_PAYLOAD_TOO_LARGE'
}

export class BodyLimit extends Transform {
  #seen = 0
  readonly #max: number

  constructor(max: number) {
    super()
    this.#max = max
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length
    if (this.#seen > this.#max) cb(new PayloadTooLarge(`request body exceeds ${this.#max} bytes`))
    else cb(null, chunk)
  }
}
