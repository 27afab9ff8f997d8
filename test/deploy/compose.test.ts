// docker-compose.yml, checked without a Docker engine: it parses (with its YAML merge keys), has
// the brief's services (three gateways, HAProxy, etcd, Redis, Prometheus, Grafana, an OTel
// collector and Jaeger), every reference resolves (depends_on, secrets, named volumes, the build
// context and Dockerfile, every bind-mounted file), and the files it mounts are valid for the
// programs that read them: `haproxy -c` (Debian haproxy), `promtool check config` (Debian
// prometheus), `portico validate` semantics for the gateway config, the dashboard JSON.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { loadConfigText } from '../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../src/snapshot/installed-checks.js'
import { parseDuration } from '../../src/config/units.js'

const ROOT = resolve(import.meta.dirname, '../..')
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Service = Record<string, any>
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>
  secrets?: Record<string, unknown>
  volumes?: Record<string, unknown>
}
const services = compose.services
const gateways = Object.keys(services).filter((n) => /^gateway-\d+$/.test(n))

/** "./host:/container:ro" → { host, target }, or null for a named volume. */
function bind(v: string): { host: string; target: string } | null {
  const [host, target] = v.split(':') as [string, string]
  return host.startsWith('.') || host.startsWith('/') ? { host: resolve(ROOT, host), target } : null
}
const mounts = (s: Service) => ((s.volumes ?? []) as string[]).map(bind).filter((b): b is { host: string; target: string } => b !== null)

test('the brief\'s stack: three gateways behind HAProxy, etcd, Redis, Prometheus, Grafana, OTel collector, Jaeger', () => {
  assert.deepEqual(gateways, ['gateway-1', 'gateway-2', 'gateway-3'])
  for (const s of ['lb', 'etcd', 'redis', 'prometheus', 'grafana', 'otel-collector', 'jaeger']) assert.ok(services[s] !== undefined, `service ${s}`)
  assert.match(services.lb!.image, /^haproxy:/)
})

test('every reference resolves: depends_on, secrets, named volumes, build context, bind-mounted files', () => {
  for (const [name, s] of Object.entries(services)) {
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {})
    for (const d of deps) assert.ok(services[d] !== undefined, `${name} depends on unknown service ${d}`)
    for (const sec of s.secrets ?? []) assert.ok(compose.secrets?.[sec] !== undefined, `${name}: secret ${sec} is not defined`)
    for (const v of (s.volumes ?? []) as string[]) {
      const b = bind(v)
      if (b === null) assert.ok(compose.volumes?.[v.split(':')[0]!] !== undefined, `${name}: named volume ${v} is not defined`)
      else assert.ok(existsSync(b.host), `${name}: mounted ${b.host} does not exist`)
    }
    if (s.build !== undefined) assert.ok(existsSync(join(ROOT, s.build.context, s.build.dockerfile ?? 'Dockerfile')), `${name}: Dockerfile`)
  }
})

test('gateways: the shipped config validates with the compose environment; the stop grace period covers the drain', () => {
  for (const g of gateways) {
    const s = services[g]!
    const file = mounts(s).find((m) => m.target === '/etc/portico/portico.yaml')
    assert.ok(file !== undefined, `${g} mounts its config where the image looks (PORTICO_CONFIG)`)
    const text = readFileSync(file.host, 'utf8')
    const saved = { ...process.env }
    try {
      Object.assign(process.env, { ...s.environment, PORTICO_ADMIN_TOKEN: 'compose-test-token' })
      const r = loadConfigText(text, file.host, { checks: INSTALLED_CHECKS })
      assert.ok(r.ok, JSON.stringify(!r.ok && r.errors))
      assert.equal(new URL(r.config.tracing!.otlp!.endpoint).hostname, 'otel-collector')
      assert.ok(parseDuration(s.stop_grace_period) > parseDuration(r.config.server!.drain_timeout!), 'stop_grace_period > server.drain_timeout')
    } finally {
      process.env = saved
    }
  }
})

