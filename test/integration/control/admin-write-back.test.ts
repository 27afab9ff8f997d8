// admin.write_back with the file config source: an admin API write that serves is saved to the
// config file (by rename, YAML kept YAML, ${ENV} references kept), without the watcher reloading
// its own write; a later edit of the file still reloads. Without write_back the file is untouched.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { request } from 'undici'
import { parse } from 'yaml'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'

const TOKEN = 'write-back-token-0123456789abcdef'
const hex = (s: string) => createHash('sha256').update(s).digest('hex')
let origin: Origin
const gateways: Gateway[] = []

before(async () => {
  origin = await startOrigin()
})
after(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await origin.close()
})

function start(writeBack: boolean): Promise<Gateway> {
  return startGateway({
    args: ['--workers', '1'],
    env: { WB_ORIGIN: origin.url },
    config: ({ port, adminPort }) => `# hand-written comment
server: { listen: 127.0.0.1:${port} }
admin:
  listen: 127.0.0.1:${adminPort}
  write_back: ${writeBack}
  tokens: [{ name: ops, role: admin, sha256: ${hex(TOKEN)} }]
upstreams:
  o: { targets: [{ url: "\${WB_ORIGIN}" }] }
routes:
  - { name: one, paths: [/one/*], upstream: o }
`,
  }).then((g) => {
    gateways.push(g)
    return g
  })
}

async function addRoute(gw: Gateway, name: string): Promise<number> {
  const res = await request(`${gw.adminUrl}/admin/routes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, paths: [`/${name}/*`], upstream: 'o' }),
  })
  await res.body.dump()
  return res.statusCode
}

const status = async (gw: Gateway, path: string) => {
  const r = await request(`${gw.url}${path}`)
  await r.body.dump()
  return r.statusCode
}
const reloads = (gw: Gateway) => (gw.stdout().match(/"msg":"config reloaded"/g) ?? []).length

test('write_back: the admin write is in the file, the watcher does not reload it again, a later file edit reloads', async () => {
  const gw = await start(true)
  assert.equal(await addRoute(gw, 'two'), 201)
  assert.equal(await status(gw, '/two/x'), 200)
  await gw.waitForOutput(/admin write saved to the config file/)
  const saved = parse(await readFile(gw.configFile, 'utf8')) as { routes: Array<{ name: string }>; upstreams: { o: { targets: Array<{ url: string }> } } }
  assert.deepEqual(saved.routes.map((r) => r.name), ['one', 'two'])
  assert.equal(saved.upstreams.o.targets[0]!.url, '${WB_ORIGIN}', 'references stay references')
  const afterWrite = reloads(gw)

  // An edit of the file (one route removed) reloads; the save's own rename did not.
  const doc = saved as unknown as Record<string, unknown>
  await gw.writeConfig({ ...doc, routes: saved.routes.filter((r) => r.name !== 'one') })
  await pollUntil(async () => (await status(gw, '/one/x')) === 404, { timeoutMs: 20_000, what: 'the file edit served' })
  // A worker serves the new table before the primary's "config reloaded" line reaches our pipe.
  await pollUntil(() => reloads(gw) > afterWrite, { timeoutMs: 20_000, what: 'the reload logged' })
  assert.equal(reloads(gw), afterWrite + 1, 'one reload for the edit, none for the save')
  assert.equal(await status(gw, '/two/x'), 200)
})

test('without write_back the file is left as it was', async () => {
  const gw = await start(false)
  const before = await readFile(gw.configFile, 'utf8')
  assert.equal(await addRoute(gw, 'two'), 201)
  assert.equal(await status(gw, '/two/x'), 200)
  assert.equal(await readFile(gw.configFile, 'utf8'), before)
  assert.doesNotMatch(gw.stdout(), /saved to the config file/)
})
