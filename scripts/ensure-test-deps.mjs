#!/usr/bin/env node
// pretest: make sure the servers the tests start for themselves are installed. On Debian as root
// the missing packages are installed with apt-get; elsewhere we fail naming the package.
import { execFileSync, spawnSync } from 'node:child_process'

// binary → Debian package. Extend as tests start needing more real servers.
const NEEDED = {
  'redis-server': 'redis-server',
  // Redis Cluster (redis-cli --cluster create), Sentinel, and the TLS test's throw-away CA.
  'redis-cli': 'redis-tools',
  'redis-sentinel': 'redis-sentinel',
  openssl: 'openssl',
  promtool: 'prometheus',
  etcd: 'etcd-server',
  '/usr/share/zookeeper/bin/zkServer.sh': 'zookeeper',
  pebble: 'pebble',
  'pebble-challtestsrv': 'pebble',
  // The fleet (test/fleet/): the load balancer and the instances' network namespaces.
  haproxy: 'haproxy',
  ip: 'iproute2',
  // Deployment artifacts (test/deploy/): the Dockerfile's init, kustomize rendering, the unit check.
  tini: 'tini',
  kubectl: 'kubernetes-client',
  'systemd-analyze': 'systemd',
  // Type=notify readiness (test/integration/control/sd-notify.test.ts): the sender and a receiver.
  'systemd-notify': 'systemd',
  socat: 'socat',
  // The web console's end-to-end tests (test/e2e/): Debian's Chromium driven by playwright-core.
  '/usr/bin/chromium': 'chromium',
}

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
const missing = Object.entries(NEEDED).filter(([bin]) => !has(bin))
if (missing.length === 0) process.exit(0)

const pkgs = [...new Set(missing.map(([, pkg]) => pkg))]
const isRoot = process.getuid?.() === 0
const hasApt = has('apt-get')
if (!isRoot || !hasApt) {
  console.error(`pretest: missing ${missing.map(([b]) => b).join(', ')}; install the Debian package(s): ${pkgs.join(' ')}`)
  process.exit(1)
}
console.error(`pretest: installing ${pkgs.join(' ')} with apt-get`)
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
