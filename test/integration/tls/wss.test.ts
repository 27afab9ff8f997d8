// WebSocket over an https listener (wss://): the same upgrade handler as cleartext, with the TLS
// hooks: the tunnel works, X-Forwarded-Proto says https, and Host is bound to the connection's
// certificate (421 misdirected_request on the handshake otherwise).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createPki } from '../../helpers/pki.js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { nextMessage, openWs, refusedWs, startWsOrigin, type WsOrigin } from '../../helpers/ws.js'

let pki: Awaited<ReturnType<typeof createPki>>
let caPem: string
let origin: WsOrigin
let gw: InProcGateway
let port: number

before(async () => {
  pki = await createPki()
  const ca = await pki.ca()
  caPem = ca.cert
  const a = await ca.issue({ names: ['a.test'], key: 'ec' })
  origin = await startWsOrigin()
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      tls:
        certificates: [ { cert_file: ${a.chainFile}, key_file: ${a.keyFile} } ]
upstreams:
  o: { targets: [ { url: ${origin.url} } ] }
routes:
  - { name: chat, paths: [/chat], upstream: o, websocket: { enabled: true } }
log: { level: silent, access_log: false }
`)
  port = gw.dp.addresses()[0]!.port
})
after(async () => {
  await gw.close()
  await origin.close()
  await pki.remove()
})

const tlsOpts = (host: string) => ({ ca: caPem, servername: 'a.test', headers: { host } })

test('wss:// through an https listener: messages both ways, X-Forwarded-Proto https', async () => {
  const c = await openWs(`wss://127.0.0.1:${port}/chat`, tlsOpts('a.test'))
  c.send('over tls')
  assert.equal(await nextMessage(c), 'over tls')
  assert.equal(origin.handshakes.at(-1)!.headers['x-forwarded-proto'], 'https')
  c.close()
})

test('a handshake whose Host the certificate does not cover → 421, no upstream connection', async () => {
  const before = origin.connections
  const r = await refusedWs(`wss://127.0.0.1:${port}/chat`, tlsOpts('other.test'))
  assert.equal(r.status, 421)
  assert.equal(r.body.error, 'misdirected_request')
  assert.equal(origin.connections, before)
})
