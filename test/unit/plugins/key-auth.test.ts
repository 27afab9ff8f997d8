// key-auth and the Consumers index: schema, hashed storage, lookups, header/query extraction.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import keyAuth from '../../../src/plugins/key-auth/index.js'
import type { KeyAuthConfig } from '../../../src/plugins/key-auth/schema.js'
import { Consumers } from '../../../src/plugins/consumers.js'
import { queryValues, withoutParam } from '../../../src/plugins/query.js'
import { RequestContext } from '../../../src/core/context.js'
import { loadConfigText } from '../../../src/config/load.js'
import { testPluginEnv } from '../../helpers/plugin-env.js'
import type { LocalReply } from '../../../src/core/verdict.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { isValidPluginConfig } from '../../helpers/plugin-config.js'

const KEY = 'k-0123456789abcdef-alice'
const consumers = new Consumers([
  { name: 'alice', roles: ['admin'], credentials: { key_auth: [KEY] } },
  { name: 'bob', credentials: { key_auth: [`sha256:${createHash('sha256').update('bob-key-0123456789abcdef').digest('hex').toUpperCase()}`] } },
])

describe('Consumers', () => {
  test('keys are matched by digest; plaintext and sha256: forms both work', () => {
    assert.equal(consumers.byKey(KEY)?.name, 'alice')
    assert.deepEqual(consumers.byKey(KEY)?.roles, ['admin'])
    assert.equal(consumers.byKey('bob-key-0123456789abcdef')?.name, 'bob')
    assert.equal(consumers.byKey(KEY.slice(0, -1)), undefined)
    assert.equal(consumers.byKey(''), undefined)
    assert.equal(consumers.keyCount, 2)
  })

  test('the index holds no plaintext key', () => {
    // Inspect everything reachable: the key must not appear anywhere in the object graph's strings.
    const seen = JSON.stringify([...Object.values(consumers)], (_k, v: unknown) => (v instanceof Map ? [...v.entries()] : v))
    assert.ok(!seen.includes(KEY))
  })
})

describe('key-auth schema and config validation', () => {
  test('defaults', () => {
    const c = {}
    assert.ok(isValidPluginConfig('key-auth', c))
    assert.deepEqual(c, { header_names: ['apikey', 'x-api-key'], query_names: ['apikey'], hide_credentials: true, consumer_header: 'x-consumer-name' })
    assert.equal(isValidPluginConfig('key-auth', { header_names: ['bad header'] }), false)
    assert.equal(isValidPluginConfig('key-auth', { consumer_header: 'a b' }), false)
  })

  test('duplicate consumers, reused keys, short keys and bad hashes are config errors (keys never quoted)', () => {
    const r = loadConfigText(
      `upstreams: { o: { targets: [ { url: "http://127.0.0.1:1" } ] } }
routes: []
consumers:
  - { name: a, credentials: { key_auth: ["${KEY}"] } }
  - { name: a, credentials: { key_auth: ["${KEY}", "short", "sha256:xyz"], hmac_auth: [ { key_id: k1, secret: "0123456789abcdef" }, { key_id: k1, secret: "0123456789abcdef" } ] } }
`,
      't.yaml', { checks: INSTALLED_CHECKS })
    assert.equal(r.ok, false)
    const text = JSON.stringify(!r.ok && r.errors)
    assert.match(text, /duplicate consumer name/)
    assert.match(text, /already used by another credential/)
    assert.match(text, /at least 16 characters/)
    assert.match(text, /64 hex digits/)
    assert.match(text, /duplicate hmac key_id/)
    assert.ok(!text.includes(KEY))
  })
})

describe('query helpers', () => {
  test('values and removal keep other bytes as sent', () => {
    assert.deepEqual(queryValues('a=1&apikey=x%2By&apikey=z', 'apikey'), ['x+y', 'z'])
    assert.deepEqual(queryValues('apikeys=1', 'apikey'), [])
    assert.equal(withoutParam('a=%20&apikey=x&b=2', 'apikey'), 'a=%20&b=2')
    assert.equal(withoutParam('apikey=x', 'apikey'), '')
  })
})

