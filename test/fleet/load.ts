// A bounded client load for the fleet scenarios: `concurrency` loops that send requests one after
// another until stop(), half on a fresh TCP connection per request (a refused connection shows up
// as ECONNREFUSED), half over keep-alive connections (undici). Every answer that is not the
// expected status, and every connection error, is counted and kept (first few) for the report.
import http from 'node:http'
import { Agent, request } from 'undici'

export interface LoadStats {
  sent: number
  ok: number
  /** Client-visible failures by kind: "status 502", "ECONNREFUSED", "ECONNRESET", … */
  failures: Record<string, number>
  failed: number
  /** First failure messages, for the assertion message. */
  samples: string[]
  /** Count of each value of the `by` response header (e.g. which instance answered). */
  by: Record<string, number>
}

export interface LoadOptions {
  url: string
  concurrency?: number
  /** Statuses that count as success (default [200]). */
  expect?: number[]
  headers?: Record<string, string>
  /** Response header to tally answers by. */
  by?: string
  /** 'both' (default): half the loops on fresh connections, half on keep-alive. */
  connections?: 'fresh' | 'keepalive' | 'both'
  /** GET (default) or e.g. POST, with a small JSON body. */
  method?: 'GET' | 'POST'
}

export interface Load {
  readonly stats: LoadStats
  /** Resolves once at least `n` more requests completed. */
  waitFor(n: number, timeoutMs?: number): Promise<void>
  stop(): Promise<LoadStats>
}

const BODY = '{"n":1}'

function fresh(url: string, headers: Record<string, string>, method: string): Promise<{ status: number; header: (n: string) => string | undefined }> {
  return new Promise((resolve, reject) => {
    const extra: Record<string, string> = method === 'GET' ? {} : { 'content-type': 'application/json', 'content-length': String(BODY.length) }
    const req = http.request(url, { method, agent: false, headers: { connection: 'close', ...extra, ...headers } }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, header: (n) => res.headers[n] as string | undefined }))
      res.on('error', reject)
    })
    req.setTimeout(15_000, () => req.destroy(new Error('client timeout')))
    req.on('error', reject)
    req.end(method === 'GET' ? undefined : BODY)
  })
}

export function startLoad(opts: LoadOptions): Load {
  const expect = new Set(opts.expect ?? [200])
  const method = opts.method ?? 'GET'
  const stats: LoadStats = { sent: 0, ok: 0, failures: {}, failed: 0, samples: [], by: {} }
  const agent = new Agent({ connections: 4, keepAliveTimeout: 4_000, connect: { timeout: 5_000 } })
  let running = true
  let stopped: Promise<LoadStats> | null = null
  const fail = (kind: string, detail: string) => {
    stats.failed++
    stats.failures[kind] = (stats.failures[kind] ?? 0) + 1
    if (stats.samples.length < 8) stats.samples.push(`${kind}: ${detail}`)
  }
  const loop = async (keepalive: boolean) => {
    while (running) {
      stats.sent++
      try {
        let status: number
        let byValue: string | undefined
        if (keepalive) {
          const post = method !== 'GET'
          const res = await request(opts.url, {
            method,
            dispatcher: agent,
            headers: post ? { 'content-type': 'application/json', ...opts.headers } : opts.headers,
            body: post ? BODY : undefined,
            headersTimeout: 15_000,
            bodyTimeout: 15_000,
          })
          const body = await res.body.text()
          status = res.statusCode
          byValue = opts.by === undefined ? undefined : (res.headers[opts.by] as string | undefined)
          if (!expect.has(status)) fail(`status ${status}`, body.slice(0, 200))
        } else {
          const res = await fresh(opts.url, opts.headers ?? {}, method)
          status = res.status
          byValue = opts.by === undefined ? undefined : res.header(opts.by)
          if (!expect.has(status)) fail(`status ${status}`, '(fresh connection)')
        }
        if (expect.has(status)) stats.ok++
        if (byValue !== undefined) stats.by[byValue] = (stats.by[byValue] ?? 0) + 1
      } catch (err) {
        const e = err as NodeJS.ErrnoException
        fail(e.code ?? e.name, e.message)
      }
    }
  }
  const n = opts.concurrency ?? 4
  const mode = opts.connections ?? 'both'
  const loops = Array.from({ length: n }, (_, i) => loop(mode === 'keepalive' || (mode === 'both' && i % 2 === 1)))
  return {
    stats,
    async waitFor(count, timeoutMs = 30_000) {
      const target = stats.ok + stats.failed + count
      const deadline = Date.now() + timeoutMs
      while (stats.ok + stats.failed < target) {
        if (Date.now() > deadline) throw new Error(`load: fewer than ${count} requests completed in ${timeoutMs}ms (${JSON.stringify(stats)})`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    stop() {
      running = false
      stopped ??= Promise.all(loops).then(async () => {
        await agent.close()
        return stats
      })
      return stopped
    },
  }
}

/** One line for assertion messages. */
export function describe(stats: LoadStats): string {
  return `${stats.ok}/${stats.sent} ok, ${stats.failed} failed ${JSON.stringify(stats.failures)} ${stats.samples.join(' | ')}`
}

/** Share of answers whose `by` header was `value`, among those counted after `before` (a copy of stats.by). */
export function shareSince(stats: LoadStats, before: Record<string, number>, value: string): { share: number; total: number } {
  let total = 0
  for (const [k, v] of Object.entries(stats.by)) total += v - (before[k] ?? 0)
  const mine = (stats.by[value] ?? 0) - (before[value] ?? 0)
  return { share: total === 0 ? 0 : mine / total, total }
}
