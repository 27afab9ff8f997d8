// A stand-in for Nacos's HTTP API, the subset the discovery source uses. Nacos is not packaged
// for this environment, so this implements, from the docs:
// - GET /nacos/v2/ns/instance/list (https://nacos.io/en/docs/v2/guide/user/open-api/ ,
//   "Query instance list"): serviceName (required, else 400), groupName (default DEFAULT_GROUP),
//   namespaceId (default public), clusterName (comma list), healthyOnly; answers
//   {code: 0, message: "success", data: {name: "<group>@@<service>", groupName, clusters,
//   cacheMillis, hosts: [{ip, port, weight, healthy, enabled, ephemeral, clusterName, serviceName,
//   metadata, instanceId}], lastRefTime, checksum, allIPs, reachProtectionThreshold, valid}};
// - auth (https://nacos.io/en/docs/v2/guide/user/auth/): POST /nacos/v1/auth/login with
//   username/password (form) answers {accessToken, tokenTtl, globalAdmin}, a wrong password 403
//   "unknown user!"; with auth on, a request without a valid, unexpired accessToken gets 403;
// - AK/SK signing as Nacos's Java client does it for naming requests: ak, data
//   ("<ms>@@<group>@@<service>") and signature = base64(HMAC-SHA1(secretKey, data)).
import { createHmac } from 'node:crypto'
import { json, readBody, standIn, type StandIn } from './registry-server.js'

export interface NacosInstance {
  ip: string
  port: number
  weight?: number
  healthy?: boolean
  enabled?: boolean
  ephemeral?: boolean
  clusterName?: string
  metadata?: Record<string, string>
}

export interface NacosStandIn extends StandIn {
  set(service: string, instances: NacosInstance[], opts?: { group?: string; namespace?: string }): void
  /** Auth on: user → password. Tokens live tokenTtlSeconds. */
  users: Map<string, string>
  tokenTtlSeconds: number
  logins: number
  /** AK/SK on: access key → secret key. */
  keys: Map<string, string>
  /** Instance-list requests answered 200. */
  lists: number
  /** Forget every issued token (as a restarted Nacos with a new secret would). */
  revokeTokens(): void
}

export async function startNacos(): Promise<NacosStandIn> {
  const services = new Map<string, NacosInstance[]>()
  const tokens = new Map<string, number>()
  let seq = 0
  const key = (ns: string, group: string, svc: string) => `${ns || 'public'}|${group}|${svc}`
  const base = await standIn(async (req, res, url) => {
    if (req.method === 'POST' && url.pathname === '/nacos/v1/auth/login') {
      const form = new URLSearchParams(await readBody(req))
      const u = form.get('username') ?? url.searchParams.get('username') ?? ''
      const p = form.get('password') ?? url.searchParams.get('password') ?? ''
      if (n.users.get(u) !== p) {
        res.writeHead(403, { 'content-type': 'text/plain' })
        return void res.end('unknown user!')
      }
      n.logins++
      const token = `tok-${++seq}-${Math.random().toString(36).slice(2)}`
      tokens.set(token, Date.now() + n.tokenTtlSeconds * 1000)
      return json(res, 200, { accessToken: token, tokenTtl: n.tokenTtlSeconds, globalAdmin: false })
    }
    if (req.method !== 'GET' || url.pathname !== '/nacos/v2/ns/instance/list') return json(res, 404, { code: 404, message: 'not found', data: null })
    const q = url.searchParams
    if (n.users.size > 0) {
      const exp = tokens.get(q.get('accessToken') ?? '')
      if (exp === undefined || exp < Date.now()) return json(res, 403, { code: 403, message: exp === undefined ? 'token invalid!' : 'token expired!', data: null })
    }
    const service = q.get('serviceName')
    if (service === null || service === '') return json(res, 400, { code: 10000, message: "Required parameter 'serviceName' type String is not present", data: null })
    const group = q.get('groupName') || 'DEFAULT_GROUP'
    if (n.keys.size > 0) {
      const sk = n.keys.get(q.get('ak') ?? '')
      const data = q.get('data') ?? ''
      const ok = sk !== undefined && data.endsWith(`@@${group}@@${service}`) && createHmac('sha1', sk).update(data).digest('base64') === q.get('signature')
      if (!ok) return json(res, 403, { code: 403, message: 'signature mismatch', data: null })
    }
    const clusters = (q.get('clusterName') ?? '').split(',').filter((c) => c !== '')
    const healthyOnly = q.get('healthyOnly') === 'true'
    const hosts = (services.get(key(q.get('namespaceId') ?? '', group, service)) ?? [])
      .map((i) => ({ weight: 1, healthy: true, enabled: true, ephemeral: true, clusterName: 'DEFAULT', metadata: {}, ...i }))
      .filter((i) => clusters.length === 0 || clusters.includes(i.clusterName))
      .filter((i) => !healthyOnly || i.healthy)
      .map((i) => ({ ...i, serviceName: `${group}@@${service}`, instanceId: `${i.ip}#${i.port}#${i.clusterName}#${group}@@${service}` }))
    n.lists++
    json(res, 200, {
      code: 0,
      message: 'success',
      data: { name: `${group}@@${service}`, groupName: group, clusters: clusters.join(','), cacheMillis: 10_000, hosts, lastRefTime: Date.now(), checksum: '', allIPs: false, reachProtectionThreshold: false, valid: true },
    })
  })
  const n: NacosStandIn = Object.assign(base, {
    users: new Map<string, string>(),
    tokenTtlSeconds: 18_000,
    logins: 0,
    keys: new Map<string, string>(),
    lists: 0,
    set(service: string, instances: NacosInstance[], opts: { group?: string; namespace?: string } = {}) {
      services.set(key(opts.namespace ?? '', opts.group ?? 'DEFAULT_GROUP', service), instances)
    },
    revokeTokens() {
      tokens.clear()
    },
  })
  return n
}
