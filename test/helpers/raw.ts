// Raw TCP requests, for what an HTTP client library would refuse to send (smuggling, bad framing).
import net from 'node:net'

/**
 * Sends raw bytes and returns everything the server answers until it closes or goes quiet
 * (quietMs after the last byte), or, if it never answers, whatever arrived by deadlineMs.
 */
export function rawRequest(port: number, data: string, quietMs = 300, deadlineMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(data))
    let out = ''
    let timer: NodeJS.Timeout | undefined
    const deadline = setTimeout(() => done(), deadlineMs)
    const done = () => {
      clearTimeout(timer)
      clearTimeout(deadline)
      s.destroy()
      resolve(out)
    }
    s.on('data', (c) => {
      out += c.toString()
      clearTimeout(timer)
      timer = setTimeout(done, quietMs)
    })
    s.on('end', done)
    s.on('error', (e) => (out === '' ? reject(e) : done()))
  })
}