describe('key-auth plugin', () => {
  const config: KeyAuthConfig = { header_names: ['apikey', 'x-api-key'], query_names: ['apikey'], hide_credentials: true, consumer_header: 'x-consumer-name' }
  const inst = keyAuth.create(config, testPluginEnv('r', undefined, consumers))
  function ctx(headers: Record<string, string>, query = ''): RequestContext {
    const c = new RequestContext({ method: 'GET', url: '/', headers, rawHeaders: Object.entries(headers).flat() } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
    c.upstreamHeaders = { ...headers }
    c.query = query
    return c
  }

  test('identifies, sets roles and the upstream header, hides the key', () => {
    const c = ctx({ 'x-api-key': KEY, 'x-consumer-name': 'root' })
    assert.equal(inst.access!(c), undefined)
    assert.equal(c.consumer, 'alice')
    assert.deepEqual(c.consumerRoles, ['admin'])
    assert.equal(c.upstreamHeaders['x-consumer-name'], 'alice')
    assert.equal(c.upstreamHeaders['x-api-key'], undefined)
  })

  test('every failure is the same 401 reply', () => {
    const replies = [ctx({}), ctx({ apikey: 'x' }), ctx({ apikey: KEY }, `apikey=${KEY}`), ctx({}, 'apikey=a&apikey=b')].map((c) => inst.access!(c) as LocalReply)
    for (const r of replies) assert.equal(r, replies[0])
    assert.equal(replies[0]!.status, 401)
  })
})

describe('consumer pipelines (global → route → consumer)', () => {
  test('after the identifying step the consumer\'s pipeline continues; other consumers keep the route\'s', async () => {
    const { buildPipeline, ConsumerPipelines, runAccessSwitching } = await import('../../../src/plugins/pipeline.js')
    const { definePlugin } = await import('../../../src/plugins/contract.js')
    const { Type } = await import('@sinclair/typebox')
    const order: string[] = []
    const mk = (name: string, priority: number, fn?: (c: RequestContext) => void) =>
      definePlugin({
        name,
        phases: ['access', 'log'],
        priority,
        schema: Type.Object({ tag: Type.String({ default: name }) }),
        status: 'experimental',
        create: (cfg) => ({
          access(c) {
            order.push(cfg.tag)
            fn?.(c)
            return undefined
          },
          log() {},
        }),
      })
    const registry = new Map([
      ['auth', mk('auth', 2500, (c) => (c.consumer = c.req.headers['who'] as string))],
      ['early', mk('early', 3000)],
      ['late', mk('late', 1000)],
    ]) as never
    const factory = { instance: (use: { name: string; config?: Record<string, unknown> }, def: { create: (c: never, e: never) => never }) => def.create({ tag: (use.config?.tag as string) ?? use.name } as never, {} as never) }
    const base = buildPipeline([], [{ name: 'auth' }, { name: 'late' }], registry, factory as never)!
    const consumerUses = new Map([['vip', [{ name: 'late', config: { tag: 'late-vip' } }, { name: 'early', config: { tag: 'early-vip' } }]]])
    const pipeline = {
      ...base,
      consumers: new ConsumerPipelines(
        (n) => consumerUses.has(n),
        (n) => buildPipeline([], [{ name: 'auth' }, { name: 'late' }], registry, factory as never, { name: n, uses: consumerUses.get(n)! }),
      ),
    }
    const run = async (who: string) => {
      order.length = 0
      const c = new RequestContext({ method: 'GET', headers: { who }, rawHeaders: ['who', who] } as unknown as IncomingMessage, {} as ServerResponse, 'id', 0)
      const holder = { pipeline, consumerResolved: false }
      await runAccessSwitching(holder, c, pipeline.access!)
      return { order: [...order], switched: holder.pipeline !== pipeline }
    }
    // vip: its own `late` replaces the route's; its `early` (above auth) cannot run before identification.
    assert.deepEqual(await run('vip'), { order: ['auth', 'late-vip'], switched: true })
    assert.deepEqual(await run('nobody'), { order: ['auth', 'late'], switched: false })
  })
})
