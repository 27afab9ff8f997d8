// Circuit breaker state machine, rolling window, bulkhead queue; retry budget and backoff.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ADMITTED, Bulkhead, CircuitBreaker, CLOSED, HALF_OPEN, OPEN, PROBE, REJECTED, resolveBreaker } from '../../../src/upstream/breaker.js'
import { RetryBudget, backoffMs, resolveRetries } from '../../../src/upstream/retry.js'
import { failureKind, FailureKind } from '../../../src/upstream/failure.js'

const breaker = (c: Parameters<typeof resolveBreaker>[0]) => new CircuitBreaker(resolveBreaker(c), `test-${Math.random()}`)

test('breaker: consecutive failures open it; a success resets the streak', () => {
  const b = breaker({ consecutive_failures: 3, error_percent: 0, open_duration: 1000 })
  for (let i = 0; i < 2; i++) b.record(b.allow(0), false, 0)
  b.record(b.allow(0), true, 0)
  for (let i = 0; i < 2; i++) b.record(b.allow(0), false, 0)
  assert.equal(b.state, CLOSED)
  b.record(b.allow(0), false, 0)
  assert.equal(b.state, OPEN)
  assert.equal(b.allow(500), REJECTED)
  assert.equal(b.retryAfter(500), 1)
})

test('breaker: open → half-open after open_duration; probes close or reopen it', () => {
  const b = breaker({ consecutive_failures: 1, error_percent: 0, open_duration: 1000, half_open_requests: 2 })
  b.record(b.allow(0), false, 0)
  assert.equal(b.state, OPEN)
  const p1 = b.allow(1000)
  assert.equal(p1, PROBE)
  assert.equal(b.state, HALF_OPEN)
  const p2 = b.allow(1000)
  assert.equal(p2, PROBE)
  assert.equal(b.allow(1000), REJECTED, 'only half_open_requests probes at once')
  b.record(p1, true, 1001)
  assert.equal(b.state, HALF_OPEN)
  b.record(p2, false, 1002)
  assert.equal(b.state, OPEN, 'a failed probe reopens')
  const p3 = b.allow(2002)
  b.release(p3) // a probe that ended without an outcome gives its slot back
  const p4 = b.allow(2003)
  const p5 = b.allow(2003)
  b.record(p4, true, 2004)
  b.record(p5, true, 2004)
  assert.equal(b.state, CLOSED)
  assert.equal(b.allow(2005), ADMITTED)
})

test('breaker: error percentage over the window trips only with min_requests', () => {
  const b = breaker({ consecutive_failures: 0, error_percent: 50, min_requests: 10, window: 1000 })
  for (let i = 0; i < 4; i++) {
    b.record(b.allow(0), true, 0)
    b.record(b.allow(0), false, 0)
  }
  assert.equal(b.state, CLOSED, '8 requests < min_requests')
  b.record(b.allow(0), true, 0)
  b.record(b.allow(0), false, 0)
  assert.equal(b.state, OPEN)
})

test('breaker: old buckets leave the window', () => {
  const b = breaker({ consecutive_failures: 0, error_percent: 50, min_requests: 4, window: 1000 })
  for (let i = 0; i < 3; i++) b.record(b.allow(0), false, 0)
  // 1.5 s later those failures are gone: 1 failure + 3 successes = 25%.
  b.record(b.allow(1500), false, 1500)
  for (let i = 0; i < 3; i++) b.record(b.allow(1500), true, 1500)
  assert.equal(b.state, CLOSED)
})

test('bulkhead: max in flight, bounded FIFO queue, skips waiters that left', () => {
  const bh = new Bulkhead(1, 2)
  const admitted: string[] = []
  const w = (name: string, done = false) => ({ done, admitted: () => admitted.push(name) })
  assert.equal(bh.acquire(w('a')), 1)
  assert.equal(bh.acquire(w('b')), 0)
  const gone = w('c')
  assert.equal(bh.acquire(gone), 0)
  assert.equal(bh.acquire(w('d')), -1)
  gone.done = true
  bh.release() // a → b
  assert.deepEqual(admitted, ['b'])
  bh.release() // b → (c left) → nobody
  assert.equal(bh.active, 0)
  assert.deepEqual(admitted, ['b'])
})

test('retry budget: min_retry_concurrency allows retries while few are in progress, whatever the rate', () => {
  const budget = new RetryBudget(0, 0, 3) // no rate at all
  assert.deepEqual([budget.withdraw(0), budget.withdraw(0), budget.withdraw(0), budget.withdraw(0)], [true, true, true, false])
  // A request retried a second time does not count twice.
  assert.equal(budget.withdraw(0, true), true)
  budget.finished()
  assert.equal(budget.withdraw(0), true)
  assert.equal(budget.withdraw(0), false)
})

test('retry budget: min_per_second floor, then ratio of requests', () => {
  const budget = new RetryBudget(0.2, 1) // floor: 10 retries per 10 s
  let ok = 0
  for (let i = 0; i < 100; i++) if (budget.withdraw(0)) ok++
  assert.equal(ok, 10)
  for (let i = 0; i < 100; i++) budget.deposit(0)
  ok = 0
  for (let i = 0; i < 100; i++) if (budget.withdraw(0)) ok++
  assert.equal(ok, 20, '20% of 100 requests')
  // 11 s later the window is empty again.
  ok = 0
  for (let i = 0; i < 100; i++) if (budget.withdraw(11_000)) ok++
  assert.equal(ok, 10)
})

test('retry policy: defaults, attempts 0 = off, backoff is capped full jitter', () => {
  assert.equal(resolveRetries(undefined), null)
  assert.equal(resolveRetries({ attempts: 0 }), null)
  const p = resolveRetries({})!
  assert.equal(p.attempts, 2)
  assert.deepEqual([...p.statuses], [502, 503, 504])
  assert.ok(p.methods.has('GET') && !p.methods.has('POST'))
  assert.equal(p.maxBufferedBody, 64 * 1024)
  assert.deepEqual([...p.grpcStatuses], ['14'], 'gRPC: UNAVAILABLE by default, as the grpc-status header writes it')
  assert.deepEqual([...resolveRetries({ on_grpc_statuses: ['UNAVAILABLE', 'RESOURCE_EXHAUSTED'] })!.grpcStatuses], ['14', '8'])
  assert.equal(resolveRetries({ on_grpc_statuses: [] })!.grpcStatuses.size, 0)
  for (let i = 1; i < 10; i++) {
    const d = backoffMs(p, i)
    assert.ok(d >= 0 && d <= Math.min(250, 25 * 2 ** (i - 1)))
  }
})

test('failure kinds', () => {
  const e = (code: string) => Object.assign(new Error(code), { code })
  assert.equal(failureKind(e('ECONNREFUSED')), FailureKind.Connect)
  assert.equal(failureKind(e('UND_ERR_CONNECT_TIMEOUT')), FailureKind.Connect)
  assert.equal(failureKind(e('ECONNRESET')), FailureKind.Reset)
  assert.equal(failureKind(e('UND_ERR_SOCKET')), FailureKind.Reset)
  assert.equal(failureKind(e('UND_ERR_HEADERS_TIMEOUT')), FailureKind.Timeout)
  assert.equal(failureKind(e('PORTICO_CLIENT_GONE')), FailureKind.None)
})
