// Cluster mode as an operator sees it: a primary with 2 data-plane workers, /status and /readyz,
// metrics combined over workers (counters summed, health gauges their minimum), a worker killed
// with SIGKILL coming back, and workers_accept: who holds the data port's listening socket.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { Agent, request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'
import { adminJson, startGateway, type Gateway } from '../../helpers/gateway.js'

interface WorkerInfo {
  slot: number
  pid: number | null
  state: string
  restarts: number
  config_version: number | null
}
interface Status {
  mode: string
  ready: boolean
  config: { version: number; hash: string }
  workers: WorkerInfo[]
  upstreams: Record<string, { targets: Array<{ url: string }> }>
}

/** Each request on its own connection, so the primary spreads them over both workers. */
async function getFresh(url: string): Promise<number> {
  const agent = new Agent({ pipelining: 0 })
  try {
    const res = await request(url, { dispatcher: agent })
    await res.body.dump()
    return res.statusCode
  } finally {
    await agent.close()
  }
}

/** Pids (of those given) holding an fd on the socket listening on 127.0.0.1:`port` (/proc/net/tcp). */
function listeningHolders(port: number, pids: number[]): number[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  const inodes = new Set<string>()
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    // local_address, state 0A = LISTEN, inode
    if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A') inodes.add(f[9]!)
  }
  return pids.filter((pid) =>
    readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        return m !== null && inodes.has(m[1]!)
      } catch {
        return false
      }
    }),
  )
}

function metricValue(text: string, name: string, labels: string): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

