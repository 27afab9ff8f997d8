// Apollo as the config center, against a STAND-IN for Apollo's config service
// (test/helpers/apollo.ts): Apollo is not installable here. The stand-in implements the documented
// client API (https://www.apolloconfig.com/#/en/client/other-language-client-user-guide): the
// config fetch with releaseKey (200 / 304 / 404), the notifications/v2 long poll (held until a
// release, 304 on timeout), and access-key signatures (Authorization: Apollo <appId>:<HMAC-SHA1>,
// Timestamp; 401 otherwise).
// One gateway (then its restart) on a `portico.yaml` namespace: its routes serve and a release
// arrives through the long poll; an invalid resource is refused (its last valid version keeps
// serving, the item is named) and unparsable YAML is refused as a whole with its line; the API does
// not write (read-only); a wrong secret or an outage keeps the config serving, and recovery picks up
// the release made meanwhile; a restart with Apollo down serves the last-known-good cache.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { stringify } from 'yaml'
import { startApollo, type ApolloStandIn } from '../../helpers/apollo.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

const APP = 'portico-gw'
const NS = 'portico.yaml'
const SECRET = 'apollo-access-key-secret'

async function call(gw: Gateway, method: string, path: string, body?: unknown) {
  const res = await request(`${gw.adminUrl}${path}`, { method: method as 'GET', headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.body.text()
  return { status: res.statusCode, text, json: JSON.parse(text) as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function status(gw: Gateway, path: string): Promise<number> {
  const res = await request(`${gw.url}${path}`)
  await res.body.dump()
  return res.statusCode
}

const center = async (gw: Gateway) => (await call(gw, 'GET', '/status')).json.config_center as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

describe('Apollo config center (stand-in)', () => {
  let apollo: ApolloStandIn
  let origin: Origin
  let dir: string
  let gw: Gateway
  let routes: Array<Record<string, unknown>>

  const release = (content: string) => apollo.publish(NS, { content })
  const releaseRoutes = (r: Array<Record<string, unknown>>) => {
    routes = r
    release(stringify({ upstreams: { u: { targets: [{ url: origin.url }] } }, routes: r }))
  }
  const boot = () => ({
    config_center: { apollo: { server: apollo.url, app_id: APP, namespace: NS, secret: '${env:PORTICO_TEST_APOLLO_SECRET}', timeout: '1s', cache_file: join(dir, 'apollo-cache.json') } },
    upstreams: {},
    routes: [],
  })
  const start = () => startGateway({ config: boot(), args: ['--no-cluster'], env: { PORTICO_TEST_APOLLO_SECRET: SECRET } })

  before(async () => {
    ;[apollo, origin, dir] = await Promise.all([startApollo({ appId: APP, secret: SECRET, holdMs: 3000 }), startOrigin(), mkdtemp(join(tmpdir(), 'portico-apollo-center-'))])
    releaseRoutes([{ name: 'r', paths: ['/r'], upstream: 'u' }])
    gw = await start()
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
    await apollo?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('the namespace serves; a release arrives through the long poll', async () => {
    assert.equal(await status(gw, '/r'), 200)
    const polls = apollo.polls304
    releaseRoutes([...routes, { name: 'r2', paths: ['/r2'], upstream: 'u' }])
    await pollUntil(async () => (await status(gw, '/r2')) === 200, { timeoutMs: 15_000, what: 'route r2' })
    assert.equal(apollo.polls304, polls, 'answered by the release, not by the poll timing out')
    const c = await center(gw)
    assert.equal(c.kind, 'apollo')
    assert.equal(c.location, `${APP}/default/${NS}`)
  })

  test('an invalid resource keeps its last valid version; unparsable YAML is refused as a whole', async () => {
    releaseRoutes([{ name: 'r', paths: ['/r'], upstream: 'missing' }, { name: 'r2', paths: ['/r2'], upstream: 'u', bogus: 1 }])
    await pollUntil(async () => (await center(gw)).isolated.length === 2, { timeoutMs: 15_000, what: 'two isolated items' })
    const isolated = (await center(gw)).isolated as Array<{ key: string; serving?: string }>
    assert.deepEqual(isolated.map((i) => i.key).sort(), ['routes.r', 'routes.r2'])
    assert.ok(isolated.every((i) => i.serving === 'last valid version'))
    assert.equal(await status(gw, '/r'), 200)
    assert.equal(await status(gw, '/r2'), 200)
    release('routes: [ { name: r, paths: [/r] ')
    await pollUntil(async () => ((await center(gw)).document_errors?.length ?? 0) > 0, { timeoutMs: 15_000, what: 'the YAML refused' })
    const s = (await call(gw, 'GET', '/status')).json
    assert.equal(s.last_reload.result, 'rejected')
    assert.equal(s.last_reload.errors[0].file, NS)
    assert.equal(typeof s.last_reload.errors[0].line, 'number')
    assert.equal(await status(gw, '/r'), 200, 'the serving config stays')
    releaseRoutes([{ name: 'r', paths: ['/r'], upstream: 'u' }, { name: 'r2', paths: ['/r2'], upstream: 'u' }])
    await pollUntil(async () => {
      const c = await center(gw)
      return c.isolated.length === 0 && c.document_errors === null
    }, { timeoutMs: 15_000, what: 'a good release again' })
  })

  test('the admin API does not write to Apollo', async () => {
    const r = await call(gw, 'PUT', '/admin/routes/x', { paths: ['/x'], upstream: 'u' })
    assert.equal(r.status, 422, r.text)
    assert.match(r.text, /read-only/)
  })

  test('a wrong access key keeps the config serving (auth error counted); the right one resumes', async () => {
    apollo.secret = 'rotated-on-the-server'
    release(stringify({ upstreams: { u: { targets: [{ url: origin.url }] } }, routes })) // wake the poll
    await pollUntil(async () => (await center(gw)).connected === false, { timeoutMs: 15_000, what: 'the 401 noticed' })
    assert.match(await (await request(`${gw.adminUrl}/metrics`)).body.text(), /portico_config_source_errors_total\{source="apollo",reason="auth"\} [1-9]/)
    assert.equal(await status(gw, '/r'), 200)
    apollo.secret = SECRET
    await pollUntil(async () => (await center(gw)).connected === true, { timeoutMs: 15_000, what: 'following again' })
  })

  test('an outage keeps serving; the release made meanwhile arrives on recovery', async () => {
    await apollo.down()
    await pollUntil(async () => (await center(gw)).connected === false, { timeoutMs: 15_000, what: 'the outage noticed' })
    assert.equal(await status(gw, '/r'), 200)
    releaseRoutes([...routes, { name: 'during', paths: ['/during'], upstream: 'u' }])
    await apollo.up()
    await pollUntil(async () => (await status(gw, '/during')) === 200, { timeoutMs: 15_000, what: 'the release made during the outage' })
  })

  test('a restart with Apollo down serves the cache', async () => {
    await gw.stop()
    await apollo.down()
    gw = await start()
    assert.equal(await status(gw, '/during'), 200)
    assert.match((await call(gw, 'GET', '/readyz')).json.detail, /serving the cached config from .*apollo-cache\.json/)
    releaseRoutes([...routes, { name: 'back', paths: ['/back'], upstream: 'u' }])
    await apollo.up()
    await pollUntil(async () => (await status(gw, '/back')) === 200, { timeoutMs: 15_000, what: 'following Apollo again' })
    assert.equal((await call(gw, 'GET', '/readyz')).json.detail, undefined)
  })
})
