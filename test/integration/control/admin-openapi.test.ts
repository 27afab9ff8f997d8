// The admin API's OpenAPI document (schema/admin-openapi.json) against a real OpenAPI 3.1 validator
// and a running gateway: every documented operation exists and answers a documented status, JSON
// replies validate against the documented schemas (Ajv, draft 2020-12), the sample request bodies
// against the documented request schemas, roles are as documented, and nothing the listener
// answers is missing from the document (every other method and path is 404/405, Allow = documented).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import { Validator } from '@seriousme/openapi-schema-validator'
import { request } from 'undici'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'

const ADMIN = 'adm-token-0123456789abcdef'
const VIEWER = 'vie-token-0123456789abcdef'
const hex = (s: string) => createHash('sha256').update(s).digest('hex')
const FILE = new URL('../../../schema/admin-openapi.json', import.meta.url)

// The document is read loosely: the validator has checked its shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
}

async function call(gw: Gateway, method: string, path: string, token: string | undefined, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await request(`${gw.adminUrl}${path}`, { method: method as 'GET', headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

describe('admin OpenAPI document', () => {
  let origin: Origin
  let gw: Gateway
  let doc: Json
  const ajv = new Ajv2020({ strict: false, allErrors: true, formats: { 'date-time': true } })
  const validators = new Map<string, ValidateFunction>()

  /** A validator for the schema at a JSON pointer into the document (refs resolve against it). */
  function schemaAt(pointer: string): ValidateFunction {
    let v = validators.get(pointer)
    if (v === undefined) {
      v = ajv.compile({ $ref: `admin-openapi.json#${pointer}` })
      validators.set(pointer, v)
    }
    return v
  }
  const esc = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1')
  const operations = (): Array<{ path: string; method: string; op: Json }> =>
    Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
      Object.entries(item as Record<string, Json>).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    )

  // Names of resources the gateway has, and new ones for creates (sent with dry_run, so nothing changes).
  const EXISTING: Record<string, string> = { routes: 'one', upstreams: 'one', consumers: 'alice', plugins: 'headers' }
  let NEW: Record<string, unknown>
  const fill = (path: string) => path.replace('{name}', EXISTING[path.split('/')[2]!] ?? 'x')

  before(async () => {
    doc = JSON.parse(await readFile(FILE, 'utf8'))
    ajv.addSchema(doc, 'admin-openapi.json')
    origin = await startOrigin()
    NEW = {
      routes: { name: 'new-route', paths: ['/new/*'], upstream: 'one' },
      upstreams: { name: 'new-up', targets: [{ url: origin.url }] },
      consumers: { name: 'bob' },
      plugins: { name: 'cors' },
    }
    gw = await startGateway({
      config: {
        admin: {
          tokens: [
            { name: 'ops', role: 'admin', sha256: hex(ADMIN) },
            { name: 'dash', role: 'viewer', sha256: hex(VIEWER) },
          ],
        },
        upstreams: { one: { targets: [{ url: origin.url }] } },
        routes: [{ name: 'one', paths: ['/one/*'], upstream: 'one' }],
        consumers: [{ name: 'alice', credentials: { key_auth: ['consumer-key-0123456789-secret'], hmac_auth: [{ key_id: 'alice-1', secret: 'hmac-secret-0123456789-abcdef' }] } }],
        plugins: [{ name: 'headers', config: { response: { set: { 'x-gateway': 'portico' } } } }],
      },
      args: ['--no-cluster'],
      readyTimeoutMs: 90_000,
    })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
  })

  test('is a valid OpenAPI 3.1 document, and the gateway serves exactly the committed one (viewer token)', async () => {
    const validator = new Validator()
    const result = await validator.validate(structuredClone(doc))
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2))
    assert.equal(validator.version, '3.1')
    const ids = operations().map(({ op }) => op.operationId as string)
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'operationIds are unique')
    assert.equal((await call(gw, 'GET', '/admin/openapi.json', undefined)).status, 401)
    const served = await call(gw, 'GET', '/admin/openapi.json', VIEWER)
    assert.equal(served.status, 200)
    assert.match(String(served.headers['content-type']), /^application\/json/)
    assert.deepEqual(JSON.parse(served.text), doc, 'the served document differs from schema/admin-openapi.json; run `npm run schema`')
  })

  test('every documented operation answers a documented status, and its JSON validates against the documented schema', async () => {
    const configRead = JSON.parse((await call(gw, 'GET', '/admin/config', ADMIN)).text)
    const samples = async (path: string, method: string): Promise<unknown> => {
      const kind = path.split('/')[2]!
      if (path === '/admin/config') return method === 'PUT' ? configRead.data : {}
      if (path === '/admin/explain') return { method: 'GET', url: '/one/x' }
      if (path === '/admin/revocations') return { jti: 'openapi-test' }
      if (method === 'POST') return NEW[kind]
      if (method === 'PATCH') return {}
      return JSON.parse((await call(gw, 'GET', fill(path), ADMIN)).text).data // PUT: read → write back
    }
    const exercised: string[] = []
    for (const { path, method, op } of operations()) {
      const label = `${method} ${path}`
      const params = ((op.parameters ?? []) as Json[]).map((p) => (p.$ref === undefined ? p.name : String(p.$ref).split('/').pop()))
      const query = params.includes('DryRun') ? '?dry_run=true' : path === '/admin/cache' ? '?prefix=' : path === '/admin/audit' ? '?limit=5' : ''
      let body: unknown
      if (op.requestBody !== undefined) {
        body = await samples(path, method)
        const check = schemaAt(`/paths/${esc(path)}/${method.toLowerCase()}/requestBody/content/application~1json/schema`)
        assert.ok(check(body), `${label}: the sample body does not match the documented request schema: ${ajv.errorsText(check.errors)}`)
      }
      const r = await call(gw, method, `${fill(path)}${query}`, ADMIN, body)
      const documented = op.responses[String(r.status)]
      assert.ok(documented !== undefined, `${label} answered ${r.status}, not documented (${Object.keys(op.responses).join(', ')}): ${r.text.slice(0, 300)}`)
      if (method === 'HEAD') {
        assert.equal(r.text, '', label)
        continue
      }
      const type = String(r.headers['content-type'] ?? '').split(';')[0]!
      assert.ok(documented.content?.[type] !== undefined, `${label} ${r.status}: content-type ${type} is not documented`)
      if (type === 'application/json') {
        const check = schemaAt(`/paths/${esc(path)}/${method.toLowerCase()}/responses/${r.status}/content/application~1json/schema`)
        assert.ok(check(JSON.parse(r.text)), `${label} ${r.status}: the reply does not match its documented schema: ${ajv.errorsText(check.errors)}\n${r.text.slice(0, 500)}`)
      }
      exercised.push(`${label} ${r.status}`)
    }
    // The reads that matter most answered 200 (not an error that happens to be documented).
    for (const want of ['GET /admin/config 200', 'GET /admin/routes/{name} 200', 'GET /admin/upstreams 200', 'GET /status 200', 'POST /admin/explain 200', 'PUT /admin/config 200', 'POST /admin/routes 200']) {
      assert.ok(exercised.includes(want), `${want} in ${exercised.join('; ')}`)
    }
    // The secrets came back as the document says write-only fields do.
    assert.match(JSON.stringify(configRead), /\[REDACTED\]/)
  })

  test('the fleet view needs the etcd source: with the file it is 409 fleet_unavailable in the error shape', async () => {
    const r = await call(gw, 'GET', '/admin/fleet', VIEWER)
    assert.equal(r.status, 409, r.text)
    const body = JSON.parse(r.text)
    assert.equal(body.error, 'fleet_unavailable')
    assert.match(body.message, /needs the etcd config source/)
    assert.equal(typeof body.request_id, 'string')
    assert.ok(schemaAt('/components/schemas/Error')(body))
    assert.equal(JSON.parse((await call(gw, 'GET', '/status', VIEWER)).text).fleet, undefined, 'no fleet summary in /status')
  })

  test('roles as documented: no token is 401, a viewer gets 403 where more is needed, probes are open', async () => {
    for (const { path, method, op } of operations()) {
      const label = `${method} ${path}`
      const role = op['x-portico-role']
      const anonymous = await call(gw, method, fill(path), undefined, op.requestBody === undefined ? undefined : {})
      if (role === 'none') {
        assert.deepEqual(op.security, [], label)
        assert.equal(anonymous.status, 200, label)
        continue
      }
      assert.deepEqual(op.security ?? doc.security, [{ bearer: [] }], label)
      assert.equal(anonymous.status, 401, label)
      assert.ok(op.responses['401'] !== undefined, label)
      if (role === 'viewer') continue
      const viewer = await call(gw, method, fill(path), VIEWER, op.requestBody === undefined ? undefined : {})
      assert.equal(viewer.status, 403, `${label}: a viewer must be refused (role ${role})`)
    }
  })

  test('nothing undocumented: other methods are 405 with Allow = the documented methods, other paths 404', async () => {
    // A JSON body on methods that carry one, so the browser guard's 415 (a POST that is not JSON) does not answer first.
    const probe = (method: string, path: string) => call(gw, method, path, ADMIN, ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined)
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      const documented = Object.keys(item).map((m) => m.toUpperCase())
      for (const method of METHODS) {
        if (documented.includes(method)) continue
        const r = await probe(method, fill(path))
        assert.equal(r.status, 405, `${method} ${path} answered ${r.status}: document it or refuse it`)
        assert.deepEqual(String(r.headers.allow).split(', ').sort(), [...documented].sort(), `Allow of ${path}`)
      }
    }
    // Paths next to the documented ones; /ui (the console's static files) is the one exception.
    for (const path of ['/', '/admin', '/admin/', '/admin/nope', '/admin/config/x', '/admin/routes/one/x', '/healthz/x', '/status/', '/openapi.json', '/admin/openapi']) {
      for (const method of METHODS) {
        const r = await probe(method, path)
        assert.equal(r.status, 404, `${method} ${path} answered ${r.status}: document it or refuse it`)
      }
    }
  })
})
