// `npm start`: the demo upstream plus the gateway on examples/portico.yaml, stopped together.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { startDemoUpstream } from './demo-upstream.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const demo = await startDemoUpstream()
console.log(`demo upstream listening on http://127.0.0.1:${demo.address().port}`)

const args = [join(here, '..', 'bin', 'portico.js'), 'start', '-c', process.env.PORTICO_CONFIG ?? join(here, 'portico.yaml'), ...process.argv.slice(2)]
// Its own process group: Ctrl-C in a terminal signals the whole foreground group, and this runner
// forwards the signal too, so a gateway in the group would get SIGINT twice and take the second as
// "exit now, skip the drain". Only the forwarded signal reaches it this way.
const gw = spawn(process.execPath, args, { stdio: 'inherit', detached: true })
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => gw.kill(sig))
gw.on('exit', (code, signal) => {
  demo.close()
  process.exit(code ?? (signal ? 1 : 0))
})
