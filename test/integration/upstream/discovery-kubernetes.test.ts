// Kubernetes discovery through a real gateway, against a STAND-IN Kubernetes API server
// (test/helpers/kubernetes.ts) over real TLS: no API server can be run here, so the stand-in
// implements the documented subset the source uses — EndpointSlice list by label selector, watch
// from a resourceVersion (ADDED/MODIFIED/DELETED/BOOKMARK, 410 Expired after compaction,
// timeoutSeconds), bearer-token authentication — following
// https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes and
// https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/ .
// Under a bounded load with zero failed requests: endpoints join and leave within the watch
// latency, not-ready endpoints are never picked, an outage keeps the last set, recovery resumes
// the watch (re-listing when the resourceVersion expired meanwhile).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startInProc } from '../../helpers/inproc.js'
import { startKube, type Endpoint, type KubeStandIn } from '../../helpers/kubernetes.js'
import { pollUntil } from '../../helpers/poll.js'
import { killableOrigin, metric, type Killable } from './helpers.js'
import { clusterOf, seen, startLoad } from './discovery-load.js'
import { KubernetesDiscovery, loadAccess, resolveKubernetesPolicy } from '../../../src/upstream/discovery/kubernetes.js'

let kube: KubeStandIn
let dir: string
const o: Record<string, Killable> = {}
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portico-kube-'))
  // A self-signed certificate for 127.0.0.1, used as the cluster CA.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.crt'), '-days', '1', '-subj', '/CN=kube-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  kube = await startKube({ tls: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'ca.crt'), 'utf8') } })
  kube.tokens.add('token-1')
  writeFileSync(join(dir, 'token'), 'token-1\n')
  for (const n of ['a', 'b', 'c', 'sick', 'other']) o[n] = await killableOrigin(n)
})
after(async () => {
  await kube.close()
  for (const k of Object.values(o)) await k.close()
  rmSync(dir, { recursive: true, force: true })
})

const ready = (r: boolean | null = true, extra: Partial<Endpoint> = {}): Endpoint => ({ addresses: ['127.0.0.1'], conditions: r === null ? {} : { ready: r }, zone: 'z1', nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'pod-x' }, ...extra })
/** One slice per origin (each origin listens on its own port; a slice has one port set). */
const slice = (n: string, eps: Endpoint[], ns = 'shop', service = 'users') => ({ namespace: ns, name: `${service}-${n}`, service, ports: [{ name: 'metrics', port: 1 }, { name: 'http', port: o[n]!.port }], endpoints: eps })

test('kubernetes: ready endpoints join and leave under load, not-ready never picked, outage keeps the set, recovery re-lists after 410 — zero failed requests', async () => {
  kube.put(slice('a', [ready(true)]))
  kube.put(slice('sick', [ready(false, { conditions: { ready: false, serving: true, terminating: true } })]))
  kube.put(slice('other', [ready(true)], 'shop', 'orders')) // another Service
  kube.put(slice('other', [ready(true)], 'default')) // same Service name, other namespace
  const gw = await startInProc(`upstreams:
  users:
    discovery:
      kubernetes: { service: users, namespace: shop, port: http, api_server: "${kube.url}", token_file: ${join(dir, 'token')}, ca_file: ${join(dir, 'ca.crt')}, timeout: 1s }
routes:
  - { name: r, paths: [/x], upstream: users }
`)
  const load = startLoad(`${gw.url}/x`)
  try {
    assert.deepEqual(await seen(gw, 5), ['a'])
    const st = clusterOf(gw).status()
    assert.equal(st.discovery, 'kubernetes')
    assert.deepEqual(st.targets.map((t) => [t.url, t.meta?.zone, t.meta?.pod]), [[o.a!.url, 'z1', 'pod-x']])

    const t0 = performance.now()
    kube.put(slice('b', [ready(null)])) // conditions.ready unset counts as ready (API docs)
    await pollUntil(() => (load.by.get('b') ?? 0) > 0, { what: 'b joins', timeoutMs: 3000 })
    const joinMs = performance.now() - t0
    kube.put(slice('a', [ready(false)])) // a goes not-ready (e.g. terminating)
    await pollUntil(async () => (await seen(gw, 10)).join() === 'b', { what: 'a leaves when not ready', timeoutMs: 3000 })
    kube.remove('shop', 'users-sick')

    // Outage; meanwhile c appears, the history is compacted and the token rotates.
    await kube.down()
    await pollUntil(async () => (await metric('portico_discovery_up', { upstream: 'users', source: 'kubernetes' })) === 0, { what: 'watch down' })
    assert.deepEqual(await seen(gw, 20), ['b'], 'last known set while the API server is down')
    kube.put(slice('c', [ready(true)]))
    kube.compact()
    kube.tokens.clear()
    kube.tokens.add('token-2')
    writeFileSync(join(dir, 'token'), 'token-2\n')
    await kube.up()
    await pollUntil(() => (load.by.get('c') ?? 0) > 0, { what: 'resumed: c answers', timeoutMs: 10_000 })
    assert.deepEqual(await seen(gw, 10), ['b', 'c'])
    assert.ok(((clusterOf(gw).discovery as unknown as { inner: KubernetesDiscovery }).inner).lists >= 2, 'listed again after the 410')
    await load.stop()
    assert.deepEqual(load.failed, [], 'no request failed')
    assert.ok(load.ok > 50, `requests under load: ${load.ok}`)
    assert.equal(o.sick!.hits, 0, 'a not-ready endpoint is never picked')
    assert.equal(o.other!.hits, 0, 'another Service / namespace is never picked')
    console.log(`kubernetes join seen ${joinMs.toFixed(0)} ms after the change; ${load.ok} requests under load, 0 failed`)
  } finally {
    await load.stop()
    await gw.close()
    kube.remove('shop', 'users-a')
    kube.remove('shop', 'users-b')
    kube.remove('shop', 'users-c')
  }
})

