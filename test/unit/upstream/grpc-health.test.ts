// The grpc.health.v1 messages the active check encodes and decodes by hand (upstream/health/grpc-health.ts),
// checked byte by byte against the protobuf wire format (field 1: tag 0x0a length-delimited, 0x08 varint).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeHealthResponse, encodeHealthRequest } from '../../../src/upstream/health/grpc-health.js'

const frame = (msg: number[]): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), Buffer.from(msg)])

test('HealthCheckRequest: empty service is an empty message; a name is field 1, length-delimited', () => {
  assert.deepEqual(encodeHealthRequest(''), Buffer.from([0, 0, 0, 0, 0]))
  assert.deepEqual(encodeHealthRequest('a.B'), frame([0x0a, 3, 0x61, 0x2e, 0x42]))
  const long = 'x'.repeat(200)
  const enc = encodeHealthRequest(long)
  assert.deepEqual([...enc.subarray(5, 8)], [0x0a, 0xc8, 0x01], 'a 200-byte name takes a two-byte varint length')
  assert.equal(enc.readUInt32BE(1), 203)
})

test('HealthCheckResponse: status field 1; absent = UNKNOWN; unknown fields skipped; malformed = -1', () => {
  assert.equal(decodeHealthResponse(frame([0x08, 1])), 1)
  assert.equal(decodeHealthResponse(frame([0x08, 2])), 2)
  assert.equal(decodeHealthResponse(frame([])), 0)
  assert.equal(decodeHealthResponse(frame([0x12, 2, 0x61, 0x62, 0x08, 1])), 1, 'an unknown length-delimited field before it')
  assert.equal(decodeHealthResponse(Buffer.from([1, 0, 0, 0, 2, 0x08, 1])), -1, 'compressed')
  assert.equal(decodeHealthResponse(Buffer.from([0, 0, 0, 0, 3, 0x08, 1])), -1, 'length mismatch')
  assert.equal(decodeHealthResponse(frame([0x08])), -1, 'truncated varint')
  assert.equal(decodeHealthResponse(Buffer.alloc(0)), -1)
})
