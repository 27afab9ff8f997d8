// What every discovery-provider test drives: a bounded load through the gateway (a few clients
// in a loop, each waiting for its answer) that records every failed request, and a probe that
// says which origins answer now.
import { request } from 'undici'
import type { InProcGateway } from '../../helpers/inproc.js'
import type { Snapshot } from '../../../src/snapshot/compile.js'

export interface Load {
  ok: number
  failed: string[]
  /** Answers per origin name. */
  by: Map<string, number>
  stop(): Promise<void>
}

/** `clients` concurrent request loops against `url` until stop(). */
export function startLoad(url: string, clients = 4): Load {
  let running = true
  const l: Load = {
    ok: 0,
    failed: [],
    by: new Map(),
    async stop() {
      running = false
      await Promise.all(loops)
    },
  }
  const loop = async () => {
    while (running) {
      try {
        const res = await request(url)
        const text = await res.body.text()
        if (res.statusCode === 200) {
          l.ok++
          l.by.set(text, (l.by.get(text) ?? 0) + 1)
        } else l.failed.push(`${res.statusCode} ${text.slice(0, 120)}`)
      } catch (err) {
        l.failed.push(String(err))
      }
    }
  }
  const loops = Array.from({ length: clients }, loop)
  return l
}

/** Which origins answered `n` sequential requests (a status for each failure). */
export async function seen(gw: InProcGateway, n = 20, path = '/x'): Promise<string[]> {
  const out = new Set<string>()
  for (let i = 0; i < n; i++) {
    const res = await request(`${gw.url}${path}`)
    const text = await res.body.text()
    out.add(res.statusCode === 200 ? text : String(res.statusCode))
  }
  return [...out].sort()
}

export const clusterOf = (gw: InProcGateway, name = 'users') => (gw.dp as unknown as { snapshot: Snapshot }).snapshot.clusters.get(name)!