describe('cluster mode with 2 workers', () => {
  let origin: Origin
  let gw: Gateway

  before(async () => {
    origin = await startOrigin()
    gw = await startGateway({
      config: { upstreams: { echo: { targets: [{ url: origin.url }] } }, routes: [{ name: 'echo', paths: ['/echo/*'], upstream: 'echo' }] },
      args: ['--workers', '2'],
    })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('/readyz is 200 and /status lists both workers on config version 1', async () => {
    const ready = await adminJson(gw, '/readyz')
    assert.equal(ready.status, 200)
    const { status, body } = await adminJson<Status>(gw, '/status')
    assert.equal(status, 200)
    assert.equal(body.mode, 'cluster')
    assert.equal(body.ready, true)
    assert.equal(body.config.version, 1)
    assert.match(body.config.hash, /^[0-9a-f]{64}$/)
    assert.equal(body.workers.length, 2)
    for (const w of body.workers) {
      assert.equal(w.state, 'ready')
      assert.equal(w.config_version, 1)
      assert.equal(typeof w.pid, 'number')
      assert.notEqual(w.pid, gw.pid, 'the primary never serves traffic itself')
    }
    assert.deepEqual(body.upstreams.echo!.targets.map((t) => t.url), [origin.url])
  })

  test('workers_accept auto with 2 workers is round robin: the primary holds the listening socket, the workers do not', async () => {
    const { body } = await adminJson<Status>(gw, '/status')
    const workers = body.workers.map((w) => w.pid!)
    assert.deepEqual(listeningHolders(gw.port, [gw.pid, ...workers]), [gw.pid])
  })

  test('workers run with the 8 MB young-generation cap (RSS per worker), the primary without it', async () => {
    const { body } = await adminJson<Status>(gw, '/status')
    const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    for (const w of body.workers) assert.ok(cmdline(w.pid!).includes('--max-semi-space-size=12'), `worker ${w.pid}: ${cmdline(w.pid!).join(' ')}`)
    assert.ok(!cmdline(gw.pid).includes('--max-semi-space-size=12'))
  })

  test('requests are proxied and /metrics sums portico_requests_total over the workers', async () => {
    const before = metricValue(await (await request(`${gw.adminUrl}/metrics`)).body.text(), 'portico_requests_total', 'route="echo"')
    const n = 20
    const codes = await Promise.all(Array.from({ length: n }, () => getFresh(`${gw.url}/echo/hi`)))
    assert.deepEqual(codes, Array(n).fill(200))
    // Metrics are recorded when the response ends; poll instead of assuming they are already there.
    await pollUntil(
      async () => {
        const res = await request(`${gw.adminUrl}/metrics`)
        assert.match(res.headers['content-type'] as string, /^text\/plain/)
        const text = await res.body.text()
        return metricValue(text, 'portico_requests_total', 'route="echo"') - before === n
      },
      { what: `portico_requests_total to grow by ${n}` },
    )
    const text = await (await request(`${gw.adminUrl}/metrics`)).body.text()
    // One HELP/TYPE per family: the aggregation merged the workers instead of concatenating them.
    assert.equal(text.split('\n').filter((l) => l === '# TYPE portico_requests_total counter').length, 1)
  })

  test('gauges are combined as they mean: health gauges read 1 with two healthy workers (not 2), config_info counts the workers', async () => {
    const text = await (await request(`${gw.adminUrl}/metrics`)).body.text()
    assert.equal(metricValue(text, 'portico_store_up', 'kind="memory"'), 1, text.split('\n').filter((l) => l.startsWith('portico_store_up')).join('\n'))
    assert.equal(metricValue(text, 'portico_upstream_target_healthy', 'upstream="echo"'), 1)
    assert.equal(metricValue(text, 'portico_config_info', 'version="1"'), 2)
  })

  test('a worker killed with SIGKILL is restarted with the current config; traffic keeps flowing', async () => {
    const { body: before } = await adminJson<Status>(gw, '/status')
    const victim = before.workers[0]!
    process.kill(victim.pid!, 'SIGKILL')

    // Once the primary has noticed, the surviving worker takes every new connection.
    await pollUntil(async () => (await adminJson<Status>(gw, '/status')).body.workers[0]!.pid !== victim.pid, { what: 'primary to notice the dead worker' })
    const during = await Promise.all(Array.from({ length: 10 }, () => getFresh(`${gw.url}/echo/during`)))
    assert.deepEqual(during, Array(10).fill(200))

    const after = await pollUntil(
      async () => {
        const { body } = await adminJson<Status>(gw, '/status')
        const w = body.workers[0]!
        return w.state === 'ready' && w.pid !== null && w.pid !== victim.pid ? body : undefined
      },
      { timeoutMs: 90_000, what: 'a replacement worker to be ready' },
    )
    const replacement = after.workers[0]!
    assert.equal(replacement.restarts, victim.restarts + 1)
    assert.equal(replacement.config_version, after.config.version)
    assert.equal(after.workers[1]!.pid, before.workers[1]!.pid, 'the other worker was left alone')
    assert.equal((await adminJson(gw, '/readyz')).status, 200)
    assert.match(gw.stdout(), new RegExp(`"worker_pid":${victim.pid}.*"signal":"SIGKILL".*worker died unexpectedly`))
    const later = await Promise.all(Array.from({ length: 10 }, () => getFresh(`${gw.url}/echo/after`)))
    assert.deepEqual(later, Array(10).fill(200))
  })
})

describe('workers_accept: kernel with 2 workers', () => {
  let origin: Origin
  let gw: Gateway

  before(async () => {
    origin = await startOrigin()
    gw = await startGateway({
      config: { workers_accept: 'kernel', upstreams: { echo: { targets: [{ url: origin.url }] } }, routes: [{ name: 'echo', paths: ['/echo/*'], upstream: 'echo' }] },
      args: ['--workers', '2'],
    })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('every worker accepts on the shared listening socket (no handle passing through the primary), and new connections are served', async () => {
    const { body } = await adminJson<Status>(gw, '/status')
    const workers = body.workers.map((w) => w.pid!)
    assert.deepEqual(listeningHolders(gw.port, workers).sort(), [...workers].sort())
    const codes = await Promise.all(Array.from({ length: 20 }, () => getFresh(`${gw.url}/echo/k`)))
    assert.deepEqual(codes, Array(20).fill(200))
  })
})
