// The benchmark's own checks: the load-tool parsers and /proc parsing read the figures the table
// shows, and the floor proxy behaves like a proxy (the answer goes through, 502 when the origin is
// gone). Part of `npm test` (scripts/run-tests.mjs runs bench/'s tests too): a helper script that
// cannot start (a module it imports not built beside it) fails here, not in the next benchmark run.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { parseAutocannon, parseH2load, parseWrk } from './load.js'
import { freePort, get, h2get, parseStatTicks, startProc, waitFor } from './procs.js'
import type { Proc } from './procs.js'
import { median, ratiosLine, summarize } from './report.js'
import type { Measurement, SubjectResult } from './report.js'
import { GRPC_PATH, GRPC_REQUEST, makeCertificate, tlsFiles } from './scenarios.js'
import { buildScripts } from './scripts.js'

const WRK_OUT = `Running 2s test @ http://127.0.0.1:40001/bench
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.10ms    1.02ms  21.50ms   90.12%
    Req/Sec    12.25k   500.00    13.00k    70.00%
  Latency Distribution
     50%    3.95ms
     75%    4.30ms
     90%    4.90ms
     99%  812.00us
  24500 requests in 2.00s, 4.84MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:  12249.50
Transfer/sec:      2.42MB
`

const WRK2_OUT = `Running 10s test @ http://127.0.0.1:40001/bench
  1 threads and 50 connections
  Thread calibration: mean lat.: 0.612ms, rate sampling interval: 10ms
  Latency Distribution (HdrHistogram - Recorded Latency)
 50.000%  540.00us
 75.000%  700.00us
 90.000%    0.90ms
 99.000%    1.50ms
 99.900%    3.00ms
100.000%    4.00ms
  19990 requests in 10.00s, 3.95MB read
Requests/sec:   1999.00
`

const H2LOAD_OUT = `starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for measurements.

finished in 2.00s, 4050.50 req/s, 1.02MB/s
requests: 8101 total, 8301 started, 8101 done, 8090 succeeded, 11 failed, 3 errored, 1 timeout
status codes: 8290 2xx, 0 3xx, 0 4xx, 8 5xx
traffic: 2.04MB (2140000) total, 150.00KB (153600) headers (space savings 90.00%), 791.00KB (810000) data
                     min         max         mean         sd        +/- sd
time for request:      512us     12.50ms      4.90ms      1.10ms    70.00%
time for connect:      120us       300us       200us        50us    60.00%
time to 1st byte:      900us      2.00ms      1.50ms       300us    60.00%
req/s           :     400.00      410.00      405.05        3.00    70.00%
`

// The lines h2load adds over https:// (after the first connection's handshake).
const H2LOAD_TLS = (alpn: string): string =>
  H2LOAD_OUT.replace('\nfinished', `TLS Protocol: TLSv1.3\nCipher: TLS_AES_256_GCM_SHA384\nServer Temp Key: X25519 253 bits\nApplication protocol: ${alpn}\n\nfinished`)

describe('load tool output', () => {
  test('h2load: succeeded streams, not the status-code line (it counts heads of unfinished ones)', () => {
    const r = parseH2load(H2LOAD_OUT)
    assert.deepEqual([r.requests, r.durationS, r.rps, r.non2xx, r.socketErrors, r.p50Ms, r.p99Ms], [8090, 2, 4045, 11, 4, 4.9, 12.5])
    assert.throws(() => parseH2load('connect error'), /unexpected output/)
  })

  test('h2load over TLS: the same figures when ALPN chose h2; an error when the server chose HTTP/1.1', () => {
    assert.deepEqual(parseH2load(H2LOAD_TLS('h2')), parseH2load(H2LOAD_OUT))
    assert.throws(() => parseH2load(H2LOAD_TLS('http/1.1')), /negotiated http\/1\.1 by ALPN, not h2/)
    // Cleartext by prior knowledge (the h2 and grpc scenarios): h2load says h2c, which is HTTP/2.
    assert.deepEqual(parseH2load(H2LOAD_OUT.replace('\nfinished', 'Application protocol: h2c\n\nfinished')), parseH2load(H2LOAD_OUT))
  })

  test('wrk: requests, rate, percentiles in any unit, errors', () => {
    const r = parseWrk(WRK_OUT, 'wrk')
    assert.equal(r.requests, 24500)
    assert.equal(r.durationS, 2)
    assert.equal(r.rps, 12249.5)
    assert.equal(r.p50Ms, 3.95)
    assert.equal(r.p99Ms, 0.812)
    assert.equal(r.socketErrors, 6)
    assert.equal(r.non2xx, 7)
  })

  test('wrk2: the HdrHistogram percentile block', () => {
    const r = parseWrk(WRK2_OUT, 'wrk2')
    assert.equal(r.p50Ms, 0.54)
    assert.equal(r.p99Ms, 1.5)
    assert.equal(r.requests, 19990)
    assert.equal(r.socketErrors, 0)
  })

  test('wrk: output without a summary is an error, not zeros', () => {
    assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused', 'wrk'), /unexpected output/)
  })

  test('autocannon -j', () => {
    const r = parseAutocannon(
      JSON.stringify({ duration: 2, errors: 3, timeouts: 1, non2xx: 4, requests: { total: 2000 }, latency: { p50: 1, p99: 7 } }),
    )
    assert.deepEqual([r.requests, r.rps, r.p50Ms, r.p99Ms, r.non2xx, r.socketErrors], [2000, 1000, 1, 7, 4, 3])
  })
})

