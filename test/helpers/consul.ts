// A stand-in for Consul's HTTP API, the subset the discovery source uses. Consul is not packaged
// for this environment, so this implements, from the API docs:
// - GET /v1/health/service/:service (https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service)
//   with `passing` (only entries whose checks all pass), `tag` (repeatable, all must match), `dc`
//   (an unknown one answers 500 "No path to datacenter"), `ns`, and the X-Consul-Index header;
// - blocking queries (https://developer.hashicorp.com/consul/api-docs/features/blocking): with
//   `index` at or past the service's current index, the request is held until the service changes
//   or `wait` (default 5m, max 10m, plus up to wait/16 jitter) runs out, then answered with the
//   current index;
// - ACLs (https://developer.hashicorp.com/consul/api-docs/api-structure#authentication): with a
//   token set, a request without X-Consul-Token or with another one gets 403 "ACL not found".
import type http from 'node:http'
import { goDuration, json, standIn, type StandIn } from './registry-server.js'

export interface ConsulInstance {
  id: string
  address: string
  port: number
  tags?: string[]
  meta?: Record<string, string>
  weight?: number
  /** Check statuses; default one passing check. */
  checks?: Array<'passing' | 'warning' | 'critical'>
  node?: string
}

export interface ConsulStandIn extends StandIn {
  /** Replaces a service's instances (a change: the index moves on and blocked queries return). */
  set(service: string, instances: ConsulInstance[]): void
  /** Raft index (global, like Consul's). */
  index: number
  token: string | undefined
  datacenter: string
  /** Blocking queries answered because their wait ran out. */
  waitsExpired: number
  /** Queries that carried an index (blocking). */
  blocking: number
}

export async function startConsul(opts: { token?: string } = {}): Promise<ConsulStandIn> {
  const services = new Map<string, { index: number; instances: ConsulInstance[] }>()
  const waiters = new Set<() => void>()
  const answer = (res: http.ServerResponse, url: URL, name: string) => {
    const svc = services.get(name)
    const tags = url.searchParams.getAll('tag')
    const passing = url.searchParams.has('passing') && url.searchParams.get('passing') !== 'false'
    const list = (svc?.instances ?? [])
      .filter((i) => !passing || (i.checks ?? ['passing']).every((c) => c === 'passing'))
      .filter((i) => tags.every((t) => (i.tags ?? []).includes(t)))
      .map((i) => ({
        Node: { ID: '', Node: i.node ?? 'node-1', Address: '127.0.0.1', Datacenter: c.datacenter },
        Service: { ID: i.id, Service: name, Tags: i.tags ?? [], Address: i.address, Port: i.port, Meta: i.meta ?? {}, Weights: { Passing: i.weight ?? 1, Warning: 1 } },
        Checks: (i.checks ?? ['passing']).map((st, k) => ({ CheckID: `c${k}`, Status: st, ServiceID: i.id })),
      }))
    json(res, 200, list, { 'x-consul-index': String(Math.max(1, svc?.index ?? c.index)) })
  }
  const base = await standIn(async (req, res, url) => {
    const m = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname)
    if (req.method !== 'GET' || m === null) return json(res, 404, { error: 'not found' })
    if (c.token !== undefined && req.headers['x-consul-token'] !== c.token) {
      res.writeHead(403, { 'content-type': 'text/plain' })
      return void res.end('ACL not found')
    }
    const dc = url.searchParams.get('dc')
    if (dc !== null && dc !== c.datacenter) {
      res.writeHead(500, { 'content-type': 'text/plain' })
      return void res.end(`No path to datacenter`)
    }
    const name = decodeURIComponent(m[1]!)
    const index = Number(url.searchParams.get('index') ?? '0')
    const current = () => services.get(name)?.index ?? c.index
    if (index > 0) {
      c.blocking++
      if (index >= current()) {
        const wait = Math.min(600_000, goDuration(url.searchParams.get('wait')) ?? 300_000)
        const jitter = Math.random() * (wait / 16)
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer)
            waiters.delete(check)
            resolve()
          }
          const check = () => {
            if (current() > index) done()
          }
          const timer = setTimeout(() => {
            c.waitsExpired++
            done()
          }, wait + jitter)
          waiters.add(check)
          res.on('close', done)
        })
        if (res.destroyed) return
      }
    }
    answer(res, url, name)
  })
  const c: ConsulStandIn = Object.assign(base, {
    index: 1,
    token: opts.token,
    datacenter: 'dc1',
    waitsExpired: 0,
    blocking: 0,
    set(service: string, instances: ConsulInstance[]) {
      c.index++
      services.set(service, { index: c.index, instances })
      for (const w of [...waiters]) w()
    },
  })
  return c
}
