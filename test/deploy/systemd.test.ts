// The systemd unit (deploy/systemd/portico.service), checked by the real `systemd-analyze verify`
// (Debian systemd): the unit parses, its executables exist, and no directive is rejected (verify
// prints "Failed to parse …, ignoring" on stderr yet exits 0 for those, so stderr must be empty).
// Then what verify cannot judge: the stop timeout covers the drain, and only the primary gets
// SIGTERM (it drains its workers).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseDuration } from '../../src/config/units.js'

const ROOT = resolve(import.meta.dirname, '../..')
const UNIT = join(ROOT, 'deploy/systemd/portico.service')
const has = spawnSync('systemd-analyze', ['--version']).status === 0

function verify(text: string): { status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portico-unit-'))
  try {
    writeFileSync(join(dir, 'portico.service'), text)
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'portico.service')], { encoding: 'utf8' })
    return { status: r.status, stderr: r.stderr.trim() }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('systemd-analyze verify accepts the unit without a warning', { skip: !has && 'systemd-analyze not installed' }, () => {
  const r = verify(readFileSync(UNIT, 'utf8'))
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stderr, '')
})

test('the check would catch a broken unit (a bad directive value, a missing binary)', { skip: !has && 'systemd-analyze not installed' }, () => {
  const text = readFileSync(UNIT, 'utf8')
  assert.match(verify(text.replace('KillMode=mixed', 'KillMode=sometimes')).stderr, /kill mode/i)
  assert.notEqual(verify(text.replace(/^ExecStart=\/usr\/bin\/node/m, 'ExecStart=/nonexistent/node')).status, 0)
})

test('drain fits: TimeoutStopSec above server.drain_timeout of the shipped config; SIGTERM to the primary only', () => {
  const unit = readFileSync(UNIT, 'utf8')
  const config = readFileSync(join(ROOT, 'deploy/portico.yaml'), 'utf8')
  const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)![1]) * 1000
  const drain = parseDuration(/drain_timeout: (\S+)/.exec(config)![1]!)
  assert.ok(stop > drain, `TimeoutStopSec ${stop}ms > drain_timeout ${drain}ms`)
  assert.match(unit, /^KillMode=mixed$/m)
  assert.match(unit, /^KillSignal=SIGTERM$/m)
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m)
  assert.match(unit, /^User=(?!root)\w+$/m)
})
