// systemd's readiness protocol with a real `systemd-notify` (Debian's systemd) sending to a Unix
// datagram socket that socat receives, as systemd would for a `Type=notify` unit:
// READY=1 (with MAINPID = the primary) once the listeners serve, RELOADING=1 then READY=1 around a
// config swap, STOPPING=1 when SIGTERM starts the drain.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startGateway } from '../../helpers/gateway.js'
import { startOrigin } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'

const dir = mkdtempSync(join(tmpdir(), 'portico-notify-'))
const socket = join(dir, 'notify.sock')
let received = ''
const receiver = spawn('socat', ['-u', `UNIX-RECV:${socket}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'inherit'] })
receiver.stdout.on('data', (d: Buffer) => (received += d.toString()))
const origin = await startOrigin()
after(async () => {
  receiver.kill()
  await origin.close()
  rmSync(dir, { recursive: true, force: true })
})
await pollUntil(() => existsSync(socket), { timeoutMs: 20_000, what: 'the notify socket' })

test('Type=notify: READY=1 with the primary as MAINPID, RELOADING=1/READY=1 around a reload, STOPPING=1 on SIGTERM', { timeout: 120_000 }, async () => {
  const config = { upstreams: { o: { targets: [{ url: origin.url }] } }, routes: [{ name: 'a', paths: ['/*'], upstream: 'o' }] }
  const gw = await startGateway({ config, args: ['--workers', '1'], env: { NOTIFY_SOCKET: socket } })
  await pollUntil(() => received.includes(`MAINPID=${gw.pid}`) && received.includes('READY=1'), { timeoutMs: 30_000, what: 'READY=1 from the primary' })
  assert.match(received, /STATUS=serving config version 1 \(/)
  assert.doesNotMatch(received, /RELOADING=1|STOPPING=1/)

  await gw.writeConfig({ ...config, routes: [{ name: 'b', paths: ['/*'], upstream: 'o' }] })
  await pollUntil(() => /STATUS=serving config version 2 /.test(received), { timeoutMs: 30_000, what: 'READY=1 after the reload' })
  const reload = received.indexOf('RELOADING=1')
  assert.ok(reload > 0 && reload < received.indexOf('STATUS=serving config version 2'), 'RELOADING=1 comes before the READY=1 of version 2')

  await gw.stop()
  await pollUntil(() => received.includes('STOPPING=1'), { timeoutMs: 30_000, what: 'STOPPING=1' })
})

test('without NOTIFY_SOCKET nothing is sent', async () => {
  const before = received
  const gw = await startGateway({ config: { upstreams: { o: { targets: [{ url: origin.url }] } }, routes: [{ name: 'a', paths: ['/*'], upstream: 'o' }] }, args: ['--workers', '1'], env: { NOTIFY_SOCKET: '' } })
  await gw.stop()
  assert.equal(received, before)
})
