// A real gateway (the portico CLI) whose store.redis is a redis-server that requires client
// certificates (tls-auth-clients yes). Without a client certificate the connection is refused:
// rate-limit's failure_mode open lets requests through on local counters, /status says why the
// store is down and so does the log, and neither shows any key material. The config is then fixed
// on disk (client certificate and key given as ${file:} references, the key a secret): the reload
// makes a new Store, which connects, and decisions are counted in Redis. A reload with a key that
// is not the certificate's is refused with a reason naming store.redis.tls, and the working Store
// stays.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { createPki, type Ca, type Issued } from '../helpers/pki.js'
import { startRedis, redisLinks, type RedisLinks, type RedisServer, type RedisTlsFiles } from '../helpers/redis.js'
import { startOrigin, type Origin } from '../helpers/origin.js'
import { startGateway, adminJson, type Gateway } from '../helpers/gateway.js'
import { pollUntil } from '../helpers/poll.js'
import { exitWhenDone } from '../helpers/exit-watchdog.js'

interface StoreStatus {
  kind: string
  topology: string
  state: string
  last_error?: string
}

let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let client: Issued
let serverTls: RedisTlsFiles
let redis: RedisServer | undefined
let links: RedisLinks | undefined
let origin: Origin | undefined
let gw: Gateway | undefined
/** The key of the mismatched-key reload, looked for in the output too. */
let wrongKey = ''

function config(tls: Record<string, unknown>): Record<string, unknown> {
  return {
    log: { level: 'info', access_log: false },
    store: { redis: { url: redis!.url, tls, timeout: 500 } },
    upstreams: { o: { targets: [{ url: origin!.url }] } },
    routes: [
      {
        // A bucket of 3 per client that refills one token in 20 minutes: no window boundary can
        // reset it during the test. The local fallback keeps its own bucket (per worker).
        name: 'limited',
        paths: ['/limited/*'],
        upstream: 'o',
        plugins: [{ name: 'rate-limit', config: { policy: 'redis', failure_mode: 'open', timeout: 500, limits: [{ limit: 3, window: '1h', algorithm: 'token-bucket' }] } }],
      },
    ],
  }
}

async function status(): Promise<StoreStatus | undefined> {
  const { body } = await adminJson<{ store?: StoreStatus[] }>(gw!, '/status?format=json')
  return body.store?.[0]
}

async function get(path: string): Promise<number> {
  const r = await request(`${gw!.url}${path}`)
  await r.body.dump()
  return r.statusCode
}

before(async () => {
  pki = await createPki()
  ca = await pki.ca('Redis mTLS gateway CA')
  const server = await ca.issue({ names: ['redis.test'], sans: ['IP:127.0.0.1'], serverAndClient: true, file: 'redis' })
  client = await ca.issue({ cn: 'portico', client: true, file: 'portico' })
  serverTls = { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile, authClients: true }
  ;[redis, origin] = await Promise.all([startRedis({ tls: serverTls }), startOrigin()])
  links = redisLinks(serverTls)
  gw = await startGateway({ config: config({ ca_file: ca.certFile }), args: ['--no-cluster'] })
})
after(async () => {
  links?.close()
  await gw?.stop()
  await Promise.all([redis?.close(), origin?.close()])
  await pki?.remove()
})

describe('a gateway on a Redis that requires client certificates', () => {
  test('without a client certificate: refused; failure_mode open lets requests through; /status and the log say why', async () => {
    // The reason arrives with a failed connection attempt (or the Store's probe, within seconds).
    await pollUntil(async () => /alert certificate required/.test((await status())?.last_error ?? ''), { timeoutMs: 30_000, intervalMs: 200, what: '/status store.last_error' })
    const st = (await status())!
    assert.equal(st.kind, 'redis')
    assert.notEqual(st.state, 'ready')
    const text = await request(`${gw!.adminUrl}/status?format=text`)
    assert.match(await text.body.text(), /STORE {2}redis {2}topology=single {2}state=\w+ .*\n {2}last error: tls: tlsv13 alert certificate required/)

    // failure_mode open: this worker's local counters decide (same limit), no 503.
    assert.deepEqual([await get('/limited/a'), await get('/limited/a')], [200, 200])
    await gw!.waitForOutput(/rate-limit: redis failed; applying failure_mode/, 30_000)
    const line = gw!.stdout().split('\n').find((l) => l.includes('rate-limit: redis failed'))!
    assert.match(line, /alert certificate required/, 'the log line says why')
    assert.equal(Number((await links!.ask(redis!.port, 'DBSIZE')) as number), 0, 'nothing was counted in Redis')
  })

  test('the client certificate added (${file:} references): the reloaded Store connects and decisions are counted in Redis', async () => {
    await gw!.writeConfig(gw!.document(config({ ca_file: ca.certFile, cert: `\${file:${client.certFile}}`, key: `\${file:${client.keyFile}}` })))
    await pollUntil(async () => (await status())?.state === 'ready', { timeoutMs: 30_000, intervalMs: 200, what: 'the reloaded Store ready' })
    assert.equal((await status())!.last_error, undefined)
    const codes = []
    for (let i = 0; i < 4; i++) codes.push(await get('/limited/b'))
    assert.deepEqual(codes, [200, 200, 200, 429])
    const keys = (await links!.ask(redis!.port, 'KEYS', 'portico:rl:*')) as string[]
    assert.ok(keys.length > 0, 'the counters are in Redis')
  })

  test('a key that is not the certificate\'s: the reload is refused with a reason, the working Store stays', async () => {
    const other = await ca.issue({ cn: 'someone-else', client: true, file: 'other' })
    wrongKey = other.key
    await gw!.writeConfig(gw!.document(config({ ca_file: ca.certFile, cert_file: client.certFile, key_file: other.keyFile })))
    await gw!.waitForOutput(/store\.redis\.tls: the client certificate, its key or the CA cannot be used/, 30_000)
    assert.equal((await status())!.state, 'ready')
    // Still decided in Redis, whose bucket the previous test emptied (the local one has a token left).
    assert.equal(await get('/limited/c'), 429)
  })

  test('no key material in the log or in /status', async () => {
    const everything = gw!.stdout() + gw!.stderr() + JSON.stringify((await adminJson(gw!, '/status?format=json')).body)
    assert.ok(!everything.includes('PRIVATE KEY'), 'no PEM header')
    for (const key of [client.key, wrongKey]) assert.ok(!everything.includes(key.split('\n')[1]!), 'no line of a key')
  })
})

// Last: if anything outlives the hooks above, say what, and end the file's process.
after(() => exitWhenDone(import.meta.filename))
