// Shared bits of the upstream integration tests: an origin that can be killed and brought back on
// the same port, a small client, and a metrics scrape of the in-process registry.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { registry } from '../../../src/observability/metrics.js'

export interface Killable {
  url: string
  port: number
  /** Requests served since start. */
  hits: number
  kill(): Promise<void>
  revive(): Promise<void>
  close(): Promise<void>
}

/** An origin that answers `handler` (default: 200 "ok" naming itself), killable and revivable on its port. */
export async function killableOrigin(
  name: string,
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  port = 0,
): Promise<Killable> {
  let server: http.Server | null = null
  const o: Killable = {
    url: '',
    port,
    hits: 0,
    async kill() {
      const s = server
      server = null
      if (s === null) return
      s.closeAllConnections()
      await new Promise<void>((r) => s.close(() => r()))
    },
    async revive() {
      if (server !== null) return
      const s = http.createServer((req, res) => {
        o.hits++
        if (handler !== undefined) return handler(req, res)
        req.resume()
        res.writeHead(200, { 'content-type': 'text/plain', 'x-origin': name })
        res.end(name)
      })
      s.keepAliveTimeout = 60_000
      await new Promise<void>((r) => s.listen(o.port, '127.0.0.1', r))
      o.port = (s.address() as AddressInfo).port
      o.url = `http://127.0.0.1:${o.port}`
      server = s
    },
    close() {
      return o.kill()
    },
  }
  await o.revive()
  return o
}

export async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' | 'PUT' = 'GET', body?: string) {
  const t0 = performance.now()
  const res = await request(url, { method, headers, body })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - t0 }
}

/** Value of one series in the in-process registry (undefined when absent). */
export async function metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name)
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val))
  return v?.value
}

export const yamlList = (urls: string[]) => urls.map((u) => `      - url: ${u}`).join('\n')
