// upstreams.<name>.protocol: h2 is HTTP/2 over TLS and takes https:// targets, h2c is cleartext
// and takes http:// ones; a mismatch is reported at its YAML path with line:column, not silently
// downgraded or upgraded at runtime.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigText } from '../../../src/config/load.js'
import { INSTALLED_CHECKS } from '../../../src/snapshot/installed-checks.js'
import { formatErrors } from '../../../src/config/errors.js'

const load = (up: string) =>
  loadConfigText(`upstreams:\n  u:\n${up}\nroutes: [ { name: r, paths: [/x], upstream: u } ]\n`, 'p.yaml', { checks: INSTALLED_CHECKS })

const errors = (up: string): string => {
  const r = load(up)
  return r.ok ? '' : formatErrors(r.errors)
}

test('h2 with https targets, h2c with http targets, http1 and no protocol are accepted', () => {
  assert.equal(load('    protocol: h2\n    targets: [ { url: https://10.0.0.5:8443 } ]').ok, true)
  assert.equal(load('    protocol: h2c\n    targets: [ { url: http://10.0.0.5:8080 } ]').ok, true)
  assert.equal(load('    protocol: http1\n    targets: [ { url: http://10.0.0.5:8080 } ]').ok, true)
  assert.equal(load('    protocol: h2c\n    discovery: { dns: { name: svc.local, port: 80 } }').ok, true)
})

test('h2 with an http:// target is an error at the target\'s url, naming h2c', () => {
  const text = errors('    protocol: h2\n    targets:\n      - { url: https://10.0.0.5:8443 }\n      - { url: http://10.0.0.6:8080 }')
  assert.match(text, /p\.yaml:\d+:\d+/)
  assert.match(text, /upstreams\.u\.targets\[1\]\.url/)
  assert.match(text, /protocol h2 is HTTP\/2 over TLS.*h2c/)
})

test('h2c with an https:// target, or discovery with scheme https, is an error', () => {
  assert.match(errors('    protocol: h2c\n    targets: [ { url: https://10.0.0.5:8443 } ]'), /upstreams\.u\.targets\[0\]\.url.*cleartext/s)
  assert.match(errors('    protocol: h2c\n    discovery: { dns: { name: svc.local, port: 443, scheme: https } }'), /upstreams\.u\.discovery\.dns\.scheme/)
  // A discovery source's scheme defaults to http, which h2 cannot use.
  assert.match(errors('    protocol: h2\n    discovery: { dns: { name: svc.local, port: 443 } }'), /set scheme: https/)
})

test('an unknown protocol is refused by the schema', () => {
  assert.match(errors('    protocol: http2\n    targets: [ { url: http://10.0.0.5:8080 } ]'), /upstreams\.u\.protocol/)
})

test('retries.on_grpc_statuses takes gRPC status names; an unknown name is an error at its path', () => {
  assert.equal(load('    protocol: h2c\n    targets: [ { url: http://10.0.0.5:8080 } ]\n    retries: { on_grpc_statuses: [UNAVAILABLE, RESOURCE_EXHAUSTED] }').ok, true)
  assert.equal(load('    protocol: h2c\n    targets: [ { url: http://10.0.0.5:8080 } ]\n    retries: { on_grpc_statuses: [] }').ok, true)
  const text = errors('    protocol: h2c\n    targets: [ { url: http://10.0.0.5:8080 } ]\n    retries: { on_grpc_statuses: [UNAVAILABEL] }')
  assert.match(text, /upstreams\.u\.retries\.on_grpc_statuses\[0\]/)
  assert.equal(load('    protocol: h2c\n    targets: [ { url: http://10.0.0.5:8080 } ]\n    retries: { on_grpc_statuses: [OK] }').ok, false, 'OK is not a failure to retry')
})

test('an active health check of type grpc needs protocol h2 or h2c', () => {
  assert.equal(load('    protocol: h2c\n    targets: [ { url: http://10.0.0.5:8080 } ]\n    health_checks: { active: { type: grpc, service: users.v1.Users } }').ok, true)
  const text = errors('    targets: [ { url: http://10.0.0.5:8080 } ]\n    health_checks: { active: { type: grpc } }')
  assert.match(text, /upstreams\.u\.health_checks\.active\.type/)
  assert.match(text, /needs HTTP\/2.*h2c/)
})
