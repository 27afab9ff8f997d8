// Consul KV as the config center, against a STAND-IN for Consul's HTTP API (test/helpers/consul.ts):
// Consul is not packaged for this environment. The stand-in implements the documented subset the
// source uses: the KV API (https://developer.hashicorp.com/consul/api-docs/kv) with recurse,
// blocking queries (https://developer.hashicorp.com/consul/api-docs/features/blocking) and
// ?cas=<ModifyIndex>, transactions (https://developer.hashicorp.com/consul/api-docs/txn) and ACL
// tokens (X-Consul-Token, 403 otherwise).
// One gateway (then its restart): keys under the prefix serve and follow within a blocking query;
// admin writes are compare-and-set on ModifyIndex (a write against a stale index is refused with
// 412); an invalid value is refused (the resource keeps its last valid version, the key is named);
// a revoked token or an outage keeps the config serving with a metric, and recovery picks up the
// changes made meanwhile; a restart with Consul down serves the last-known-good cache; a cluster
// whose index goes backwards onto an empty prefix does not empty the config.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { startConsul, type ConsulStandIn } from '../../helpers/consul.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { pollUntil } from '../../helpers/poll.js'

const P = 'portico-test/'
const TOKEN = 'consul-acl-token'

async function call(gw: Gateway, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await request(`${gw.adminUrl}${path}`, {
    method: method as 'GET',
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.body.text()
  return { status: res.statusCode, etag: res.headers.etag as string | undefined, text, json: JSON.parse(text) as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function status(gw: Gateway, path: string): Promise<number> {
  const res = await request(`${gw.url}${path}`)
  await res.body.dump()
  return res.statusCode
}

async function metrics(gw: Gateway): Promise<string> {
  const res = await request(`${gw.adminUrl}/metrics`)
  return res.body.text()
}

const center = async (gw: Gateway) => (await call(gw, 'GET', '/status')).json.config_center as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

describe('Consul KV config center (stand-in)', () => {
  let consul: ConsulStandIn
  let origin: Origin
  let dir: string
  let gw: Gateway

  const boot = () => ({
    config_center: { consul: { servers: [consul.url], prefix: P, token: '${env:PORTICO_TEST_CONSUL_TOKEN}', wait: '1s', timeout: '1s', cache_file: join(dir, 'consul-cache.json') } },
    upstreams: {},
    routes: [],
  })
  const start = () => startGateway({ config: boot(), args: ['--no-cluster'], env: { PORTICO_TEST_CONSUL_TOKEN: TOKEN } })

  before(async () => {
    ;[consul, origin, dir] = await Promise.all([startConsul({ token: TOKEN }), startOrigin(), mkdtemp(join(tmpdir(), 'portico-consul-center-'))])
    consul.kvPut(`${P}upstreams/u`, JSON.stringify({ targets: [{ url: origin.url }] }))
    consul.kvPut(`${P}routes/r`, JSON.stringify({ paths: ['/r'], upstream: 'u' }))
    consul.kvPut(`${P}instances/other`, 'not a resource: ignored')
    gw = await start()
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
    await consul?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('keys under the prefix serve; a put appears within one blocking query', async () => {
    assert.equal(await status(gw, '/r'), 200)
    const blockingBefore = consul.blocking
    consul.kvPut(`${P}routes/r2`, JSON.stringify({ paths: ['/r2'], upstream: 'u' }))
    await pollUntil(async () => (await status(gw, '/r2')) === 200, { timeoutMs: 15_000, what: 'route r2' })
    assert.ok(consul.blocking > blockingBefore || consul.blocking > 0, 'followed with blocking queries')
    consul.kvDelete(`${P}routes/r2`)
    await pollUntil(async () => (await status(gw, '/r2')) === 404, { timeoutMs: 15_000, what: 'route r2 deleted' })
    const c = await center(gw)
    assert.equal(c.kind, 'consul')
    assert.equal(c.connected, true)
  })

  test('admin writes are compare-and-set on ModifyIndex; a stale index gets 412', async () => {
    const w = await call(gw, 'PUT', '/admin/routes/w', { paths: ['/w'], upstream: 'u' })
    assert.equal(w.status, 201, w.text)
    assert.equal(await status(gw, '/w'), 200, 'serves when the write returns')
    assert.deepEqual(JSON.parse(consul.kvGet(`${P}routes/w`)!.value), { paths: ['/w'], upstream: 'u', name: 'w' })
    // Two resources in one write: one transaction.
    const both = await call(gw, 'PATCH', '/admin/config', { routes: [...(await call(gw, 'GET', '/admin/config')).json.data.routes, { name: 'x1', paths: ['/x1'], upstream: 'u' }, { name: 'x2', paths: ['/x2'], upstream: 'u' }] })
    assert.equal(both.status, 200, both.text)
    assert.equal(consul.kvGet(`${P}routes/x1`)!.modify, consul.kvGet(`${P}routes/x2`)!.modify, 'one transaction, one index')
    // Another writer changes w while this instance's watch lags behind: its write must not win.
    const etag = (await call(gw, 'GET', '/admin/routes/w')).etag!
    consul.frozen = true
    consul.kvPut(`${P}routes/w`, JSON.stringify({ name: 'w', paths: ['/w'], upstream: 'u', priority: 7 }))
    const lost = await call(gw, 'PATCH', '/admin/routes/w', { priority: 1 }, { 'if-match': etag })
    consul.thaw()
    assert.equal(lost.status, 412, lost.text)
    assert.equal(JSON.parse(consul.kvGet(`${P}routes/w`)!.value).priority, 7, 'the other writer kept its change')
    await pollUntil(async () => (await call(gw, 'GET', '/admin/routes/w')).json.data.priority === 7, { timeoutMs: 15_000, what: 'the other write served' })
  })

  test('an invalid value is refused: the resource keeps its last valid version and the key is named', async () => {
    consul.kvPut(`${P}routes/r`, JSON.stringify({ paths: ['/r'], upstream: 'missing' }))
    consul.kvPut(`${P}routes/bad`, '{nope')
    await pollUntil(async () => (await center(gw)).isolated.length === 2, { timeoutMs: 15_000, what: 'two isolated keys' })
    const isolated = (await center(gw)).isolated as Array<{ key: string; serving?: string; errors: Array<{ message: string }> }>
    const r = isolated.find((i) => i.key === `${P}routes/r`)!
    assert.equal(r.serving, 'last valid version')
    assert.match(r.errors[0]!.message, /missing/)
    assert.equal(isolated.find((i) => i.key === `${P}routes/bad`)!.errors[0]!.message, 'the value is not JSON')
    assert.equal(await status(gw, '/r'), 200, 'the old version of r keeps serving')
    assert.match(await metrics(gw), /portico_config_isolated_resources\{kind="routes"\} 2/)
    assert.match((await call(gw, 'GET', '/readyz')).json.detail, /portico-test\/routes\/r/)
    consul.kvPut(`${P}routes/r`, JSON.stringify({ paths: ['/r'], upstream: 'u' }))
    consul.kvDelete(`${P}routes/bad`)
    await pollUntil(async () => (await center(gw)).isolated.length === 0, { timeoutMs: 15_000, what: 'isolation cleared' })
  })

  test('a revoked ACL token keeps the config serving, counted as auth; a valid one resumes', async () => {
    consul.token = 'rotated'
    await pollUntil(async () => (await center(gw)).connected === false, { timeoutMs: 15_000, what: 'the 403 noticed' })
    assert.match((await center(gw)).last_error, /403/)
    assert.match(await metrics(gw), /portico_config_source_errors_total\{source="consul",reason="auth"\} [1-9]/)
    assert.equal(await status(gw, '/r'), 200)
    consul.token = TOKEN
    await pollUntil(async () => (await center(gw)).connected === true, { timeoutMs: 15_000, what: 'following again' })
  })

  test('an outage keeps serving; changes made meanwhile are picked up on recovery', async () => {
    await consul.down()
    await pollUntil(async () => (await center(gw)).connected === false, { timeoutMs: 15_000, what: 'the outage noticed' })
    assert.match(await metrics(gw), /portico_config_source_up\{source="consul"\} 0/)
    assert.equal(await status(gw, '/r'), 200)
    assert.equal((await call(gw, 'PUT', '/admin/routes/during', { paths: ['/during'], upstream: 'u' })).status, 422, 'no write while Consul is down')
    consul.kvPut(`${P}routes/during`, JSON.stringify({ paths: ['/during'], upstream: 'u' }))
    await consul.up()
    await pollUntil(async () => (await status(gw, '/during')) === 200, { timeoutMs: 15_000, what: 'the change made during the outage' })
    assert.match(await metrics(gw), /portico_config_source_up\{source="consul"\} 1/)
  })

  test('a restart with Consul down serves the cache; an index going backwards onto an empty prefix does not empty it', async () => {
    await gw.stop()
    await consul.down()
    gw = await start()
    assert.equal(await status(gw, '/r'), 200)
    assert.equal(await status(gw, '/during'), 200)
    assert.match((await call(gw, 'GET', '/readyz')).json.detail, /serving the cached config from .*consul-cache\.json/)
    await consul.up()
    consul.kvPut(`${P}routes/back`, JSON.stringify({ paths: ['/back'], upstream: 'u' }))
    await pollUntil(async () => (await status(gw, '/back')) === 200, { timeoutMs: 15_000, what: 'following Consul again' })
    assert.equal((await call(gw, 'GET', '/readyz')).json.detail, undefined)
    // A wiped cluster (index 1, nothing under the prefix): the config stays.
    consul.restore(1)
    await pollUntil(async () => (await center(gw)).suspect_empty === true, { timeoutMs: 15_000, what: 'the wipe noticed' })
    assert.equal(await status(gw, '/r'), 200)
    consul.kvPut(`${P}upstreams/u`, JSON.stringify({ targets: [{ url: origin.url }] }))
    consul.kvPut(`${P}routes/fresh`, JSON.stringify({ paths: ['/fresh'], upstream: 'u' }))
    await pollUntil(async () => (await status(gw, '/fresh')) === 200, { timeoutMs: 15_000, what: 'the new cluster followed once it holds resources' })
    assert.equal(await status(gw, '/r'), 404, 'the new cluster is the truth now')
  })
})
