// The gateway's error catalogue as gRPC statuses, grpc-message encoding and the grpc-timeout header
// (src/proxy/grpc-status.ts). Pure functions: no sockets.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ERRORS, type ErrorCode } from '../../../src/core/errors.js'
import {
  GrpcStatus,
  decodeGrpcMessage,
  encodeGrpcMessage,
  formatGrpcTimeout,
  grpcErrorTrailers,
  grpcStatusOf,
  grpcStatusOfHttp,
  grpcStatusOfReply,
  isGrpcContentType,
  parseGrpcTimeout,
} from '../../../src/proxy/grpc-status.js'

test('the catalogue codes the issue names map to the gRPC statuses a client branches on', () => {
  const want: Array<[ErrorCode, GrpcStatus]> = [
    ['unauthorized', GrpcStatus.UNAUTHENTICATED],
    ['forbidden', GrpcStatus.PERMISSION_DENIED],
    ['too_many_requests', GrpcStatus.RESOURCE_EXHAUSTED],
    ['route_not_found', GrpcStatus.UNIMPLEMENTED],
    ['upstream_unreachable', GrpcStatus.UNAVAILABLE],
    ['upstream_bad_response', GrpcStatus.UNAVAILABLE],
    ['no_healthy_target', GrpcStatus.UNAVAILABLE],
    ['circuit_open', GrpcStatus.UNAVAILABLE],
    ['upstream_overloaded', GrpcStatus.UNAVAILABLE],
    ['upstream_timeout', GrpcStatus.DEADLINE_EXCEEDED],
    ['invalid_body', GrpcStatus.INVALID_ARGUMENT],
    ['bad_request', GrpcStatus.INTERNAL],
    ['plugin_error', GrpcStatus.INTERNAL],
    ['payload_too_large', GrpcStatus.RESOURCE_EXHAUSTED],
  ]
  for (const [code, status] of want) assert.equal(grpcStatusOf(code), status, code)
})

test('every catalogue code maps to a gRPC error status (never OK), consistent with its HTTP class', () => {
  for (const [code, { status }] of Object.entries(ERRORS) as Array<[ErrorCode, { status: number }]>) {
    const g = grpcStatusOf(code)
    assert.ok(g > 0 && g <= 16, `${code} → ${g}`)
    // 5xx gateway errors are never blamed on the caller's arguments or credentials.
    if (status >= 500) assert.ok(([GrpcStatus.UNAVAILABLE, GrpcStatus.INTERNAL, GrpcStatus.UNIMPLEMENTED, GrpcStatus.DEADLINE_EXCEEDED] as number[]).includes(g), `${code} (${status}) → ${g}`)
  }
})

test('HTTP statuses without grpc-status follow gRPC\'s http-grpc-status-mapping table', () => {
  assert.equal(grpcStatusOfHttp(400), GrpcStatus.INTERNAL)
  assert.equal(grpcStatusOfHttp(401), GrpcStatus.UNAUTHENTICATED)
  assert.equal(grpcStatusOfHttp(403), GrpcStatus.PERMISSION_DENIED)
  assert.equal(grpcStatusOfHttp(404), GrpcStatus.UNIMPLEMENTED)
  for (const s of [429, 502, 503, 504]) assert.equal(grpcStatusOfHttp(s), GrpcStatus.UNAVAILABLE, String(s))
  for (const s of [200, 301, 418, 500]) assert.equal(grpcStatusOfHttp(s), GrpcStatus.UNKNOWN, String(s))
})

test('error trailers carry the numeric status and the (encoded) message', () => {
  assert.deepEqual(grpcErrorTrailers('too_many_requests'), { 'grpc-status': '8', 'grpc-message': 'rate limit exceeded' })
  assert.deepEqual(grpcErrorTrailers('upstream_timeout', 'no response in 5% of 1s'), { 'grpc-status': '4', 'grpc-message': 'no response in 5%25 of 1s' })
})

