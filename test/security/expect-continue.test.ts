// Attack class: making the gateway accept an upload it should refuse. With `Expect: 100-continue`
// the client waits before sending its body; the gateway must answer 401/403/429 first when an
// access plugin refuses, and send `100 Continue` only to an admitted request (issue 11 item 13).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { pluginGateway } from '../helpers/scaffold.js'
import { pollUntil } from '../helpers/poll.js'

const KEY = 'alice-key-0123456789'

interface Conversation {
  socket: net.Socket
  data: string
  closed: boolean
}

function open(port: number, head: string): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const c: Conversation = { socket: net.connect(port, '127.0.0.1'), data: '', closed: false }
    c.socket.on('data', (d) => (c.data += d.toString()))
    c.socket.on('close', () => (c.closed = true))
    c.socket.on('error', () => undefined)
    c.socket.once('connect', () => {
      c.socket.write(head)
      resolve(c)
    })
    c.socket.once('error', reject)
  })
}

describe('Expect: 100-continue', () => {
  const gw = pluginGateway({
    extra: `
consumers:
  - { name: alice, credentials: { key_auth: ["${KEY}"] } }
`,
    routes: `
  - name: upload
    paths: [/upload]
    upstream: o
    plugins: [ { name: key-auth } ]
`,
  })

  const head = (extra: string) => `POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nExpect: 100-continue\r\n${extra}\r\n`

  test('refused by key-auth: 401 with no 100 Continue before it, the origin never reached, the connection closed', async () => {
    const seen = gw.up.seen.length
    const c = await open(gw.port, head(''))
    await pollUntil(() => c.data.includes('\r\n\r\n'), { timeoutMs: 30_000, what: 'an answer to the head' })
    assert.match(c.data, /^HTTP\/1\.1 401 /, c.data)
    assert.doesNotMatch(c.data, /100 Continue/)
    await pollUntil(() => c.closed, { timeoutMs: 30_000, what: 'the connection to close' })
    assert.equal(gw.up.seen.length, seen)
  })

  test('admitted: 100 Continue, then the body goes through', async () => {
    const c = await open(gw.port, head(`apikey: ${KEY}\r\n`))
    await pollUntil(() => c.data.length > 0, { timeoutMs: 30_000, what: 'an interim answer' })
    assert.match(c.data, /^HTTP\/1\.1 100 Continue\r\n\r\n$/, c.data)
    c.socket.write('hello')
    await pollUntil(() => /\r\n\r\n[\s\S]*"body":"hello"/.test(c.data), { timeoutMs: 30_000, what: 'the proxied response' })
    assert.match(c.data, /HTTP\/1\.1 200 /)
    c.socket.destroy()
  })
})
