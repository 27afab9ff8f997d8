// The plugin pipeline inside a running gateway (a failing plugin, async plugins), reload
// carry-over of upstream pools, trusted proxies.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Type } from '@sinclair/typebox'
import { request } from 'undici'
import { startOrigin, echo, type Origin } from '../../helpers/origin.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { definePlugin, type PluginDefinition } from '../../../src/plugins/contract.js'
import { BUILTIN_PLUGINS } from '../../../src/plugins/registry.js'

const json = async (r: Awaited<ReturnType<typeof request>>) => (await r.body.json()) as Record<string, unknown>

// Test-only plugins, registered next to the built-ins through DataPlaneOptions.plugins.
const explode = definePlugin({
  name: 'explode',
  phases: ['access'],
  priority: 1,
  status: 'experimental',
  schema: Type.Object({ async: Type.Boolean({ default: false }) }),
  create: (config) => ({
    access: () => {
      if (config.async) return Promise.reject(new Error('async kaput'))
      throw new Error('kaput')
    },
  }),
})
const stamp = definePlugin({
  name: 'stamp',
  phases: ['access', 'response'],
  priority: 2,
  status: 'experimental',
  schema: Type.Object({}),
  create: () => ({
    access: async (ctx) => {
      await new Promise((r) => setImmediate(r))
      ctx.upstreamHeaders['x-stamped'] = ctx.routeName
      return undefined
    },
    response: async (_ctx, head) => {
      await new Promise((r) => setImmediate(r))
      head.headers['x-response-stamped'] = 'yes'
    },
  }),
})
const plugins = new Map<string, PluginDefinition>([...BUILTIN_PLUGINS, ['explode', explode as unknown as PluginDefinition], ['stamp', stamp as unknown as PluginDefinition]])

describe('plugins in a running gateway', () => {
  let origin: Origin
  let gw: InProcGateway
  before(async () => {
    origin = await startOrigin(echo)
    gw = await startInProc(
      `
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes:
  - { name: sync-boom, paths: [/boom], upstream: o, plugins: [ { name: explode } ] }
  - { name: async-boom, paths: [/aboom], upstream: o, plugins: [ { name: explode, config: { async: true } } ] }
  - { name: stamped, paths: [/stamped], upstream: o, plugins: [ { name: stamp } ] }
`,
      { plugins },
    )
  })
  after(async () => {
    await gw.close()
    await origin.close()
  })

  for (const path of ['/boom', '/aboom']) {
    test(`a plugin that throws (${path}) → 500 plugin_error with the request id; the gateway keeps serving`, async () => {
      const before = origin.seen.length
      const r = await request(`${gw.url}${path}`)
      assert.equal(r.statusCode, 500)
      const body = await json(r)
      assert.equal(body.error, 'plugin_error')
      assert.equal(body.request_id, r.headers['x-request-id'])
      assert.doesNotMatch(JSON.stringify(body), /kaput/, 'internals are logged, not sent')
      assert.equal(origin.seen.length, before)
      const ok = await request(`${gw.url}/stamped`)
      assert.equal(ok.statusCode, 200)
      await ok.body.dump()
    })
  }

  test('async access and response handlers run in order around the upstream call', async () => {
    const r = await request(`${gw.url}/stamped`)
    assert.equal(r.headers['x-response-stamped'], 'yes')
    assert.equal(((await json(r)).headers as Record<string, string>)['x-stamped'], 'stamped')
  })
})

describe('reload carry-over', () => {
  test('an unchanged upstream keeps its pool (same upstream connection) across a reload; a changed one does not', async () => {
    const origin = await startOrigin((req, res) => res.end(String(req.socket.remotePort)))
    const doc = (extraRoute: string, weight: number) => `
upstreams:
  kept: { targets: [ { url: ${origin.url} } ] }
  changed: { targets: [ { url: ${origin.url}, weight: ${weight} } ] }
routes:
  - { name: kept, paths: [/kept], upstream: kept }
  - { name: changed, paths: [/changed], upstream: changed }
${extraRoute}`
    const gw = await startInProc(doc('', 1))
    try {
      const port = async (p: string) => (await request(`${gw.url}${p}`)).body.text()
      const keptBefore = await port('/kept')
      const changedBefore = await port('/changed')
      await gw.reload(doc(`  - { name: extra, paths: [/extra], upstream: kept }`, 2))
      assert.equal(await port('/kept'), keptBefore, 'the kept upstream opened a new connection')
      assert.notEqual(await port('/changed'), changedBefore, 'the changed upstream reused the old pool')
      const extra = await request(`${gw.url}/extra`)
      assert.equal(extra.statusCode, 200)
      await extra.body.dump()
    } finally {
      await gw.close()
      await origin.close()
    }
  })
})

describe('trusted proxies', () => {
  test('X-Forwarded-For from a trusted peer is extended, and the client address taken from it', async () => {
    const origin = await startOrigin(echo)
    const gw = await startInProc(`
server: { listen: 127.0.0.1:0, trusted_proxies: [127.0.0.0/8] }
upstreams: { o: { targets: [ { url: ${origin.url} } ] } }
routes: [ { name: all, paths: ["/*"], upstream: o, plugins: [ { name: headers, config: { request: { set: { x-client: $client_ip } } } } ] } ]
`)
    try {
      const r = await request(`${gw.url}/x`, { headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.1', 'x-forwarded-proto': 'https' } })
      const h = (await json(r)).headers as Record<string, string>
      assert.equal(h['x-forwarded-for'], '203.0.113.7, 10.0.0.1, 127.0.0.1')
      assert.equal(h['x-forwarded-proto'], 'https')
      // 10.0.0.1 is not trusted, so it is the client as far as the gateway can tell.
      assert.equal(h['x-client'], '10.0.0.1')
    } finally {
      await gw.close()
      await origin.close()
    }
  })
})