test('grpc-message is percent-encoded outside printable ASCII and round-trips', () => {
  assert.equal(encodeGrpcMessage('plain text'), 'plain text')
  assert.equal(encodeGrpcMessage('a\nb'), 'a%0Ab')
  assert.equal(encodeGrpcMessage('café'), 'caf%C3%A9')
  for (const s of ['', 'plain', '100%', 'ünïcödé ☃', 'line\r\nbreak']) assert.equal(decodeGrpcMessage(encodeGrpcMessage(s)), s)
  // A stray % that is no escape is kept (decode leniently).
  assert.equal(decodeGrpcMessage('50%zz'), '50%zz')
})

test('grpc-timeout parses every unit and rejects what the grammar does not allow', () => {
  assert.equal(parseGrpcTimeout('1H'), 3_600_000)
  assert.equal(parseGrpcTimeout('2M'), 120_000)
  assert.equal(parseGrpcTimeout('3S'), 3000)
  assert.equal(parseGrpcTimeout('4m'), 4)
  assert.equal(parseGrpcTimeout('5u'), 0.005)
  assert.equal(parseGrpcTimeout('6n'), 0.000006)
  assert.equal(parseGrpcTimeout('99999999S'), 99_999_999_000)
  assert.equal(parseGrpcTimeout('0m'), 0)
  for (const bad of [undefined, '', 'S', '10', '100000000S', '-1S', '1.5S', '1s', '1 S', ' 1S', '1S ', '1D', '1SS', '0x10S']) {
    assert.equal(parseGrpcTimeout(bad), null, String(bad))
  }
})

test('grpc-timeout formats in the finest unit that fits 8 digits, rounding up, and parses back', () => {
  assert.equal(formatGrpcTimeout(1), '1000000n')
  assert.equal(formatGrpcTimeout(250), '250000u') // 2.5e8 ns is 9 digits: the next unit
  assert.equal(formatGrpcTimeout(30_000), '30000000u')
  assert.equal(formatGrpcTimeout(3_600_000), '3600000m')
  assert.equal(formatGrpcTimeout(0), '0n')
  assert.equal(formatGrpcTimeout(-5), '0n')
  assert.equal(formatGrpcTimeout(0.0000015), '2n') // rounded up, never shorter
  for (const ms of [1, 7.5, 250, 59_999, 86_400_000, 1e12]) {
    const v = formatGrpcTimeout(ms)
    assert.match(v, /^\d{1,8}[HMSmun]$/)
    const back = parseGrpcTimeout(v)!
    const unitMs = parseGrpcTimeout('1' + v.slice(-1))!
    assert.ok(back >= ms && back - ms <= unitMs, `${ms} → ${v} → ${back}: at most one unit longer, never shorter`)
  }
})

test('gRPC requests are told by their content-type; gRPC-Web and look-alikes are not', () => {
  for (const ct of ['application/grpc', 'application/grpc+proto', 'application/grpc+json', 'application/grpc;charset=utf-8']) assert.equal(isGrpcContentType(ct), true, ct)
  for (const ct of ['application/grpc-web', 'application/grpc-web+proto', 'application/grpc-web-text', 'application/grpcx', 'application/json', 'text/grpc', '', 'application/grp']) assert.equal(isGrpcContentType(ct), false, ct)
})

test("a plugin's reply: its catalogue code when it names one, else gRPC's table for the HTTP status", () => {
  assert.equal(grpcStatusOfReply('too_many_requests', 429), GrpcStatus.RESOURCE_EXHAUSTED)
  assert.equal(grpcStatusOfReply('unauthorized', 401), GrpcStatus.UNAUTHENTICATED)
  assert.equal(grpcStatusOfReply('deadline_exceeded', 504), GrpcStatus.DEADLINE_EXCEEDED)
  assert.equal(grpcStatusOfReply('my_plugin_said_no', 403), GrpcStatus.PERMISSION_DENIED)
  assert.equal(grpcStatusOfReply(undefined, 429), GrpcStatus.UNAVAILABLE)
  assert.equal(grpcStatusOfReply('toString', 418), GrpcStatus.UNKNOWN) // not an own key of the table
})
