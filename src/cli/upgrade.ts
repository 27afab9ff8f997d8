// `portico upgrade --pid N`: asks a running --handoff primary to upgrade in place (SIGUSR2) and
// waits until it has handed over and exited. The work happens in control/handoff.ts.
import { parseDuration } from '../config/units.js'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function upgradeCommand(pid: number, timeout: string | undefined): Promise<number> {
  const timeoutMs = parseDuration(timeout ?? '180s')
  try {
    process.kill(pid, 'SIGUSR2')
  } catch (err) {
    process.stderr.write(`portico: cannot signal process ${pid}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`)
    return 1
  }
  const deadline = Date.now() + timeoutMs
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.stderr.write(`portico: process ${pid} still runs after ${timeoutMs}ms: the upgrade did not complete (see its log); it keeps serving\n`)
      return 1
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  process.stdout.write(`portico: process ${pid} handed over and exited\n`)
  return 0
}
