// admin.tls: the admin listener over HTTPS, with client certificates (mTLS) required or optional,
// against real TLS clients (undici) and the real CLI (`portico config dump` through
// PORTICO_ADMIN_CA/CERT/KEY). Tokens still apply behind the handshake.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Agent, request } from 'undici'
import { createPki, type Ca, type Issued } from '../../helpers/pki.js'
import { runCli, startGateway, type Gateway } from '../../helpers/gateway.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'

const TOKEN = 'admin-tls-token-0123456789abcdef'
const hex = (s: string) => createHash('sha256').update(s).digest('hex')
let pki: Awaited<ReturnType<typeof createPki>>
let ca: Ca
let server: Issued
let client: Issued
let rogue: Issued
let origin: Origin
const gateways: Gateway[] = []
const agents: Agent[] = []

before(async () => {
  pki = await createPki()
  ca = await pki.ca('Admin CA')
  const other = await pki.ca('Someone else')
  server = await ca.issue({ names: ['localhost'], sans: ['IP:127.0.0.1'], key: 'ec' })
  client = await ca.issue({ cn: 'ops-laptop', client: true, key: 'ec' })
  rogue = await other.issue({ cn: 'intruder', client: true, key: 'ec' })
  origin = await startOrigin()
})
after(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await Promise.all(agents.map((a) => a.close()))
  await origin.close()
  await pki.remove()
})

function agent(cert?: Issued): Agent {
  const a = new Agent({ connect: { ca: ca.cert, ...(cert === undefined ? {} : { cert: cert.cert, key: cert.key }) } })
  agents.push(a)
  return a
}

async function start(mode: 'required' | 'optional'): Promise<{ gw: Gateway; base: string }> {
  const gw = await startGateway({
    args: ['--workers', '1'],
    waitReady: false,
    config: ({ port, adminPort }) => `
server: { listen: 127.0.0.1:${port} }
admin:
  listen: 127.0.0.1:${adminPort}
  tokens: [{ name: ops, role: admin, sha256: ${hex(TOKEN)} }]
  tls:
    certificate: { cert_file: ${server.chainFile}, key_file: ${server.keyFile} }
    client_auth: { mode: ${mode}, ca_file: ${ca.certFile} }
upstreams: { o: { targets: [{ url: ${origin.url} }] } }
routes: [{ name: all, paths: [/*], upstream: o }]
`,
  })
  gateways.push(gw)
  const base = `https://127.0.0.1:${gw.adminPort}`
  const ok = agent(client)
  await pollUntil(
    async () => {
      if (gw.child.exitCode !== null) throw new Error(`gateway exited:\n${gw.stdout()}\n${gw.stderr()}`)
      const r = await request(`${base}/readyz`, { dispatcher: ok })
      await r.body.dump()
      return r.statusCode === 200
    },
    { timeoutMs: 90_000, what: 'the HTTPS admin listener ready' },
  )
  return { gw, base }
}

const session = async (base: string, dispatcher: Agent, token?: string) => {
  const r = await request(`${base}/admin/session`, { dispatcher, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  return { status: r.statusCode, body: (await r.body.json()) as { data?: { name?: string } } }
}

test('client_auth required: only a certificate the CA signed completes the handshake; the token still decides', async () => {
  const { gw, base } = await start('required')
  const good = await session(base, agent(client), TOKEN)
  assert.equal(good.status, 200)
  assert.equal(good.body.data?.name, 'ops')
  assert.equal((await session(base, agent(client))).status, 401, 'a certificate is not a token')
  await assert.rejects(session(base, agent(), TOKEN), 'no client certificate: the handshake fails')
  await assert.rejects(session(base, agent(rogue), TOKEN), "another CA's certificate: the handshake fails")
  await assert.rejects(request(`http://127.0.0.1:${gw.adminPort}/readyz`, { headersTimeout: 5000 }).then((r) => r.body.dump().then(() => r.statusCode)).then((s) => assert.notEqual(s, 200)))

  // The CLI through the same listener: its CA and client certificate from the environment.
  const files = { PORTICO_ADMIN_CA: ca.certFile, PORTICO_ADMIN_CERT: client.certFile, PORTICO_ADMIN_KEY: client.keyFile }
  const dump = await runCli(['config', 'dump', '--admin', base, '--token', TOKEN, '--json'], { env: files })
  assert.equal(dump.code, 0, dump.stderr)
  assert.match(dump.stdout, /"name": ?"all"/)
  const refused = await runCli(['config', 'dump', '--admin', base, '--token', TOKEN], { env: { PORTICO_ADMIN_CA: ca.certFile } })
  assert.notEqual(refused.code, 0, 'without the client certificate the CLI is refused')
})

test('client_auth optional: no certificate is fine (the token decides), a certificate from another CA is not', async () => {
  const { base } = await start('optional')
  assert.equal((await session(base, agent(), TOKEN)).status, 200)
  assert.equal((await session(base, agent(client), TOKEN)).status, 200)
  assert.equal((await session(base, agent())).status, 401)
  const intruder = await session(base, agent(rogue), TOKEN)
  assert.equal(intruder.status, 403, 'a certificate that was sent must verify')
})
