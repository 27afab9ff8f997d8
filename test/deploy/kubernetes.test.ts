// The Kubernetes manifests (deploy/kubernetes: kustomize base + overlays), rendered by the real
// `kubectl kustomize` (kustomize v5) and validated object by object against the Kubernetes
// OpenAPI schemas (npm kubernetes-models; the ServiceMonitor against the Prometheus Operator CRD
// schema, @kubernetes-models/prometheus-operator). Then what a schema cannot see: selectors that
// match the pods, probes on the admin port, the drain fits the grace period, every referenced
// ConfigMap/Secret exists, and the shipped config inside the ConfigMap is valid.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { loadConfigText } from '../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../src/snapshot/installed-checks.js'
import { parseDuration } from '../../src/config/units.js'

const ROOT = resolve(import.meta.dirname, '../..')
const K8S = join(ROOT, 'deploy/kubernetes')

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> } // eslint-disable-line @typescript-eslint/no-explicit-any

// apiVersion/kind → module of kubernetes-models that holds its schema-validating class.
const MODELS: Record<string, string> = {
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
  'v1/Secret': 'kubernetes-models/v1/Secret',
  'v1/Service': 'kubernetes-models/v1/Service',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
  'autoscaling/v2/HorizontalPodAutoscaler': 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
  'monitoring.coreos.com/v1/ServiceMonitor': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
}

async function validate(o: Obj): Promise<void> {
  const key = `${o.apiVersion}/${o.kind}`
  const mod = MODELS[key]
  assert.ok(mod !== undefined, `no schema known for ${key}: add it to MODELS`)
  const Model = ((await import(mod)) as Record<string, new (o: Obj) => { validate(): void }>)[o.kind]!
  new Model(o).validate() // throws with the schema path of the first violation
}

function render(dir: string): Obj[] {
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })
  return parseAllDocuments(out).map((d) => d.toJS() as Obj)
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v)

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0

test('the shipped config and the base ConfigMap copy are the same file, and it validates', () => {
  const shipped = readFileSync(join(ROOT, 'deploy/portico.yaml'), 'utf8')
  assert.equal(readFileSync(join(K8S, 'base/portico.yaml'), 'utf8'), shipped, 'deploy/kubernetes/base/portico.yaml must be a copy of deploy/portico.yaml')
  process.env.PORTICO_ADMIN_TOKEN ??= 'test-token-for-validation'
  const r = loadConfigText(shipped, 'deploy/portico.yaml', { checks: INSTALLED_CHECKS })
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors))
})

for (const overlay of ['dev', 'production']) {
  test(`kubectl kustomize overlays/${overlay}: every object passes the Kubernetes schemas, and the pieces fit together`, { skip: !hasKubectl && 'kubectl not installed (Debian kubernetes-client)' }, async () => {
    const objs = render(join(K8S, 'overlays', overlay))
    for (const o of objs) await validate(o)
    const one = (kind: string) => {
      const found = objs.filter((o) => o.kind === kind)
      assert.equal(found.length, 1, `one ${kind}`)
      return found[0]!
    }
    const dep = one('Deployment')
    const svc = one('Service')
    const pdb = one('PodDisruptionBudget')
    const hpa = one('HorizontalPodAutoscaler')
    const sm = one('ServiceMonitor')
    const cm = one('ConfigMap')
    const podLabels = dep.spec.template.metadata.labels as Record<string, string>

    assert.ok(matches(dep.spec.selector.matchLabels, podLabels), 'Deployment selector matches its pods')
    assert.ok(matches(svc.spec.selector, podLabels), 'Service selects the pods')
    assert.ok(pdb.spec.selector !== undefined && matches(pdb.spec.selector.matchLabels, podLabels), 'PodDisruptionBudget selects the pods')
    assert.ok(matches(sm.spec.selector.matchLabels, svc.metadata.labels), 'ServiceMonitor selects the Service')
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name })
    assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0)

    const pod = dep.spec.template.spec
    const c = pod.containers[0]
    const portNames = new Set((c.ports as Array<{ name: string }>).map((p) => p.name))
    assert.ok(svc.spec.ports.every((p: { targetPort: string }) => portNames.has(p.targetPort)), 'Service target ports exist on the container')
    assert.ok(svc.spec.ports.some((p: { name: string }) => p.name === sm.spec.endpoints[0].port), 'ServiceMonitor port is a Service port')
    assert.equal(c.readinessProbe.httpGet.path, '/readyz')
    assert.equal(c.livenessProbe.httpGet.path, '/healthz')
    assert.equal(c.startupProbe.httpGet.path, '/healthz')
    for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) assert.equal(p.httpGet.port, 'admin')
    assert.ok(c.lifecycle.preStop.exec.command.length > 0, 'preStop pause before SIGTERM')
    assert.equal(pod.securityContext.runAsNonRoot, true)
    assert.ok(pod.securityContext.runAsUser > 0)

    // The drain (preStop pause + server.drain_timeout) must fit in the grace period, or it is cut.
    const config = cm.data!['portico.yaml']!
    assert.equal(config, readFileSync(join(ROOT, 'deploy/portico.yaml'), 'utf8'))
    const drainS = parseDuration(/drain_timeout: (\S+)/.exec(config)![1]!) / 1000
    const preStopS = Number(c.lifecycle.preStop.exec.command.at(-1))
    assert.ok(pod.terminationGracePeriodSeconds > drainS + preStopS, `grace ${pod.terminationGracePeriodSeconds}s > drain ${drainS}s + preStop ${preStopS}s`)

    // Every ConfigMap and Secret the pods or the ServiceMonitor name exists in the render, except
    // the production admin Secret, which is created by hand (documented in the overlay).
    const names = (kind: string) => new Set(objs.filter((o) => o.kind === kind).map((o) => o.metadata.name))
    const secrets = names('Secret')
    const refs = [
      ...c.env.filter((e: { valueFrom?: unknown }) => e.valueFrom !== undefined).map((e: { valueFrom: { secretKeyRef: { name: string } } }) => e.valueFrom.secretKeyRef.name),
      sm.spec.endpoints[0].bearerTokenSecret.name,
    ] as string[]
    for (const ref of refs) {
      if (overlay === 'production') assert.equal(ref, 'portico-admin')
      else assert.ok(secrets.has(ref), `Secret ${ref} is rendered`)
    }
    for (const v of pod.volumes.filter((v: { configMap?: unknown }) => v.configMap !== undefined)) assert.ok(names('ConfigMap').has(v.configMap.name), `ConfigMap ${v.configMap.name} is rendered`)
  })
}

test('a schema violation is caught (the validator is not a no-op)', async () => {
  await assert.rejects(async () => validate({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'three', selector: {}, template: {} } }), /replicas/)
})