test('HAProxy: its config passes `haproxy -c`, checks /readyz, and balances over exactly the three gateways', { skip: spawnSync('haproxy', ['-v']).status !== 0 && 'haproxy not installed' }, () => {
  const cfgFile = mounts(services.lb!).find((m) => m.target.endsWith('haproxy.cfg'))!.host
  const cfg = readFileSync(cfgFile, 'utf8')
  const r = spawnSync('haproxy', ['-c', '-f', cfgFile], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.deepEqual([...cfg.matchAll(/^\s*server (\S+) (\S+):8080/gm)].map((m) => m[2]), gateways)
  assert.match(cfg, /option httpchk GET \/readyz/)
  assert.match(cfg, /retry-on .*conn-failure/)
})

test('Prometheus: `promtool check config` passes, with the shipped alert rules mounted beside it', { skip: spawnSync('promtool', ['--version']).status !== 0 && 'promtool not installed' }, () => {
  const p = services.prometheus!
  const cfgMount = mounts(p).find((m) => m.target === '/etc/prometheus/prometheus.yml')!
  const rules = mounts(p).find((m) => m.target === '/etc/prometheus/alerts.yaml')
  assert.ok(rules !== undefined && rules.host === join(ROOT, 'deploy/prometheus/alerts.yaml'), 'the shipped alert rules are mounted')
  const cfg = readFileSync(cfgMount.host, 'utf8')
  assert.deepEqual(parse(cfg).rule_files, ['alerts.yaml'])
  // promtool checks that the token file exists: point it at a temporary one.
  const dir = mkdtempSync(join(tmpdir(), 'portico-prom-'))
  try {
    writeFileSync(join(dir, 'token'), 'x')
    copyFileSync(rules.host, join(dir, 'alerts.yaml'))
    const secretPath = '/run/secrets/portico_admin_token'
    assert.ok(cfg.includes(secretPath) && p.secrets.includes('portico_admin_token'), 'the scrape token comes from the compose secret')
    writeFileSync(join(dir, 'prometheus.yml'), cfg.replace(secretPath, join(dir, 'token')))
    const r = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stdout + r.stderr)
    const targets = parse(cfg).scrape_configs[0].static_configs[0].targets as string[]
    assert.deepEqual(targets, gateways.map((g) => `${g}:9180`))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('Grafana: the dashboard provider reads the directory the shipped dashboard is mounted in; the datasource is this Prometheus', () => {
  const g = services.grafana!
  const dash = mounts(g).find((m) => m.host === join(ROOT, 'deploy/grafana/portico.json'))
  assert.ok(dash !== undefined, 'the shipped dashboard is mounted')
  assert.equal(JSON.parse(readFileSync(dash.host, 'utf8')).uid, 'portico-overview')
  const prov = mounts(g).find((m) => m.target === '/etc/grafana/provisioning')!
  const provider = parse(readFileSync(join(prov.host, 'dashboards/portico.yaml'), 'utf8'))
  assert.equal(`${provider.providers[0].options.path}/portico.json`, dash.target)
  const ds = parse(readFileSync(join(prov.host, 'datasources/prometheus.yaml'), 'utf8'))
  assert.equal(new URL(ds.datasources[0].url).hostname, 'prometheus')
})

test('OTel collector: receives OTLP/HTTP on the port the gateways send to, exports to the jaeger service', () => {
  const c = services['otel-collector']!
  const cfg = parse(readFileSync(mounts(c)[0]!.host, 'utf8'))
  assert.match(cfg.receivers.otlp.protocols.http.endpoint, /:4318$/)
  const exporter = Object.values(cfg.exporters as Record<string, { endpoint: string }>)[0]!
  assert.ok(services[exporter.endpoint.split(':')[0]!] !== undefined, `exporter target ${exporter.endpoint} is a service`)
  assert.deepEqual(cfg.service.pipelines.traces.exporters, Object.keys(cfg.exporters))
})