test('kubernetes: kubeconfig (CA data, token, context namespace); a watch the server ends is re-opened without a re-list; bookmarks; a rejected token keeps the set', async () => {
  const ca = readFileSync(join(dir, 'ca.crt')).toString('base64')
  const kc = join(dir, 'kubeconfig')
  writeFileSync(
    kc,
    `apiVersion: v1
kind: Config
current-context: ops
clusters:
  - name: test
    cluster: { server: "${kube.url}", certificate-authority-data: ${ca} }
users:
  - name: bot
    user: { token: token-2 }
contexts:
  - name: ops
    context: { cluster: test, user: bot, namespace: ops }
`,
  )
  kube.put(slice('a', [ready(true)], 'ops', 'api'))
  const lists: string[][] = []
  const src = new KubernetesDiscovery(resolveKubernetesPolicy({ service: 'api', kubeconfig: kc, port: o.a!.port, timeout: '1s' }), {
    name: 'kc',
    logger: undefined,
    setTargets: (l) => void lists.push(l.map((t) => t.url)),
  })
  try {
    src.start()
    await src.firstAttempt
    assert.deepEqual(lists, [[o.a!.url]], 'port by number; namespace from the context')
    await pollUntil(() => src.healthy(), { what: 'watching' })
    const listed = src.lists
    kube.bookmark()
    kube.endWatches() // as timeoutSeconds would
    await pollUntil(() => src.watches >= 2, { what: 'watch re-opened', timeoutMs: 3000 })
    kube.put(slice('b', [ready(true)], 'ops', 'api'))
    // port is a number here: b's slice has no port of that number, so only a's endpoints count.
    kube.put(slice('a', [ready(true), { addresses: ['127.0.0.2'], conditions: { ready: true } }], 'ops', 'api'))
    await pollUntil(() => lists.at(-1)?.length === 2, { what: 'second endpoint of a', timeoutMs: 3000 })
    assert.deepEqual(lists.at(-1), [o.a!.url, o.a!.url.replace('127.0.0.1', '127.0.0.2')])
    assert.equal(src.lists, listed, 'no re-list for a watch the server ended')
    // The token is revoked: 401s are auth failures, the set stays.
    kube.tokens.delete('token-2')
    kube.endWatches()
    await pollUntil(async () => ((await metric('portico_discovery_errors_total', { upstream: 'kc', reason: 'auth' })) ?? 0) > 0, { what: 'auth failure' })
    assert.equal(lists.at(-1)?.length, 2)
    assert.equal(src.healthy(), false)
    kube.tokens.add('token-2')
    await pollUntil(() => src.healthy(), { what: 'back after the token is accepted again', timeoutMs: 15_000 })
  } finally {
    await src.close()
  }
})

test('kubernetes: in-cluster config from the environment and the service-account files; TLS verification is on (a wrong CA fails)', async () => {
  const sa = join(dir, 'sa')
  execFileSync('mkdir', ['-p', sa])
  writeFileSync(join(sa, 'token'), 'token-1')
  writeFileSync(join(sa, 'namespace'), 'team-a\n')
  writeFileSync(join(sa, 'ca.crt'), readFileSync(join(dir, 'ca.crt')))
  const p = resolveKubernetesPolicy({ service: 'users', token_file: join(sa, 'token'), ca_file: join(sa, 'ca.crt') })
  const access = await loadAccess(p, { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(kube.port) })
  assert.equal(access.server, `https://127.0.0.1:${kube.port}`)
  assert.equal(access.namespace, 'team-a')
  assert.equal(await access.auth(), 'Bearer token-1')
  await assert.rejects(loadAccess(p, {}), /not in a cluster/)

  // A CA that did not sign the server's certificate: the source must not connect.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(sa, 'k2.pem'), '-out', join(sa, 'other-ca.crt'), '-days', '1', '-subj', '/CN=other'], { stdio: 'ignore' })
  kube.put(slice('a', [ready(true)], 'team-a'))
  const lists: string[][] = []
  const src = new KubernetesDiscovery(
    resolveKubernetesPolicy({ service: 'users', port: 'http', token_file: join(sa, 'token'), ca_file: join(sa, 'other-ca.crt'), timeout: '1s' }),
    { name: 'badca', logger: undefined, setTargets: (l) => void lists.push(l.map((t) => t.url)) },
    { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(kube.port) },
  )
  try {
    src.start()
    await src.firstAttempt
    assert.deepEqual(lists, [])
    assert.equal(src.healthy(), false)
    assert.ok(((await metric('portico_discovery_errors_total', { upstream: 'badca' })) ?? 0) >= 1)
  } finally {
    await src.close()
  }
})
