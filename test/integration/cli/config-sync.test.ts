// `portico config dump | diff | apply` against a running gateway: a dump applied back changes
// nothing (secrets included), diff lists resource-level changes, apply without --prune keeps
// gateway-only resources and with --prune deletes them, and an invalid file is refused whole.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { parse, stringify } from 'yaml'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { runCli, startGateway, type Gateway } from '../../helpers/gateway.js'
import { configCommand } from '../../../src/cli/config.js'

const KEY = 'sync-consumer-key-0123456789'

describe('portico config dump / diff / apply', () => {
  let origin: Origin
  let gw: Gateway
  let dir: string
  // The command runs in this process (a fresh node + tsx per call is ~10 s on a loaded machine);
  // one test runs the real binary to check the wiring.
  const cli = async (sub: string, ...args: string[]) => {
    let stdout = ''
    let stderr = ''
    const flag = (name: string) => args.includes(name)
    const value = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined)
    const code = await configCommand(
      { sub, admin: gw.adminUrl, config: value('-c'), output: value('-o'), prune: flag('--prune'), dryRun: flag('--dry-run') },
      { out: (t) => (stdout += t), err: (t) => (stderr += t) },
    )
    return { code, stdout, stderr }
  }

  before(async () => {
    origin = await startOrigin()
    dir = await mkdtemp(join(tmpdir(), 'portico-sync-'))
    gw = await startGateway({
      config: {
        upstreams: { u: { targets: [{ url: origin.url }] } },
        routes: [{ name: 'a', paths: ['/a'], upstream: 'u' }],
        consumers: [{ name: 'c', credentials: { key_auth: [KEY] } }],
      },
      args: ['--no-cluster'],
    })
  })
  after(async () => {
    await gw?.stop()
    await origin?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('dump → apply is a no-op and the dump holds no secret', async () => {
    const file = join(dir, 'dump.yaml')
    const d = await cli('dump', '-o', file)
    assert.equal(d.code, 0, d.stderr)
    const text = await readFile(file, 'utf8')
    assert.ok(!text.includes(KEY))
    const apply = await cli('apply', '-c', file)
    assert.equal(apply.code, 0, apply.stderr)
    assert.match(apply.stdout, /no changes/)
  })

  test('diff and apply are resource-level; without --prune gateway-only resources stay', async () => {
    const file = join(dir, 'mine.yaml')
    await writeFile(file, stringify({ upstreams: { u: { targets: [{ url: origin.url }] } }, routes: [{ name: 'b', paths: ['/b'], upstream: 'u' }] }))
    const diff = await cli('diff', '-c', file)
    assert.equal(diff.code, 3, diff.stderr)
    assert.match(diff.stdout, /^\+ routes\/b$/m)
    assert.doesNotMatch(diff.stdout, /routes\/a/)
    const apply = await cli('apply', '-c', file)
    assert.equal(apply.code, 0, apply.stderr)
    assert.match(apply.stdout, /applied: version \d+/)
    assert.equal((await request(`${gw.url}/b`)).statusCode, 200)
    assert.equal((await request(`${gw.url}/a`)).statusCode, 200)
    const pruneDry = await cli('apply', '-c', file, '--prune', '--dry-run')
    assert.equal(pruneDry.code, 0, pruneDry.stderr)
    assert.match(pruneDry.stdout, /^- routes\/a$/m)
    assert.match(pruneDry.stdout, /^- consumers\/c$/m)
    assert.equal((await request(`${gw.url}/a`)).statusCode, 200, 'a dry run applies nothing')
    const pruned = await cli('apply', '-c', file, '--prune')
    assert.equal(pruned.code, 0, pruned.stderr)
    assert.equal((await request(`${gw.url}/a`)).statusCode, 404)
    const dumped = parse((await cli('dump')).stdout) as { routes: Array<{ name: string }> }
    assert.deepEqual(dumped.routes.map((r) => r.name), ['b'])
  })

  test('the portico binary runs config dump', { timeout: 300_000 }, async () => {
    const r = await runCli(['config', 'dump', '--json', '--admin', gw.adminUrl], { timeoutMs: 120_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(Object.keys((JSON.parse(r.stdout) as { upstreams: object }).upstreams), ["u"])
  })

  test('an invalid file is refused with its errors and nothing changes', async () => {
    const file = join(dir, 'bad.yaml')
    await writeFile(file, stringify({ upstreams: {}, routes: [{ name: 'x', paths: ['/x'], upstream: 'nope' }] }))
    const r = await cli('apply', '-c', file, '--prune')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /422 config_invalid/)
    assert.match(r.stderr, /routes\[0\]\.upstream/)
    assert.equal((await request(`${gw.url}/b`)).statusCode, 200)
  })
})
