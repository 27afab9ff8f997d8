// `npm start` as a user stops it: Ctrl-C in a terminal sends SIGINT to the whole foreground
// process group. The demo runner (examples/run-demo.mjs) forwards signals to the gateway, so the
// gateway must not be in that group too, or it gets SIGINT twice and takes the second one as
// "exit now" (issue 11 item 18). A streamed request in flight at Ctrl-C must finish.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { request } from 'undici'
import { freePort } from '../../helpers/origin.js'
import { pollUntil } from '../../helpers/poll.js'

const ROOT = resolve(import.meta.dirname, '../../..')

test('Ctrl-C on npm start drains once: the in-flight stream completes and the runner exits 0', { skip: !existsSync(join(ROOT, 'dist/main.js')) && 'dist/ not built (scripts/run-tests.mjs builds it)' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portico-demo-'))
  const [port, adminPort, demoPort] = [await freePort(), await freePort(), await freePort()]
  const example = await readFile(join(ROOT, 'examples/portico.yaml'), 'utf8')
  const config = join(dir, 'portico.yaml')
  await writeFile(config, example.replace('listen: 0.0.0.0:8080', `listen: 127.0.0.1:${port}`).replace('listen: 127.0.0.1:9180', `listen: 127.0.0.1:${adminPort}`).replace('workers: auto', 'workers: 2'))
  // Its own process group, as a shell gives a foreground job: the test signals the group like a terminal.
  const runner = spawn(process.execPath, [join(ROOT, 'examples/run-demo.mjs')], {
    cwd: ROOT,
    env: { ...process.env, DEMO_PORT: String(demoPort), PORTICO_CONFIG: config },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let out = ''
  runner.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  runner.stderr!.on('data', (c: Buffer) => (out += c.toString()))
  const exited = new Promise<number | null>((res) => runner.once('exit', (code) => res(code)))
  try {
    await pollUntil(
      async () => {
        const r = await request(`http://127.0.0.1:${adminPort}/readyz`)
        await r.body.dump()
        return r.statusCode === 200
      },
      { timeoutMs: 90_000, intervalMs: 100, what: 'the demo gateway to be ready' },
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${out}`)
    })
    // /demo/events streams five events 200 ms apart.
    const res = await request(`http://127.0.0.1:${port}/demo/events`)
    assert.equal(res.statusCode, 200)
    const body = res.body.text()
    process.kill(-runner.pid!, 'SIGINT')
    const text = await body
    assert.equal(text.match(/^data: tick \d+$/gm)?.length, 5, text)
    assert.equal(await exited, 0, out)
    assert.doesNotMatch(out, /second signal/)
  } finally {
    try {
      process.kill(-runner.pid!, 'SIGKILL')
    } catch {
      // already gone
    }
    await rm(dir, { recursive: true, force: true })
  }
})
