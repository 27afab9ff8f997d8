// The access-log lines as written to the destination: each one valid JSON, with client-influenced
// strings escaped, numbers formatted without float noise, batches written whole and in order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AccessLog, type AccessEntry } from '../../../src/observability/access-log.js'

/** Writes the entries through a fresh AccessLog into a temp file and returns the parsed lines. */
function roundTrip(entries: AccessEntry[]): Array<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-al-'))
  try {
    const file = join(dir, 'access.log')
    const fd = openSync(file, 'w')
    const log = new AccessLog(fd)
    for (const e of entries) log.write(e)
    log.flushSync()
    closeSync(fd)
    const text = readFileSync(file, 'utf8')
    assert.ok(text.endsWith('\n'))
    return text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const base: AccessEntry = {
  requestId: 'req-1',
  clientIp: '203.0.113.7',
  method: 'GET',
  path: '/a/b',
  route: 'r1',
  upstream: 'http://10.0.0.1:8080',
  status: 200,
  bytes: 100,
  durationMs: 2.5999,
  upstreamMs: 0.0344,
  error: undefined,
}

test('plain line: every field, durations rounded to the microsecond without trailing zeros', () => {
  const [l] = roundTrip([base])
  assert.match(l!.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  assert.deepEqual({ ...l, time: 't' }, {
    time: 't',
    request_id: 'req-1',
    client_ip: '203.0.113.7',
    method: 'GET',
    path: '/a/b',
    route: 'r1',
    upstream: 'http://10.0.0.1:8080',
    status: 200,
    bytes: 100,
    duration_ms: 2.6,
    upstream_ms: 0.034,
    consumer: null,
    error: null,
  })
})

test('numbers: 0, whole milliseconds, large byte counts, sub-microsecond durations', () => {
  const lines = roundTrip([
    { ...base, bytes: 0, durationMs: 12, upstreamMs: undefined },
    { ...base, bytes: 1234567890123, durationMs: 0.0004, upstreamMs: 1000.5 },
  ])
  assert.deepEqual(lines.map((l) => [l.bytes, l.duration_ms, l.upstream_ms]), [
    [0, 12, null],
    [1234567890123, 0, 1000.5],
  ])
})

test('client-influenced strings are escaped: quotes, backslashes, controls, non-ASCII', () => {
  const nasty = 'a"b\\c\u0001\nd é 😀'
  const [l] = roundTrip([{ ...base, path: `/${nasty}`, consumer: nasty, error: `plugin_${nasty}`, query: `q=${nasty}`, route: null, upstream: null }])
  assert.equal(l!.path, `/${nasty}`)
  assert.equal(l!.consumer, nasty)
  assert.equal(l!.error, `plugin_${nasty}`)
  assert.equal(l!.query, `q=${nasty}`)
  assert.equal(l!.route, null)
  assert.equal(l!.upstream, null)
})

test('retries and traces add their fields; a single try does not', () => {
  const [one, retried] = roundTrip([{ ...base, attempts: 1 }, { ...base, attempts: 3, traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8) }])
  assert.equal('upstream_attempts' in one!, false)
  assert.equal(retried!.upstream_attempts, 3)
  assert.equal(retried!.trace_id, 'ab'.repeat(16))
  assert.equal(retried!.span_id, 'cd'.repeat(8))
})

test('gRPC calls add grpc_status (the status name) next to HTTP status 200; other requests do not', () => {
  const [plain, ok, failed] = roundTrip([base, { ...base, protocol: 'HTTP/2.0', grpcStatus: 'OK' }, { ...base, protocol: 'HTTP/2.0', grpcStatus: 'UNAVAILABLE' }])
  assert.equal('grpc_status' in plain!, false)
  assert.equal(ok!.grpc_status, 'OK')
  assert.equal(failed!.grpc_status, 'UNAVAILABLE')
  assert.equal(failed!.status, 200)
})

test('a line longer than a batch (a huge escaped path) gets a batch of its own and is written whole', () => {
  const long = '/' + '"'.repeat(300_000)
  const lines = roundTrip([{ ...base, path: long, requestId: 'big' }])
  assert.equal(lines.length, 1)
  assert.equal(lines[0]!.path, long)
})

test('many batches written asynchronously (buffers reused): every line once, whole and in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-al-'))
  try {
    const file = join(dir, 'access.log')
    const fd = openSync(file, 'w')
    const log = new AccessLog(fd)
    // ~300 bytes a line: 4000 lines fill about five 256 KiB batches; written in bursts so a
    // batch is sealed while the previous one is still being written, and spare buffers are refilled.
    const total = 4000
    for (let i = 0; i < total; i++) {
      log.write({ ...base, requestId: `req-${i}`, path: `/p/${'x'.repeat(i % 50)}` })
      if (i % 900 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    // No flushSync: the async writer drains the queue, and the last partial batch goes out with
    // the once-a-second seal.
    const deadline = Date.now() + 10_000
    let lines: string[] = []
    for (;;) {
      lines = readFileSync(file, 'utf8').trimEnd().split('\n')
      if (lines.length >= total || Date.now() > deadline) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    closeSync(fd)
    assert.equal(lines.length, total)
    lines.forEach((l, i) => {
      const o = JSON.parse(l) as Record<string, unknown>
      assert.equal(o.request_id, `req-${i}`)
      assert.equal(o.path, `/p/${'x'.repeat(i % 50)}`)
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
