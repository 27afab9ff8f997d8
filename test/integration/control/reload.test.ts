// Live reload through the config file and SIGHUP: new routes appear without a restart, a broken
// file is rejected with file:line:col while the old config keeps serving.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'
import { adminJson, startGateway, type Gateway } from '../../helpers/gateway.js'

interface Status {
  config: { version: number; hash: string }
  last_reload: { trigger: string; result: string; version: number | null; errors: Array<{ line?: number; column?: number; path?: string; message: string }> } | null
  workers: Array<{ config_version: number | null }>
}

async function get(url: string): Promise<number> {
  const res = await request(url)
  await res.body.dump()
  return res.statusCode
}

describe('config reload', () => {
  let origin: Origin
  let gw: Gateway
  const upstreams = () => ({ echo: { targets: [{ url: origin.url }] } })
  const routeA = { name: 'a', paths: ['/a/*'], upstream: 'echo' }
  const routeB = { name: 'b', paths: ['/b/*'], upstream: 'echo' }

  before(async () => {
    origin = await startOrigin()
    gw = await startGateway({ config: { upstreams: upstreams(), routes: [routeA] }, args: ['--workers', '2'] })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('rewriting the file adds a route on every worker', async () => {
    assert.equal(await get(`${gw.url}/a/1`), 200)
    assert.equal(await get(`${gw.url}/b/1`), 404)
    await gw.writeConfig({ upstreams: upstreams(), routes: [routeA, routeB] })
    const status = await pollUntil(
      async () => {
        const { body } = await adminJson<Status>(gw, '/status')
        return body.config.version === 2 && body.workers.every((w) => w.config_version === 2) ? body : undefined
      },
      { timeoutMs: 10_000, what: 'config version 2 on every worker' },
    )
    assert.equal(status.last_reload?.result, 'ok')
    assert.equal(status.last_reload?.trigger, 'file')
    // Several requests, so both workers are very likely asked.
    for (let i = 0; i < 6; i++) assert.equal(await get(`${gw.url}/b/${i}`), 200)
    assert.equal(await get(`${gw.url}/a/1`), 200)
  })

  test('a broken file is rejected with file:line:col and the old routes keep answering', async () => {
    const { body: before } = await adminJson<Status>(gw, '/status')
    // Line 8 holds the unknown key.
    const broken = [
      `server: { listen: "127.0.0.1:${gw.port}" }`,
      `admin: { listen: "127.0.0.1:${gw.adminPort}" }`,
      'upstreams:',
      '  echo:',
      `    targets: [{ url: "${origin.url}" }]`,
      'routes:',
      '  - name: c',
      '    pathz: [/c/*]',
      '    upstream: echo',
      '',
    ].join('\n')
    await gw.writeConfig(broken)
    const status = await pollUntil(
      async () => {
        const { body } = await adminJson<Status>(gw, '/status')
        return body.last_reload?.result === 'rejected' ? body : undefined
      },
      { timeoutMs: 10_000, what: 'the reload to be rejected' },
    )
    assert.equal(status.config.version, before.config.version, 'the rejected file did not become a version')
    assert.equal(status.config.hash, before.config.hash)
    const pathErr = status.last_reload!.errors.find((e) => e.path === 'routes[0].pathz')
    assert.ok(pathErr, JSON.stringify(status.last_reload))
    assert.equal(pathErr.line, 8)
    assert.ok((pathErr.column ?? 0) > 0)
    await gw.waitForOutput(new RegExp(`${gw.configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:8:\\d+`))
    assert.match(gw.stdout(), /config reload rejected/)
    assert.equal(await get(`${gw.url}/a/1`), 200)
    assert.equal(await get(`${gw.url}/b/1`), 200)
    assert.equal(await get(`${gw.url}/c/1`), 404)

    const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text()
    assert.match(metrics, /portico_config_reloads_total\{result="rejected"\} 1/)
  })

  test('SIGHUP reloads even when the file did not change', async () => {
    await gw.writeConfig({ upstreams: upstreams(), routes: [routeA, routeB] })
    // Same document as the serving one: the watcher sees the change but has nothing to apply.
    await gw.waitForOutput(/the document is the same; nothing to reload/)
    const { body: before } = await adminJson<Status>(gw, '/status')
    process.kill(gw.pid, 'SIGHUP')
    const status = await pollUntil(
      async () => {
        const { body } = await adminJson<Status>(gw, '/status')
        return body.last_reload?.trigger === 'SIGHUP' && body.last_reload.result === 'ok' ? body : undefined
      },
      { timeoutMs: 10_000, what: 'a SIGHUP reload' },
    )
    assert.equal(status.config.version, before.config.version + 1)
    assert.equal(status.config.hash, before.config.hash)
    assert.equal(await get(`${gw.url}/b/1`), 200)
  })
})
