// SIGTERM drains: the in-flight request (origin answers after 3s) finishes, new connections are refused, the process exits 0.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'
import { adminJson, startGateway, type Gateway } from '../../helpers/gateway.js'

/** Resolves true when a TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

for (const mode of [
  { name: 'cluster (2 workers)', args: ['--workers', '2'] },
  { name: 'single process', args: ['--no-cluster'] },
]) {
  describe(`SIGTERM drain, ${mode.name}`, () => {
    let origin: Origin | undefined
    let gw: Gateway | undefined
    after(async () => {
      await gw?.stop()
      await origin?.close()
    })

    test('the slow in-flight request completes with 200, new connections are refused, exit 0', async () => {
      const slow = await startOrigin((_req, res) => {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' })
          res.end('finally')
        }, 3000)
      })
      origin = slow
      const g = await startGateway({
        config: { server: { drain_timeout: '10s' }, upstreams: { slow: { targets: [{ url: slow.url }] } }, routes: [{ name: 'slow', paths: ['/slow'], upstream: 'slow' }] },
        args: mode.args,
      })
      gw = g
      let answered = false
      const inFlight = request(`${g.url}/slow`).then(async (res) => {
        const r = { status: res.statusCode, body: await res.body.text() }
        answered = true
        return r
      })
      await pollUntil(() => slow.seen.length === 1, { what: 'the slow request to reach the origin' })

      const t0 = Date.now()
      process.kill(g.pid, 'SIGTERM') // the primary only, as an orchestrator does
      await pollUntil(async () => (await adminJson(g, '/readyz')).status === 503, { what: '/readyz to report draining' })
      await pollUntil(() => refused(g.port), { timeoutMs: 5000, what: 'new connections to be refused' })
      assert.equal(answered, false, 'the listener closed while the slow request was still in flight')

      const res = await inFlight
      assert.equal(res.status, 200)
      assert.equal(res.body, 'finally')
      const exit = await g.exited
      assert.deepEqual(exit, { code: 0, signal: null })
      assert.ok(Date.now() - t0 < 10_000, 'exited well within the drain deadline')
      assert.match(g.stdout(), /draining/)
      assert.match(g.stdout(), /"msg":"stopped"/)
    })
  })
}

describe('second SIGTERM while draining', () => {
  let origin: Origin | undefined
  let gw: Gateway | undefined
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('exits at once with status 1, without waiting for in-flight requests', async () => {
    // Never answers on its own: only the forced exit can end this request.
    const hang = await startOrigin(() => undefined)
    origin = hang
    const g = await startGateway({
      config: { server: { drain_timeout: '30s' }, upstreams: { hang: { targets: [{ url: hang.url }] } }, routes: [{ name: 'hang', paths: ['/hang'], upstream: 'hang' }] },
      args: ['--no-cluster'],
    })
    gw = g
    const inFlight = request(`${g.url}/hang`).then(
      (res) => res.statusCode,
      (err: Error) => err.message,
    )
    await pollUntil(() => hang.seen.length === 1, { what: 'the request to reach the origin' })
    process.kill(g.pid, 'SIGTERM')
    await g.waitForOutput(/draining: no new connections/)
    const t0 = Date.now()
    process.kill(g.pid, 'SIGTERM')
    const exit = await g.exited
    assert.deepEqual(exit, { code: 1, signal: null })
    assert.ok(Date.now() - t0 < 5000)
    assert.match(g.stdout(), /second signal while draining: exiting now/)
    assert.notEqual(await inFlight, 200)
  })
})

describe('primary killed with SIGKILL', () => {
  let origin: Origin | undefined
  let gw: Gateway | undefined
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('a worker whose primary disappears finishes its in-flight request, then exits', async () => {
    let release: (() => void) | undefined
    const slow = await startOrigin((_req, res) => {
      release = () => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end('finished without a primary')
      }
    })
    origin = slow
    const g = await startGateway({
      config: { server: { drain_timeout: '30s' }, upstreams: { slow: { targets: [{ url: slow.url }] } }, routes: [{ name: 'slow', paths: ['/slow'], upstream: 'slow' }] },
      args: ['--workers', '1'],
    })
    gw = g
    const { body } = await adminJson<{ workers: Array<{ pid: number }> }>(g, '/status')
    const workerPid = body.workers[0]!.pid
    const inFlight = request(`${g.url}/slow`).then(async (res) => ({ status: res.statusCode, body: await res.body.text() }))
    await pollUntil(() => slow.seen.length === 1, { what: 'the request to reach the origin' })
    process.kill(g.pid, 'SIGKILL')
    await g.exited
    // The worker noticed (its IPC channel closed) and is draining, not gone.
    await g.waitForOutput(/"why":"primary disconnected".*"msg":"worker draining"|"msg":"worker draining".*"why":"primary disconnected"/, 30_000)
    assert.ok(alive(workerPid), 'the worker exited with a request in flight')
    release!()
    assert.deepEqual(await inFlight, { status: 200, body: 'finished without a primary' })
    await pollUntil(() => !alive(workerPid), { timeoutMs: 30_000, what: 'the drained worker to exit' })
  })
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
