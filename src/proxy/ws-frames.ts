// The little of RFC 6455 framing the gateway needs while it pipes a WebSocket session's bytes
// untouched: where frames end (so a close frame the gateway injects at a drain, idle timeout or
// max lifetime lands between two frames, never inside one) and the close frame itself. Frames are
// never buffered or parsed for their payload: a tracker reads each frame's 2..14 header bytes and
// then skips its payload by count, so a chunk costs O(frames that start in it).
import { randomFillSync } from 'node:crypto'

/** Follows one direction's frame boundaries from the chunks that direction carried. */
export class FrameTracker {
  /** Payload bytes of the current frame still to come. */
  #remaining = 0
  /** Header bytes of the next frame collected so far (a header may span chunks). */
  readonly #head = Buffer.alloc(14)
  #headLen = 0

  /** True when every frame seen so far is complete: a frame written now starts a new one. */
  get atBoundary(): boolean {
    return this.#remaining === 0 && this.#headLen === 0
  }

  feed(chunk: Buffer): void {
    const n = chunk.length
    let i = 0
    while (i < n) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, n - i)
        this.#remaining -= take
        i += take
        continue
      }
      const h = this.#head
      h[this.#headLen++] = chunk[i++]!
      if (this.#headLen < 2) continue
      const len7 = h[1]! & 0x7f
      const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (h[1]! & 0x80 ? 4 : 0)
      if (this.#headLen < need) continue
      // 64-bit lengths above 2^53 are not real traffic; Number() keeps the count monotone anyway.
      this.#remaining = len7 < 126 ? len7 : len7 === 126 ? h.readUInt16BE(2) : Number(h.readBigUInt64BE(2))
      this.#headLen = 0
    }
  }
}

/** A close frame with `code` (RFC 6455 §5.5.1): unmasked towards the client, masked towards the upstream (§5.3). */
export function closeFrame(code: number, masked: boolean): Buffer {
  if (!masked) return Buffer.from([0x88, 0x02, code >> 8, code & 0xff])
  const f = Buffer.alloc(8)
  f[0] = 0x88
  f[1] = 0x82
  randomFillSync(f, 2, 4)
  f[6] = (code >> 8) ^ f[2]!
  f[7] = (code & 0xff) ^ f[3]!
  return f
}
