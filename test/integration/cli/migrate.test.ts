// `portico migrate file-to-etcd` against a real etcd with its default --max-txn-ops (128): a
// 300-route file is seeded in several transactions (one transaction would be refused), a gateway
// started on the bootstrap file then serves its last route, a second run is refused without
// --force, --dry-run writes nothing, secrets are sealed with config_center.etcd.secrets, and an
// invalid file is refused with file:line:column before anything is written. The command runs in
// this process (a node + tsx start per call is slow on a loaded machine); one run goes through the
// real binary for the wiring.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { stringify } from 'yaml'
import { request } from 'undici'
import { startEtcd, type EtcdServer } from '../../helpers/etcd.js'
import { startOrigin, type Origin } from '../../helpers/origin.js'
import { runCli, startGateway } from '../../helpers/gateway.js'
import { migrateCommand } from '../../../src/cli/migrate.js'

const ROUTES = 300

describe('portico migrate file-to-etcd', () => {
  let etcd: EtcdServer
  let origin: Origin
  let dir: string
  let client: Etcd3
  const secretsKey = randomBytes(32).toString('base64')

  const bootstrap = (prefix: string, extra: Record<string, unknown> = {}) => ({
    config_center: { etcd: { endpoints: [etcd.url], prefix, timeout: '2s', cache_file: join(dir, `cache${prefix.replaceAll('/', '-')}.json`), ...extra } },
    upstreams: {},
    routes: [],
  })
  const document = () => ({
    server: { listen: '127.0.0.1:1' },
    plugins: [{ name: 'headers', config: { response: { set: { 'x-migrated': 'yes' } } } }],
    upstreams: { origin: { targets: [{ url: origin.url }] } },
    consumers: [{ name: 'svc', credentials: { key_auth: ['migrated-key-0123456789abcdef'] } }],
    routes: Array.from({ length: ROUTES }, (_, i) => ({ name: `r${i}`, paths: [`/m/${i}`], upstream: 'origin' })),
  })
  const files = async (prefix: string, doc: unknown = document(), extra: Record<string, unknown> = {}) => {
    const tag = prefix.replaceAll('/', '')
    const file = join(dir, `${tag}.yaml`)
    const boot = join(dir, `${tag}-bootstrap.yaml`)
    await writeFile(file, stringify(doc))
    await writeFile(boot, stringify(bootstrap(prefix, extra)))
    return { file, boot }
  }
  const migrate = async (args: { config: string; to: string; force?: boolean; dryRun?: boolean }) => {
    let stdout = ''
    let stderr = ''
    const code = await migrateCommand({ direction: 'file-to-etcd', ...args }, { out: (t) => (stdout += t), err: (t) => (stderr += t) })
    return { code, stdout, stderr }
  }
  const keysUnder = async (prefix: string) => Object.keys(await client.getAll().prefix(prefix).strings())

  before(async () => {
    ;[etcd, origin, dir] = await Promise.all([startEtcd(), startOrigin(), mkdtemp(join(tmpdir(), 'portico-migrate-'))])
    client = new Etcd3({ hosts: [etcd.url] })
  })
  after(async () => {
    client?.close()
    await Promise.all([etcd?.close(), origin?.close()])
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('a 300-route file goes to etcd in several transactions, and a gateway on the bootstrap serves it', async () => {
    const { file, boot } = await files('/seed/')
    const r = await migrate({ config: file, to: boot })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /migrated 300 routes, 1 upstreams, 1 consumers, 1 plugins to \/seed\/ in 4 transaction\(s\)/)
    assert.match(r.stdout, /settings not migrated \(they stay in the bootstrap file\): server/)
    const keys = await keysUnder('/seed/')
    assert.equal(keys.length, ROUTES + 3)
    assert.ok(keys.includes('/seed/routes/r299') && keys.includes('/seed/upstreams/origin'))
    const gw = await startGateway({ config: bootstrap('/seed/'), args: ['--no-cluster'], readyTimeoutMs: 90_000 })
    try {
      const res = await request(`${gw.url}/m/${ROUTES - 1}`)
      assert.equal(res.statusCode, 200)
      assert.equal(res.headers['x-migrated'], 'yes')
      await res.body.dump()
    } finally {
      await gw.stop()
    }
  })

  test('a prefix that holds resources is refused without --force; --force overwrites; --dry-run writes nothing', async () => {
    const { file, boot } = await files('/again/')
    assert.equal((await migrate({ config: file, to: boot })).code, 0)
    const before = await client.get('/again/routes/r0').exec()
    const refused = await migrate({ config: file, to: boot })
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /\/again\/ already holds 303 resource\(s\); nothing was written.*--force/)
    const dry = await migrate({ config: file, to: boot, force: true, dryRun: true })
    assert.equal(dry.code, 0, dry.stderr)
    assert.match(dry.stdout, /dry run: would write 300 routes.*overwriting; it holds 303 resources/)
    assert.equal((await client.get('/again/routes/r0').exec()).kvs[0]!.mod_revision, before.kvs[0]!.mod_revision, 'the dry run wrote nothing')
    const forced = await migrate({ config: file, to: boot, force: true })
    assert.equal(forced.code, 0, forced.stderr)
    assert.notEqual((await client.get('/again/routes/r0').exec()).kvs[0]!.mod_revision, before.kvs[0]!.mod_revision)
  })

  test('with config_center.etcd.secrets, credentials are stored sealed', async () => {
    const { file, boot } = await files('/sealed/', document(), { secrets: { encryption_key: secretsKey } })
    const r = await migrate({ config: file, to: boot })
    assert.equal(r.code, 0, r.stderr)
    const stored = await client.get('/sealed/consumers/svc').string()
    assert.ok(stored !== null && !stored.includes('migrated-key-0123456789abcdef'), 'the key is not in etcd in the clear')
    assert.match(stored, /sealed:pe1\./)
  })

  test('an invalid file is refused with file:line:column through the real binary, and nothing is written', async () => {
    const doc = document() as Record<string, unknown>
    ;(doc.routes as Array<Record<string, unknown>>)[2]!.upstream = 'nowhere'
    const { file, boot } = await files('/invalid/', doc)
    const r = await runCli(['migrate', 'file-to-etcd', '-c', file, '--to', boot], { timeoutMs: 120_000 })
    assert.equal(r.code, 1, r.stdout)
    assert.match(r.stderr, new RegExp(`${file.replaceAll('.', '\\.')}:\\d+:\\d+`))
    assert.match(r.stderr, /nowhere/)
    assert.match(r.stderr, /nothing was written/)
    assert.deepEqual(await keysUnder('/invalid/'), [])
  })

  test('usage: a direction, -c and --to are required, and a bootstrap without etcd is refused', async () => {
    await assert.rejects(migrateCommand({ direction: 'etcd-to-file', config: 'a', to: 'b', force: false, dryRun: false }), /unknown migration 'etcd-to-file'/)
    await assert.rejects(migrateCommand({ direction: 'file-to-etcd', config: undefined, to: 'b', force: false, dryRun: false }), /needs -c/)
    const { file } = await files('/nocenter/')
    const plain = join(dir, 'plain.yaml')
    await writeFile(plain, stringify({ upstreams: {}, routes: [] }))
    const r = await migrate({ config: file, to: plain })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /has no config_center\.etcd/)
  })
})
