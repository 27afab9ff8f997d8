// A TCP port whose connects never complete, for connect timeouts without leaving loopback:
// a listening socket with a backlog of 0 that never accepts, its queue filled by two idle
// connections, so the kernel drops further SYNs. Node cannot listen without accepting, so the
// socket is held by a small python3 process.
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'

export interface Blackhole {
  port: number
  close(): void
}

const PY = `
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`

export async function startBlackhole(): Promise<Blackhole> {
  const child: ChildProcess = spawn('python3', ['-c', PY], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject)
    child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())))
  })
  const fillers: net.Socket[] = []
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1')
    s.on('error', () => undefined)
    fillers.push(s)
  }
  await new Promise((r) => setTimeout(r, 50)) // not a state wait: lets the two fillers' handshakes land
  return {
    port,
    close() {
      for (const s of fillers) s.destroy()
      child.stdin!.end()
      child.kill()
    },
  }
}