describe('/proc and summaries', () => {
  test('stat: utime + stime even when the command name has spaces and parentheses', () => {
    const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194304 500 0 0 0 1234 567 0 0 20 0 11 0 100 0 0'
    assert.equal(parseStatTicks(stat), 1234 + 567)
  })

  test('median of odd and even counts; NaN ignored', () => {
    assert.equal(median([3, 1, 2]), 2)
    assert.equal(median([4, 1, 3, 2]), 2.5)
    assert.equal(median([NaN, 5]), 5)
  })

  test('ratios are against the floor of the same scenario', () => {
    const load = { tool: 'wrk', requests: 1000, durationS: 1, rps: 1000, p50Ms: 1, p99Ms: 2, non2xx: 1, socketErrors: 0 }
    const m = (cpu: number): Measurement => ({
      round: 1,
      throughput: load,
      cpuUsPerReq: cpu,
      originCpuUsPerReq: 30,
      rssMB: 50,
      fixedRate: load,
      cpuUsPerReqAtRate: cpu,
      noisePct: { throughput: 0, fixedRate: 0 },
    })
    const subjects: SubjectResult[] = [
      { name: 'floor', role: 'floor', status: 'ok', notes: [], rounds: [m(70), m(80)] },
      { name: 'portico', role: 'gateway', status: 'ok', notes: [], rounds: [m(100), m(125)] },
      { name: 'nginx', role: 'baseline', status: 'skipped', notes: [], rounds: [] },
    ]
    summarize(subjects)
    assert.equal(subjects[0]?.summary?.cpuUsPerReq, 75)
    assert.equal(subjects[1]?.summary?.cpuRatioToFloor, 1.5)
    assert.equal(subjects[1]?.summary?.errors, 4)
    assert.equal(subjects[2]?.summary, undefined)
    assert.equal(ratiosLine(subjects), 'CPU per request vs floor: portico 1.50×; at the fixed rate: portico 112.5 vs floor 75.0 µs/req (1.50×)')
  })
})

describe('floor proxy', () => {
  const procs: Proc[] = []
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()))
  })

  test('passes the origin answer through, 502 when the origin is gone', async () => {
    const scripts = buildScripts()
    const [originPort, floorPort] = [await freePort(), await freePort()]
    const origin = startProc('origin', process.execPath, [scripts.origin], { env: { ...process.env, PORT: String(originPort) } })
    procs.push(origin)
    const floor = startProc('floor', process.execPath, [scripts.floor], {
      env: { ...process.env, PORT: String(floorPort), ORIGIN: `http://127.0.0.1:${originPort}` },
    })
    procs.push(floor)
    const url = `http://127.0.0.1:${floorPort}/bench`
    await waitFor(floor, 'the floor to answer', async () => (await get(url)).status === 200, 10_000)

    const res = await get(url)
    assert.equal(res.status, 200)
    assert.equal(res.body, 'x'.repeat(100))

    await origin.stop()
    assert.equal((await get(url)).status, 502)
  })
})

describe('h2 floor', () => {
  const procs: Proc[] = []
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()))
  })

  test('forwards a GET and a unary gRPC call (trailers included) over h2c, 502 when the origin is gone', async () => {
    const scripts = buildScripts()
    const [originPort, h1Port, floorPort] = [await freePort(), await freePort(), await freePort()]
    const origin = startProc('origin-h2', process.execPath, [scripts['origin-h2']], { env: { ...process.env, PORT: String(originPort), H1_PORT: String(h1Port) } })
    procs.push(origin)
    const floor = startProc('floor-h2', process.execPath, [scripts['floor-h2']], {
      env: { ...process.env, PORT: String(floorPort), ORIGIN: `http://127.0.0.1:${originPort}` },
    })
    procs.push(floor)
    const url = `http://127.0.0.1:${floorPort}`
    await waitFor(floor, 'the h2 floor to answer', async () => (await h2get(url, '/bench')).status === 200, 10_000)

    assert.equal((await h2get(url, '/bench')).body, 'x'.repeat(100))
    const call = await h2get(url, GRPC_PATH, { 'content-type': 'application/grpc', te: 'trailers' }, GRPC_REQUEST)
    assert.deepEqual([call.status, call.body.length, call.grpcStatus], [200, 100, '0'])
    // nginx's side of the h2 scenario: the origin's HTTP/1.1 port answers the same bytes.
    assert.equal((await get(`http://127.0.0.1:${h1Port}/bench`)).body, 'x'.repeat(100))

    await origin.stop()
    assert.equal((await h2get(url, '/bench')).status, 502)
  })

  test('over TLS (TLS_CERT/TLS_KEY): HTTP/2 by ALPN on TLS 1.3, the upstream still h2c', async () => {
    const removeCertificate = await makeCertificate()
    try {
      const scripts = buildScripts()
      const [originPort, h1Port, floorPort] = [await freePort(), await freePort(), await freePort()]
      procs.push(startProc('origin-h2', process.execPath, [scripts['origin-h2']], { env: { ...process.env, PORT: String(originPort), H1_PORT: String(h1Port) } }))
      const floor = startProc('floor-h2', process.execPath, [scripts['floor-h2']], {
        env: { ...process.env, PORT: String(floorPort), ORIGIN: `http://127.0.0.1:${originPort}`, TLS_CERT: tlsFiles.cert, TLS_KEY: tlsFiles.key },
      })
      procs.push(floor)
      const url = `https://127.0.0.1:${floorPort}`
      await waitFor(floor, 'the h2 floor to answer over TLS', async () => (await h2get(url, '/bench')).status === 200, 10_000)

      // What the h2-tls probe checks before a subject is measured.
      const res = await h2get(url, '/bench')
      assert.deepEqual([res.status, res.body, res.tls], [200, 'x'.repeat(100), 'TLSv1.3'])
    } finally {
      await removeCertificate()
    }
  })
})
