// A stand-in for the Kubernetes API server, the subset the discovery source uses. No API server
// can be run here, so this implements, from the docs:
// - list: GET /apis/discovery.k8s.io/v1/namespaces/:ns/endpointslices?labelSelector=k=v[,k=v]
//   answers an EndpointSliceList with metadata.resourceVersion
//   (https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/);
// - watch (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
//   with watch=true&resourceVersion=N, a chunked stream of JSON lines {type, object} for every
//   change after N (ADDED, MODIFIED, DELETED), BOOKMARK events on request, ended after
//   timeoutSeconds; a resourceVersion older than the compacted history gets an ERROR event with a
//   Status of code 410 (Expired), as the API server sends;
// - authentication (https://kubernetes.io/docs/reference/access-authn-authz/authentication/):
//   Authorization: Bearer <token> must be one of `tokens`, else 401 with a Status object;
// - optionally over TLS with the given key and certificate.
import type http from 'node:http'
import { json, standIn, type StandIn } from './registry-server.js'

export interface Endpoint {
  addresses: string[]
  conditions?: { ready?: boolean | null; serving?: boolean; terminating?: boolean }
  nodeName?: string
  zone?: string
  targetRef?: { kind: string; name: string; namespace?: string }
}

export interface SliceSpec {
  namespace: string
  name: string
  service: string
  addressType?: 'IPv4' | 'IPv6' | 'FQDN'
  ports: Array<{ name?: string; port: number; protocol?: string }>
  endpoints: Endpoint[]
}

export interface KubeStandIn extends StandIn {
  /** Bearer tokens accepted. */
  tokens: Set<string>
  put(spec: SliceSpec): void
  remove(namespace: string, name: string): void
  /** Drops the event history: watches from an older resourceVersion get 410. */
  compact(): void
  /** Ends every open watch normally (as timeoutSeconds does). */
  endWatches(): void
  bookmark(): void
  /** Open watch streams. */
  watchers: number
  lists: number
  rv: number
}

type Obj = Record<string, unknown> & { metadata: { name: string; namespace: string; resourceVersion: string; labels: Record<string, string> } }

const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code })

export async function startKube(opts: { tls?: { key: string; cert: string } } = {}): Promise<KubeStandIn> {
  const slices = new Map<string, Obj>()
  let history: Array<{ rv: number; type: string; obj: Obj }> = []
  let oldest = 0
  const streams = new Set<{ res: http.ServerResponse; ns: string; sel: Array<[string, string]>; end: () => void }>()
  const matches = (o: Obj, ns: string, sel: Array<[string, string]>) => o.metadata.namespace === ns && sel.every(([k, v]) => o.metadata.labels[k] === v)
  const emit = (type: string, obj: Obj) => {
    history.push({ rv: k.rv, type, obj })
    for (const s of streams) if (matches(obj, s.ns, s.sel)) s.res.write(`${JSON.stringify({ type, object: obj })}\n`)
  }
  const base = await standIn(
    (req, res, url) => {
      const auth = req.headers.authorization ?? ''
      if (!auth.startsWith('Bearer ') || !k.tokens.has(auth.slice(7))) return json(res, 401, status(401, 'Unauthorized', 'Unauthorized'))
      const m = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(url.pathname)
      if (req.method !== 'GET' || m === null) return json(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'))
      const ns = decodeURIComponent(m[1]!)
      const sel = (url.searchParams.get('labelSelector') ?? '')
        .split(',')
        .filter((x) => x !== '')
        .map((x) => x.split('=') as [string, string])
      const watch = url.searchParams.get('watch')
      if (watch !== 'true' && watch !== '1') {
        k.lists++
        const items = [...slices.values()].filter((o) => matches(o, ns, sel))
        return json(res, 200, { kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(k.rv) }, items })
      }
      const from = Number(url.searchParams.get('resourceVersion') ?? '0')
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
      res.flushHeaders() // the API server answers the head at once; events follow as they happen
      if (from < oldest) {
        res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${oldest})`) })}\n`)
        return
      }
      for (const e of history) if (e.rv > from && matches(e.obj, ns, sel)) res.write(`${JSON.stringify({ type: e.type, object: e.obj })}\n`)
      const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '1800')
      const s = {
        res,
        ns,
        sel,
        end: () => {
          clearTimeout(timer)
          if (streams.delete(s)) k.watchers--
          res.end()
        },
      }
      const timer = setTimeout(s.end, timeout * 1000)
      streams.add(s)
      k.watchers++
      res.on('close', s.end)
    },
    opts,
  )
  const k: KubeStandIn = Object.assign(base, {
    tokens: new Set<string>(),
    watchers: 0,
    lists: 0,
    rv: 100,
    put(spec: SliceSpec) {
      const key = `${spec.namespace}/${spec.name}`
      const type = slices.has(key) ? 'MODIFIED' : 'ADDED'
      k.rv++
      const obj: Obj = {
        kind: 'EndpointSlice',
        apiVersion: 'discovery.k8s.io/v1',
        metadata: { name: spec.name, namespace: spec.namespace, resourceVersion: String(k.rv), labels: { 'kubernetes.io/service-name': spec.service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
        addressType: spec.addressType ?? 'IPv4',
        ports: spec.ports,
        endpoints: spec.endpoints,
      }
      slices.set(key, obj)
      emit(type, obj)
    },
    remove(namespace: string, name: string) {
      const obj = slices.get(`${namespace}/${name}`)
      if (obj === undefined) return
      slices.delete(`${namespace}/${name}`)
      k.rv++
      emit('DELETED', { ...obj, metadata: { ...obj.metadata, resourceVersion: String(k.rv) } })
    },
    compact() {
      history = []
      oldest = k.rv
    },
    endWatches() {
      for (const s of [...streams]) s.end()
    },
    bookmark() {
      for (const s of streams) s.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(k.rv) } } })}\n`)
    },
  })
  return k
}
