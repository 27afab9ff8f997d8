// The `portico` command as a user runs it: validate, help, version and usage errors.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../../helpers/gateway.js'

const VALID = `server:
  listen: 127.0.0.1:8080
upstreams:
  users:
    targets:
      - url: http://127.0.0.1:9001
  orders:
    targets:
      - url: http://127.0.0.1:9002
routes:
  - name: users
    paths: [/users/*]
    upstream: users
  - name: orders
    paths: [/orders]
    upstream: orders
  - name: orders-by-id
    paths: [/orders/:id]
    upstream: orders
`

// Three mistakes on known lines: an unknown key (line 3), a bad duration (line 8), a bad target URL (line 10).
const BROKEN = `server:
  listen: 127.0.0.1:8080
  max_bodysize: 10mb
upstreams:
  users:
    timeouts:
      connect: 2s
      read: soon
    targets:
      - url: ftp://127.0.0.1:9001
routes:
  - name: users
    paths: [/users/*]
    upstream: users
`

describe('portico CLI', () => {
  let dir: string
  let valid: string
  let broken: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-'))
    valid = join(dir, 'valid.yaml')
    broken = join(dir, 'broken.yaml')
    await writeFile(valid, VALID)
    await writeFile(broken, BROKEN)
  })
  after(() => rm(dir, { recursive: true, force: true }))

  test('validate on a valid file prints a summary and exits 0', async () => {
    const r = await runCli(['validate', '-c', valid])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^${valid.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK \\(3 routes, 2 upstreams, hash [0-9a-f]{12}\\)\\n$`))
    assert.equal(r.stderr, '')
  })

  test('validate warns when a plugin keeps per-instance state without store.redis, and not with it', async () => {
    const hmac = VALID.replace('    upstream: users\n', '    upstream: users\n    plugins: [ { name: hmac-auth } ]\n')
    const alone = join(dir, 'hmac.yaml')
    await writeFile(alone, hmac)
    const r = await runCli(['validate', '-c', alone])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /warning: hmac-auth without store\.redis: replay nonces are remembered by this instance only/)
    const shared = join(dir, 'hmac-redis.yaml')
    await writeFile(shared, `store: { redis: { url: "redis://127.0.0.1:6390" } }\n${hmac}`)
    const s = await runCli(['validate', '-c', shared])
    assert.equal(s.code, 0, s.stderr)
    assert.equal(s.stderr, '')
  })

  test('validate prints every error with file:line:col and exits 1', async () => {
    const r = await runCli(['validate', '--config', broken])
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`${broken}:3:\\d+\\s+server\\.max_bodysize`))
    assert.match(r.stderr, new RegExp(`${broken}:8:\\d+\\s+upstreams\\.users\\.timeouts\\.read`))
    assert.match(r.stderr, new RegExp(`${broken}:10:\\d+\\s+upstreams\\.users\\.targets\\[0\\]\\.url`))
    assert.match(r.stderr, /3 errors/)
    assert.equal(r.stdout, '')
  })

  test('-c defaults to $PORTICO_CONFIG', async () => {
    const r = await runCli(['validate'], { env: { PORTICO_CONFIG: valid } })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /: OK \(3 routes/)
  })

  test('a missing file is an error naming the file', async () => {
    const missing = join(dir, 'nope.yaml')
    const r = await runCli(['validate', '-c', missing])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /nope\.yaml/)
    assert.match(r.stderr, /ENOENT|no such file/)
  })

  test('start never starts workers on an invalid file: errors printed, exit 1', async () => {
    const r = await runCli(['start', '-c', broken])
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`${broken}:3:\\d+`))
    assert.match(r.stderr, /not starting/)
  })

  test('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
    const r = await runCli(['--version'])
    assert.equal(r.code, 0)
    assert.equal(r.stdout, `${pkg.version}\n`)
  })

  test('--help and <command> --help print usage and exit 0', async () => {
    const main = await runCli(['--help'])
    assert.equal(main.code, 0)
    assert.match(main.stdout, /Usage: portico <command>/)
    assert.match(main.stdout, /validate/)
    const start = await runCli(['start', '--help'])
    assert.equal(start.code, 0)
    assert.match(start.stdout, /--no-cluster/)
    assert.match(start.stdout, /SIGHUP/)
    const validate = await runCli(['validate', '-h'])
    assert.equal(validate.code, 0)
    assert.match(validate.stdout, /Usage: portico validate/)
  })

  test('unknown flags, commands and bad --workers are usage errors (exit 2)', async () => {
    const cases = [['validate', '--bogus'], ['frobnicate'], ['--nope'], ['start', '--workers', 'many'], ['validate', '--workers', '2'], []]
    const results = await Promise.all(cases.map((args) => runCli(args)))
    cases.forEach((args, i) => {
      const r = results[i]!
      assert.equal(r.code, 2, `portico ${args.join(' ')}: ${r.stderr}`)
      assert.notEqual(r.stderr, '', `portico ${args.join(' ')} explains itself`)
    })
  })
})
