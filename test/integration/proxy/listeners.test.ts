// server.listeners: several data-plane listeners on one data plane, server.listen as the shorthand,
// and the document errors for the forms that are refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startInProc } from '../../helpers/inproc.js'
import { startOrigin } from '../../helpers/origin.js'
import { loadConfigText } from '../../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { resolveListeners } from '../../../src/config/listeners.js'

const routes = (url: string) => `upstreams:\n  o: { targets: [ { url: "${url}" } ] }\nroutes:\n  - { name: r, paths: ['/*'], upstream: o }\n`

test('two listeners serve the same routes; each reports its own port', async (t) => {
  const origin = await startOrigin()
  t.after(() => origin.close())
  const gw = await startInProc(`server:\n  listeners:\n    - { listen: 127.0.0.1:0 }\n    - { listen: "127.0.0.1:0", protocols: [http1] }\n${routes(origin.url)}`)
  t.after(() => gw.close())
  const ports = gw.dp.addresses().map((a) => a.port)
  assert.equal(ports.length, 2)
  assert.notEqual(ports[0], ports[1])
  for (const port of ports) {
    const r = await request(`http://127.0.0.1:${port}/hello`)
    assert.equal(r.statusCode, 200)
    await r.body.dump()
  }
  assert.equal(gw.dp.status().ready, true)
})

test('server.listen is the shorthand for one cleartext http1 listener', () => {
  assert.deepEqual(resolveListeners({ server: { listen: '127.0.0.1:9000' } }), [{ listen: '127.0.0.1:9000', protocols: ['http1'], http2: undefined, tls: undefined, redirectHttps: undefined, proto: 'http', where: 'server.listen' }])
  assert.deepEqual(resolveListeners({})[0]?.listen, '0.0.0.0:8080')
})

test('protocols: h2 by default with tls, http1 alone without; h2 needs tls and h2c refuses it', () => {
  const tls = { certificates: [{ cert_file: 'c.pem', key_file: 'k.pem' }] }
  const [https, plain] = resolveListeners({ server: { listeners: [{ listen: 1, tls }, { listen: 2 }] } })
  assert.deepEqual(https?.protocols, ['http1', 'h2'])
  assert.deepEqual(plain?.protocols, ['http1'])
  const text = `server:\n  listeners:\n    - { listen: 8080, protocols: [http1, h2] }\n    - { listen: 8081, protocols: [h2c], tls: { certificates: [{ cert_file: c.pem, key_file: k.pem }] } }\n${routes('http://127.0.0.1:1')}`
  const r = loadConfigText(text, 'c.yaml', { checks: INSTALLED_CHECKS })
  const got = r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
  assert.ok(got.some((m) => m.startsWith('server.listeners[0].protocols[1]: h2 needs tls')), got.join('\n'))
  assert.ok(got.some((m) => m.startsWith('server.listeners[1].protocols[0]: h2c is cleartext')), got.join('\n'))
})

test('refused: listen and listeners together, a bad address, an unknown protocol, tls without certificates', () => {
  const text = `server:\n  listen: 8080\n  listeners:\n    - { listen: "nope:port" }\n    - { listen: 8081, protocols: [h3] }\n    - { listen: 8082, tls: {} }\n${routes('http://127.0.0.1:1')}`
  const r = loadConfigText(text, 'c.yaml', { checks: INSTALLED_CHECKS })
  assert.equal(r.ok, false)
  const got = r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`)
  assert.ok(got.includes('server.listeners: set server.listen or server.listeners, not both'), got.join('\n'))
  assert.ok(got.some((m) => m.startsWith('server.listeners[0].listen: must be host:port')), got.join('\n'))
  assert.ok(got.some((m) => m.startsWith('server.listeners[1].protocols[0]')), got.join('\n'))
  assert.ok(got.includes('server.listeners[2].tls: an https listener needs certificates (or acme: true)'), got.join('\n'))
})
