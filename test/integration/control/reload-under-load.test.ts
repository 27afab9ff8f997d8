// Reloading under traffic drops nothing: 8 keep-alive clients loop while the config file is
// rewritten five times (valid) and once broken.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Pool } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'
import { adminJson, startGateway, type Gateway } from '../../helpers/gateway.js'

interface Status {
  config: { version: number }
  last_reload: { result: string } | null
  workers: Array<{ config_version: number | null }>
}

describe('hot reload under load', () => {
  let origin: Origin
  let gw: Gateway
  const config = (extra: number) => ({
    upstreams: { echo: { targets: [{ url: origin.url }] } },
    routes: [
      { name: 'hot', paths: ['/hot/*'], upstream: 'echo', plugins: [{ name: 'headers', config: { response: { set: { 'x-generation': String(extra) } } } }] },
      ...Array.from({ length: extra }, (_, i) => ({ name: `extra-${i}`, paths: [`/extra-${i}/*`], upstream: 'echo' })),
    ],
  })

  before(async () => {
    origin = await startOrigin()
    gw = await startGateway({ config: config(0), args: ['--workers', '2'] })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('8 concurrent keep-alive clients see only 2xx across 5 reloads and 1 rejected file', async () => {
    const pool = new Pool(gw.url, { connections: 8, pipelining: 1 })
    let stop = false
    let ok = 0
    const bad: string[] = []
    const loop = async () => {
      while (!stop) {
        try {
          const res = await pool.request({ path: '/hot/x', method: 'GET' })
          await res.body.dump()
          if (res.statusCode >= 200 && res.statusCode < 300) ok++
          else bad.push(String(res.statusCode))
        } catch (err) {
          bad.push((err as Error).message)
        }
      }
    }
    const clients = Array.from({ length: 8 }, loop)
    const waitVersion = (v: number) =>
      pollUntil(
        async () => {
          const { body } = await adminJson<Status>(gw, '/status')
          return body.config.version === v && body.workers.every((w) => w.config_version === v)
        },
        { timeoutMs: 10_000, what: `config version ${v} on every worker` },
      )
    try {
      await pollUntil(() => ok > 50, { what: 'traffic to flow' })
      for (let gen = 1; gen <= 5; gen++) {
        await gw.writeConfig(config(gen))
        await waitVersion(gen + 1)
        const before = ok
        await pollUntil(() => ok > before + 20, { what: `traffic after reload ${gen}` })
        if (gen === 3) {
          await gw.writeConfig('routes: [ this is not valid')
          await pollUntil(async () => (await adminJson<Status>(gw, '/status')).body.last_reload?.result === 'rejected', { what: 'the broken file to be rejected' })
          const afterBroken = ok
          await pollUntil(() => ok > afterBroken + 20, { what: 'traffic after the rejected file' })
        }
      }
    } finally {
      stop = true
      await Promise.all(clients)
      await pool.close()
    }
    assert.deepEqual(bad, [], `${bad.length} failed requests out of ${ok + bad.length}`)
    assert.ok(ok > 200, `only ${ok} requests went through`)
  })
})
