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
// And the KV subset the config source uses (https://developer.hashicorp.com/consul/api-docs/kv,
// https://developer.hashicorp.com/consul/api-docs/txn):
// - GET /v1/kv/<prefix>?recurse: [{Key, Value (base64), CreateIndex, ModifyIndex, LockIndex, Flags}],
//   404 when nothing is under the prefix; X-Consul-Index = the highest index of a key under the
//   prefix or of a deletion there (Consul's tombstones), blocking queries as above;
// - PUT /v1/kv/<key>[?cas=<ModifyIndex>] with the value as body, DELETE /v1/kv/<key>[?cas=…]:
//   `true`, or `false` when the cas index does not match (cas=0: only if the key does not exist);
// - PUT /v1/txn with KV verbs set, cas, delete, delete-cas: all or none; 409 with Errors when a
//   check fails, 200 with Results otherwise;
// - restore(index): the cluster's state replaced by an older one (the index goes backwards).
import type http from 'node:http'
import { goDuration, json, readBody, standIn, type StandIn } from './registry-server.js'

interface KvItem {
  value: Buffer
  create: number
  modify: number
}

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
  /** KV: writes a key as Consul's API would (the index moves on, blocked queries under it return). */
  kvPut(key: string, value: string): void
  kvDelete(key: string): void
  kvGet(key: string): { value: string; modify: number } | undefined
  kvKeys(prefix: string): string[]
  /** While set, blocked KV queries are not released by changes (a watch that lags behind); thaw() releases them. */
  frozen: boolean
  thaw(): void
  /** The cluster replaced by an empty one at a lower index (a wiped or restored cluster). */
  restore(index: number): void
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
  const kv = new Map<string, KvItem>()
  const tombstones = new Map<string, number>()
  const kvIndex = (prefix: string) => {
    let i = 0
    for (const [k, v] of kv) if (k.startsWith(prefix)) i = Math.max(i, v.modify)
    for (const [k, t] of tombstones) if (k.startsWith(prefix)) i = Math.max(i, t)
    return i === 0 ? c.index : i
  }
  const kvWaiters = new Set<() => void>()
  const expiredWhileFrozen = new Set<() => void>()
  const kvChanged = () => {
    if (!c.frozen) for (const w of [...kvWaiters]) w()
  }
  const kvSet = (key: string, value: Buffer) => {
    c.index++
    const had = kv.get(key)
    kv.set(key, { value, create: had?.create ?? c.index, modify: c.index })
    tombstones.delete(key)
  }
  const kvDel = (key: string) => {
    if (!kv.has(key)) return
    c.index++
    kv.delete(key)
    tombstones.set(key, c.index)
  }
  const kvApi = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, key: string) => {
    const dc = url.searchParams.get('dc')
    if (dc !== null && dc !== c.datacenter) {
      res.writeHead(500, { 'content-type': 'text/plain' })
      return void res.end('No path to datacenter')
    }
    if (req.method === 'GET') {
      const recurse = url.searchParams.has('recurse')
      const index = Number(url.searchParams.get('index') ?? '0')
      if (index > 0) {
        c.blocking++
        if (index >= kvIndex(key)) {
          const wait = Math.min(600_000, goDuration(url.searchParams.get('wait')) ?? 300_000)
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer)
              kvWaiters.delete(check)
              c.onDown.delete(done)
              resolve()
            }
            const check = () => {
              if (kvIndex(key) > index) done()
            }
            const timer = setTimeout(() => {
              c.waitsExpired++
              if (c.frozen) return void expiredWhileFrozen.add(done) // held until thaw(): the watch lags behind
              done()
            }, wait + Math.random() * (wait / 16))
            kvWaiters.add(check)
            c.onDown.add(done)
            res.on('close', done)
          })
          if (res.destroyed) return
        }
      }
      const items = [...kv.entries()].filter(([k]) => (recurse ? k.startsWith(key) : k === key)).sort(([a], [b]) => (a < b ? -1 : 1))
      const headers = { 'x-consul-index': String(kvIndex(key)) }
      if (items.length === 0) {
        res.writeHead(404, headers)
        return void res.end()
      }
      return json(res, 200, items.map(([k, v]) => ({ Key: k, Value: v.value.length === 0 ? null : v.value.toString('base64'), CreateIndex: v.create, ModifyIndex: v.modify, LockIndex: 0, Flags: 0 })), headers)
    }
    const cas = url.searchParams.get('cas')
    const casOk = () => cas === null || (Number(cas) === 0 ? !kv.has(key) : kv.get(key)?.modify === Number(cas))
    if (req.method === 'PUT') {
      const body = Buffer.from(await readBody(req))
      if (!casOk()) return json(res, 200, false)
      kvSet(key, body)
      kvChanged()
      return json(res, 200, true)
    }
    if (req.method === 'DELETE') {
      req.resume()
      if (cas !== null && kv.get(key)?.modify !== Number(cas)) return json(res, 200, false)
      kvDel(key)
      kvChanged()
      return json(res, 200, true)
    }
    return json(res, 405, { error: 'method not allowed' })
  }
  const txnApi = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.method !== 'PUT') return json(res, 405, { error: 'method not allowed' })
    const ops = JSON.parse(await readBody(req)) as Array<{ KV?: { Verb: string; Key: string; Value?: string; Index?: number } }>
    if (!Array.isArray(ops) || ops.length > 64) return json(res, 413, { error: 'too many operations' })
    const errors: Array<{ OpIndex: number; What: string }> = []
    ops.forEach((op, i) => {
      const o = op.KV
      if (o === undefined) {
        errors.push({ OpIndex: i, What: 'unsupported op' })
        return
      }
      const cur = kv.get(o.Key)
      if (o.Verb === 'cas' && ((o.Index ?? 0) === 0 ? cur !== undefined : cur?.modify !== o.Index)) errors.push({ OpIndex: i, What: `failed to set key "${o.Key}", index is stale` })
      if (o.Verb === 'delete-cas' && cur?.modify !== o.Index) errors.push({ OpIndex: i, What: `failed to delete key "${o.Key}", index is stale` })
      if (!['set', 'cas', 'delete', 'delete-cas'].includes(o.Verb)) errors.push({ OpIndex: i, What: `unknown KV verb "${o.Verb}"` })
    })
    if (errors.length > 0) return json(res, 409, { Results: null, Errors: errors })
    // One raft entry: every key of the transaction gets the same index.
    c.index++
    const at = c.index
    const results = ops.map(({ KV: o }) => {
      if (o!.Verb === 'delete' || o!.Verb === 'delete-cas') {
        if (kv.delete(o!.Key)) tombstones.set(o!.Key, at)
        return { KV: null }
      }
      const had = kv.get(o!.Key)
      kv.set(o!.Key, { value: Buffer.from(o!.Value ?? '', 'base64'), create: had?.create ?? at, modify: at })
      tombstones.delete(o!.Key)
      return { KV: { Key: o!.Key, CreateIndex: had?.create ?? at, ModifyIndex: at, LockIndex: 0, Flags: 0, Value: null } }
    })
    kvChanged()
    return json(res, 200, { Results: results, Errors: null })
  }
  const base = await standIn(async (req, res, url) => {
    if (c.token !== undefined && req.headers['x-consul-token'] !== c.token) {
      req.resume()
      res.writeHead(403, { 'content-type': 'text/plain' })
      return void res.end('ACL not found')
    }
    if (url.pathname.startsWith('/v1/kv/')) return kvApi(req, res, url, decodeURIComponent(url.pathname.slice('/v1/kv/'.length)))
    if (url.pathname === '/v1/txn') return txnApi(req, res)
    const m = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname)
    if (req.method !== 'GET' || m === null) return json(res, 404, { error: 'not found' })
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
    frozen: false,
    thaw() {
      c.frozen = false
      for (const w of [...kvWaiters]) w()
      for (const d of [...expiredWhileFrozen]) d()
      expiredWhileFrozen.clear()
    },
    kvPut(key: string, value: string) {
      kvSet(key, Buffer.from(value))
      kvChanged()
    },
    kvDelete(key: string) {
      kvDel(key)
      kvChanged()
    },
    kvGet(key: string) {
      const v = kv.get(key)
      return v === undefined ? undefined : { value: v.value.toString(), modify: v.modify }
    },
    kvKeys(prefix: string) {
      return [...kv.keys()].filter((k) => k.startsWith(prefix)).sort()
    },
    restore(index: number) {
      kv.clear()
      tombstones.clear()
      c.index = index
      for (const w of [...kvWaiters]) w()
    },
    set(service: string, instances: ConsulInstance[]) {
      c.index++
      services.set(service, { index: c.index, instances })
      for (const w of [...waiters]) w()
    },
  })
  return c
}
