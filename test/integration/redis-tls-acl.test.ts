// store.redis with TLS and an ACL user against a real redis-server listening on TLS only, with the
// default user disabled: certificates from a throw-away CA made with openssl for the test. The
// right CA + user connects; another CA or a wrong password never becomes ready (and no call is
// served), so verification and auth are really on.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../helpers/origin.js'
import { serverProcess, type ServerProcess } from '../helpers/server-process.js'
import { RedisStore } from '../../src/state/redis.js'
import { pollUntil } from '../helpers/poll.js'

function makeCa(dir: string, name: string): void {
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`])
}

describe('RedisStore over TLS with an ACL user', () => {
  let dir: string
  let server: ServerProcess
  let port: number
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-redis-tls-'))
    makeCa(dir, 'good')
    makeCa(dir, 'other')
    const o = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
    o(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=redis.test', '-keyout', 'server.key', '-out', 'server.csr'])
    execFileSync('sh', ['-c', 'printf "subjectAltName=DNS:redis.test,IP:127.0.0.1\\n" > ext.cnf'], { cwd: dir })
    o(['x509', '-req', '-in', 'server.csr', '-CA', 'good-ca.pem', '-CAkey', 'good-ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'ext.cnf', '-out', 'server.pem'])
    port = await freePort()
    const tlsPing = async () => {
      const s = new RedisStore({ url: `rediss://127.0.0.1:${port}`, username: 'portico', password: 'portico-secret', tls: { ca: join(dir, 'good-ca.pem') }, timeoutMs: 500 })
      try {
        await s.ready(500)
        return true
      } catch {
        return false
      } finally {
        await s.close()
      }
    }
    server = await serverProcess({
      command: 'redis-server',
      pkg: 'redis-server',
      args: (d) => [
        '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
        '--tls-cert-file', join(dir, 'server.pem'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', join(dir, 'good-ca.pem'), '--tls-auth-clients', 'no',
        '--user', 'default', 'off', '--user', 'portico', 'on', '>portico-secret', '~*', '&*', '+@all',
        '--save', '', '--appendonly', 'no', '--dir', d,
      ],
      ready: tlsPing,
      what: `redis-server (TLS) on ${port}`,
    })
  })
  after(async () => {
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  test('the right CA and user: calls work', async () => {
    const s = new RedisStore({ url: `rediss://127.0.0.1:${port}`, username: 'portico', password: 'portico-secret', tls: { ca: join(dir, 'good-ca.pem') }, timeoutMs: 500 })
    try {
      await s.ready(3000)
      await s.set('tls-k', 'v')
      assert.equal(await s.get('tls-k'), 'v')
      assert.equal(s.info().state, 'ready')
    } finally {
      await s.close()
    }
  })

  for (const [what, opts] of [
    ['a server certificate from another CA', { username: 'portico', password: 'portico-secret', tls: { ca: 'other-ca.pem' } }],
    ['a wrong password', { username: 'portico', password: 'wrong', tls: { ca: 'good-ca.pem' } }],
    ['the disabled default user', { tls: { ca: 'good-ca.pem' } }],
  ] as const) {
    test(`${what}: never ready, calls refused`, async () => {
      const s = new RedisStore({ url: `rediss://127.0.0.1:${port}`, ...opts, tls: { ca: join(dir, opts.tls.ca) }, timeoutMs: 300 })
      try {
        await assert.rejects(s.ready(1500))
        await assert.rejects(s.get('tls-k'))
        assert.equal(s.healthy(), false)
      } finally {
        await s.close()
      }
    })
  }

  test('verify: false (tests only) accepts any certificate', async () => {
    const s = new RedisStore({ url: `rediss://127.0.0.1:${port}`, username: 'portico', password: 'portico-secret', tls: { verify: false }, timeoutMs: 500 })
    try {
      await pollUntil(() => s.healthy(), { what: 'connected without verification', timeoutMs: 3000 })
      assert.equal(await s.get('tls-k'), 'v')
    } finally {
      await s.close()
    }
  })
})
