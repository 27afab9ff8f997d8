// The frame-boundary tracker the gateway uses to place its own close frames (proxy/ws-frames.ts):
// frames of every length encoding, masked or not, split across chunks at every byte.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FrameTracker, closeFrame } from '../../../src/proxy/ws-frames.js'

function frame(len: number, masked: boolean): Buffer {
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0))
  head[0] = 0x82
  head[1] = (masked ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127)
  if (ext === 2) head.writeUInt16BE(len, 2)
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2)
  return Buffer.concat([head, Buffer.alloc(len, 7)])
}

test('boundaries of frames with 7-bit, 16-bit and 64-bit lengths, masked and not, split at every byte', () => {
  for (const masked of [false, true]) {
    const frames = [frame(0, masked), frame(5, masked), frame(125, masked), frame(126, masked), frame(70_000, masked)]
    const stream = Buffer.concat(frames)
    const ends = new Set<number>()
    let at = 0
    for (const f of frames) ends.add((at += f.length))
    // Byte by byte over the small part, then the large frame in two pieces.
    const t = new FrameTracker()
    assert.equal(t.atBoundary, true)
    const smallEnd = stream.length - frames.at(-1)!.length
    for (let i = 0; i < smallEnd; i++) {
      t.feed(stream.subarray(i, i + 1))
      assert.equal(t.atBoundary, ends.has(i + 1), `after byte ${i + 1} (masked ${masked})`)
    }
    t.feed(stream.subarray(smallEnd, smallEnd + 3))
    assert.equal(t.atBoundary, false)
    t.feed(stream.subarray(smallEnd + 3))
    assert.equal(t.atBoundary, true)
  }
})

test('many frames in one chunk', () => {
  const t = new FrameTracker()
  t.feed(Buffer.concat(Array.from({ length: 100 }, (_, i) => frame(i, true))))
  assert.equal(t.atBoundary, true)
  t.feed(frame(10, true).subarray(0, 5))
  assert.equal(t.atBoundary, false)
})

test('close frames: 1001, unmasked to the client, masked to the upstream', () => {
  assert.deepEqual([...closeFrame(1001, false)], [0x88, 0x02, 0x03, 0xe9])
  const m = closeFrame(1001, true)
  assert.equal(m[0], 0x88)
  assert.equal(m[1], 0x82)
  assert.equal(m[6]! ^ m[2]!, 0x03)
  assert.equal(m[7]! ^ m[3]!, 0xe9)
})
