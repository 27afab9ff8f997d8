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

/**
 * A gRPC call's streamed request body (HTTP/2, no Content-Length) on a route that retries: counted
 * like BodyLimit and streamed to the first try as it comes, with a copy kept while it stays within
 * `max_buffered_body`. A retry replays the copy, and only when the client's stream had ended
 * within it (replay()); a larger or still-open body makes the call not retryable, the same rule as
 * HTTP's (only a buffered body is replayed).
 */
export class ReplayableBody extends BodyLimit {
  readonly #keep: number
  #chunks: Buffer[] | null = []
  #size = 0
  #ended = false
  #buffer: Buffer | null = null

  constructor(max: number, keep: number) {
    super(max)
    this.#keep = keep
  }

  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#chunks !== null) {
      this.#size += chunk.length
      if (this.#size > this.#keep) this.#chunks = null
      else this.#chunks.push(chunk)
    }
    super._transform(chunk, enc, cb)
  }

  override _flush(cb: TransformCallback): void {
    this.#ended = true
    cb()
  }

  /** The whole body for a retry, or null when it cannot be replayed (larger than kept, or not ended). */
  replay(): Buffer | null {
    if (!this.#ended || this.#chunks === null) return null
    return (this.#buffer ??= Buffer.concat(this.#chunks, this.#size))
  }
}
