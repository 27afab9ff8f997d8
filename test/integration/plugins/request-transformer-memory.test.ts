// A 40 MB JSON body through request-transformer's body rules, on a real single-process gateway:
// the parse takes several times the body in heap; once large bodies pause, the worker collects
// that garbage (src/plugins/request-transformer/memory.ts) instead of holding it until V8's next
// full collection, which a worker serving small requests may not reach for minutes. The gateway's
// own heap gauge (/metrics) shows it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

let origin: Origin
let gw: Gateway

before(async () => {
  origin = await startOrigin((req, res) => {
    let bytes = 0
    let tail = Buffer.alloc(0)
    req.on('data', (c: Buffer) => {
      bytes += c.length
      tail = Buffer.concat([tail, c]).subarray(-64)
    })
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ bytes, tagged: tail.includes('"tagged":true') }))
    })
  })
  gw = await startGateway({
    config: {
      upstreams: { o: { targets: [{ url: origin.url }] } },
      routes: [
        {
          name: 'big',
          paths: ['/big/*'],
          upstream: 'o',
          max_body_size: '64mb',
          plugins: [{ name: 'request-transformer', config: { body: { set: { tagged: true } }, max_body_bytes: '64mb' } }],
        },
      ],
    },
    args: ['--no-cluster'],
  })
})
after(async () => {
  await gw?.stop()
  await origin?.close()
})

async function heapUsed(): Promise<number> {
  const r = await request(`${gw.adminUrl}/metrics`)
  const text = await r.body.text()
  const m = /^portico_process_nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)$/m.exec(text)
  assert.ok(m, 'heap gauge in /metrics')
  return Number(m[1])
}

test('a 40 MB JSON body is transformed; the heap its parse took is given back soon after', async () => {
  const rows = Array.from({ length: 700_000 }, (_, i) => JSON.stringify({ id: i, name: `user${i}`, tags: ['a', 'b'], ok: true }))
  const body = Buffer.from(`{"rows":[${rows.join(',')}]}`)
  rows.length = 0
  assert.ok(body.length > 40e6)
  const before = await heapUsed()
  const r = await request(`${gw.url}/big/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const seen = (await r.body.json()) as { bytes: number; tagged: boolean }
  assert.equal(r.statusCode, 200)
  assert.equal(seen.tagged, true, 'the rule ran on the 40 MB body')
  assert.ok(seen.bytes > body.length)
  // The parse took ~7× the body (hundreds of MB). Without the collection the heap stays there with
  // nothing else to do; with it, it comes back to within a few MB of where it started.
  let last = 0
  await pollUntil(
    async () => {
      last = await heapUsed()
      return last < before + 60e6
    },
    { what: 'the heap given back after the large body', timeoutMs: 30_000, intervalMs: 500 },
  ).catch((e: unknown) => {
    throw new Error(`${String(e)}: heap ${Math.round(before / 1e6)} MB before, ${Math.round(last / 1e6)} MB now`)
  })
})
