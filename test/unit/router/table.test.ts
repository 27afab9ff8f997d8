import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingHttpHeaders } from 'node:http'
import { RouteTable, checkPathPattern, type MatchResult, type RouteSpec } from '../../../src/router/table.js'

type Spec = Omit<RouteSpec<string>, 'data'>
/** A conformance row: request → expected route name (+ params), 404, or 405 with its Allow. */
interface Case {
  what: string
  host?: string
  method?: string
  path: string
  headers?: IncomingHttpHeaders
  expect: string | 404 | { allow: string }
  params?: Record<string, string | undefined>
}

function table(specs: Spec[]): RouteTable<string> {
  return new RouteTable(specs.map((s) => ({ ...s, data: `data:${s.name}` })))
}

function run(t: RouteTable<string>, cases: Case[]): void {
  for (const c of cases) {
    test(c.what, () => {
      const r: MatchResult<string> = t.match(c.host ?? 'api.example.com', c.method ?? 'GET', c.path, c.headers ?? {})
      if (c.expect === 404) {
        assert.deepEqual(r, { kind: 'not_found' })
      } else if (typeof c.expect === 'object') {
        assert.deepEqual(r, { kind: 'method_not_allowed', allow: c.expect.allow })
      } else {
        assert.equal(r.kind, 'found', `expected ${c.expect}, got ${JSON.stringify(r)}`)
        if (r.kind !== 'found') return
        assert.equal(r.name, c.expect)
        assert.equal(r.data, `data:${c.expect}`)
        if (c.params !== undefined) assert.deepEqual({ ...r.params }, c.params)
      }
    })
  }
}

describe('path classes and precedence', () => {
  const t = table([
    { name: 'catch-all', paths: ['/*'] },
    { name: 'regex-items', paths: ['~^/items/(?<id>\\d+)$'] },
    { name: 'files-deep', paths: ['/files/public/*'] },
    { name: 'files', paths: ['/files/*'] },
    { name: 'user', paths: ['/users/:id'] },
    { name: 'user-posts', paths: ['/users/:id/posts/:post'] },
    { name: 'me', paths: ['/users/me'] },
    { name: 'kind-id', paths: ['/:kind/:id'] },
    { name: 'colon', paths: ['/v1/models:predict'] },
    { name: 'slash', paths: ['/slash/'] },
    { name: 'no-slash', paths: ['/slash'] },
    { name: 'items-exact', paths: ['/items/0'] },
    { name: 'renamed', paths: ['/users/:userId/posts/:postId/x'] },
    { name: 'regex-late', paths: ['~^/late/.*$'] },
  ])
  run(t, [
    { what: 'exact beats param', path: '/users/me', expect: 'me' },
    { what: 'param captures its segment', path: '/users/42', expect: 'user', params: { id: '42' } },
    { what: 'param with more literal segments beats a bare param', path: '/users/7', expect: 'user' },
    { what: 'param beats wildcard', path: '/orders/9', expect: 'kind-id', params: { kind: 'orders', id: '9' } },
    { what: 'two params captured', path: '/users/1/posts/2', expect: 'user-posts', params: { id: '1', post: '2' } },
    { what: 'same shape, other param names: own names', path: '/users/1/posts/2/x', expect: 'renamed', params: { userId: '1', postId: '2' } },
    { what: 'longer wildcard prefix first', path: '/files/public/a/b', expect: 'files-deep', params: { '*': 'a/b' } },
    { what: 'shorter wildcard', path: '/files/private/a', expect: 'files', params: { '*': 'private/a' } },
    { what: 'wildcard matches its bare prefix with trailing slash', path: '/files/', expect: 'files', params: { '*': '' } },
    { what: 'wildcard does not match the prefix without slash', path: '/files', expect: 'catch-all' },
    { what: 'empty param does not match', path: '/users/', expect: 'catch-all' },
    { what: 'exact beats regex', path: '/items/0', expect: 'items-exact' },
    { what: 'param beats regex', path: '/items/12', expect: 'kind-id' },
    { what: 'wildcard beats regex', path: '/late/x/y', expect: 'catch-all' },
    { what: 'literal colon inside a segment', path: '/v1/models:predict', expect: 'colon' },
    { what: 'trailing slash is a different path (with)', path: '/slash/', expect: 'slash' },
    { what: 'trailing slash is a different path (without)', path: '/slash', expect: 'no-slash' },
    { what: 'paths are case-sensitive', path: '/USERS/me', expect: 'kind-id' },
    { what: 'escape kept in param, not decoded', path: '/users/a%20b', expect: 'user', params: { id: 'a%20b' } },
    { what: 'escape in wildcard, not decoded', path: '/files/a/%C0%AE', expect: 'files', params: { '*': 'a/%C0%AE' } },
    // Class first: a param pattern outranks a wildcard even when the wildcard has a longer literal
    // prefix (find-my-way alone would pick /files/*; the table's precedence is exact > param > wildcard).
    { what: 'param outranks a wildcard with a literal prefix', path: '/files/x', expect: 'kind-id', params: { kind: 'files', id: 'x' } },
  ])
})

describe('regex routes', () => {
  const t = table([
    { name: 'second', paths: ['~^/r/\\w+$'] },
    { name: 'first', paths: ['~^/r/(?<x>a)$'] },
    { name: 'exact-low', paths: ['/p/x'] },
    { name: 'regex-high', paths: ['~^/p/'], priority: 5 },
  ])
  run(t, [
    { what: 'regex routes go by declaration order', path: '/r/a', expect: 'second', params: {} },
    { what: 'priority lifts a regex above an exact route', path: '/p/x', expect: 'regex-high' },
    { what: 'no match is 404', path: '/nope', expect: 404 },
  ])
  run(table([{ name: 'g', paths: ['~^/g/(?<id>\\d+)$'] }]), [
    { what: 'regex params from named groups', path: '/g/12', expect: 'g', params: { id: '12' } },
  ])
})

describe('priority', () => {
  const t = table([
    { name: 'exact', paths: ['/a/b'] },
    { name: 'wild-high', paths: ['/a/*'], priority: 10 },
    { name: 'neg', paths: ['/n/x'], priority: -1 },
    { name: 'neg-wild', paths: ['/n/*'] },
  ])
  run(t, [
    { what: 'higher priority wildcard beats exact', path: '/a/b', expect: 'wild-high' },
    { what: 'negative priority loses to default', path: '/n/x', expect: 'neg-wild' },
  ])
})

describe('hosts', () => {
  const t = table([
    { name: 'any', paths: ['/h'] },
    { name: 'wild', paths: ['/h'], hosts: ['*.example.com'] },
    { name: 'wild-longer', paths: ['/h'], hosts: ['*.eu.example.com'] },
    { name: 'exact', paths: ['/h'], hosts: ['API.example.com'] },
    { name: 'users-a', paths: ['/api/users'], hosts: ['a.com'] },
    { name: 'api-any', paths: ['/api/*'] },
    { name: 'host-beats-class', paths: ['/hc/*'], hosts: ['b.com'] },
    { name: 'class-loses', paths: ['/hc/x'] },
  ])
  run(t, [
    { what: 'exact host beats wildcard (host pattern lower-cased)', host: 'api.example.com', path: '/h', expect: 'exact' },
    { what: 'longer wildcard suffix first', host: 'x.eu.example.com', path: '/h', expect: 'wild-longer' },
    { what: 'wildcard matches one subdomain', host: 'www.example.com', path: '/h', expect: 'wild' },
    { what: 'wildcard matches deeper subdomains', host: 'a.b.example.com', path: '/h', expect: 'wild' },
    { what: 'wildcard does not match the apex', host: 'example.com', path: '/h', expect: 'any' },
    { what: 'wildcard does not match a look-alike', host: 'evil-example.com', path: '/h', expect: 'any' },
    { what: 'host route matches its host', host: 'a.com', path: '/api/users', expect: 'users-a' },
    { what: 'fallback to less specific path when host fails', host: 'b.com', path: '/api/users', expect: 'api-any', params: { '*': 'users' } },
    { what: 'host specificity outranks path class', host: 'b.com', path: '/hc/x', expect: 'host-beats-class' },
    { what: 'host specificity, other host', host: 'c.com', path: '/hc/x', expect: 'class-loses' },
  ])
  run(table([{ name: 'only', paths: ['/x'], hosts: ['a.com'] }]), [
    { what: 'no route for the host is 404', host: 'b.com', path: '/x', expect: 404 },
  ])
})

describe('headers', () => {
  const t = table([
    { name: 'v2', paths: ['/hd'], headers: { 'X-Version': '2' } },
    { name: 'mobile', paths: ['/hd'], headers: { 'user-agent': '~Mobile' } },
    { name: 'both', paths: ['/hd2'], headers: { 'x-a': '1', 'x-b': '~^(y|z)$' } },
    { name: 'plain', paths: ['/hd', '/hd2'] },
    { name: 'joined', paths: ['/j'], headers: { 'x-list': 'a, b' } },
    { name: 'wild-fallback', paths: ['/hw/*'] },
    { name: 'exact-needs-header', paths: ['/hw/x'], headers: { 'x-beta': '1' } },
  ])
  run(t, [
    { what: 'exact header value', path: '/hd', headers: { 'x-version': '2' }, expect: 'v2' },
    { what: 'regex header value', path: '/hd', headers: { 'user-agent': 'Foo Mobile/1' }, expect: 'mobile' },
    { what: 'failing header falls back', path: '/hd', headers: { 'x-version': '3' }, expect: 'plain' },
    { what: 'missing header falls back', path: '/hd', expect: 'plain' },
    { what: 'all header matchers must match', path: '/hd2', headers: { 'x-a': '1', 'x-b': 'z' }, expect: 'both' },
    { what: 'one failing matcher is enough to fail', path: '/hd2', headers: { 'x-a': '1', 'x-b': 'zz' }, expect: 'plain' },
    { what: 'repeated header values are joined', path: '/j', headers: { 'x-list': ['a', 'b'] }, expect: 'joined' },
    { what: 'exact route with header wins when present', path: '/hw/x', headers: { 'x-beta': '1' }, expect: 'exact-needs-header' },
    { what: 'wildcard wins when the exact route header fails', path: '/hw/x', expect: 'wild-fallback' },
  ])
})

describe('methods, 404 and 405', () => {
  const t = table([
    { name: 'read', paths: ['/m'], methods: ['GET'] },
    { name: 'write', paths: ['/m'], methods: ['POST', 'PUT'] },
    { name: 'del-other-host', paths: ['/m'], methods: ['DELETE'], hosts: ['other.com'] },
    { name: 'param-patch', paths: ['/m2/:id'], methods: ['PATCH'] },
    { name: 'wild-get', paths: ['/m2/*'], methods: ['GET'] },
    { name: 'any', paths: ['/any'] },
  ])
  run(t, [
    { what: 'method picks among same-path routes', method: 'POST', path: '/m', expect: 'write' },
    { what: 'GET', path: '/m', expect: 'read' },
    { what: 'HEAD is allowed wherever GET is', method: 'HEAD', path: '/m', expect: 'read' },
    { what: '405 lists the union of methods, HEAD with GET', method: 'DELETE', path: '/m', expect: { allow: 'GET, HEAD, POST, PUT' } },
    { what: '405 ignores routes whose host does not match', method: 'OPTIONS', path: '/m', expect: { allow: 'GET, HEAD, POST, PUT' } },
    { what: 'method falls through to a less specific pattern', method: 'GET', path: '/m2/1', expect: 'wild-get', params: { '*': '1' } },
    { what: '405 across patterns', method: 'POST', path: '/m2/1', expect: { allow: 'GET, HEAD, PATCH' } },
    { what: 'route without methods allows any', method: 'BREW', path: '/any', expect: 'any' },
    { what: 'unknown path is 404', path: '/none', expect: 404 },
  ])
})

describe('rivals reached through an exact path', () => {
  // find-my-way returns the exact pattern; the param route must still be found when the exact
  // route's host fails, and must win when it has a higher priority.
  const t = table([
    { name: 'exact-a', paths: ['/r/me'], hosts: ['a.com'] },
    { name: 'param', paths: ['/r/:id'] },
    { name: 'exact2', paths: ['/q/me'] },
    { name: 'param-high', paths: ['/q/:id'], priority: 1 },
  ])
  run(t, [
    { what: 'exact route for its host', host: 'a.com', path: '/r/me', expect: 'exact-a' },
    { what: 'param route when the exact route host fails', host: 'b.com', path: '/r/me', expect: 'param', params: { id: 'me' } },
    { what: 'higher-priority param over exact', path: '/q/me', expect: 'param-high', params: { id: 'me' } },
  ])
})

describe('construction errors', () => {
  test('a bad regex throws an Error naming the route and the pattern', () => {
    assert.throws(() => table([{ name: 'broken', paths: ['~^/(unclosed$'] }]), (err: Error) => {
      assert.match(err.message, /route "broken"/)
      assert.match(err.message, /\(unclosed/)
      assert.match(err.message, /invalid regular expression/)
      return true
    })
  })
  const bad: Array<[string, Spec, RegExp]> = [
    ['bad path pattern', { name: 'p', paths: ['/a/*/b'] }, /route "p": path pattern "\/a\/\*\/b" "\*" is only allowed/],
    ['bad header regex', { name: 'h', paths: ['/'], headers: { 'x-a': '~(' } }, /route "h": header "x-a"/],
    ['bad wildcard host', { name: 'w', paths: ['/'], hosts: ['a.*.com'] }, /route "w": host "a\.\*\.com"/],
    ['host with port', { name: 'hp', paths: ['/'], hosts: ['a.com:8080'] }, /route "hp": host "a\.com:8080" must not carry a port/],
    ['lower-case method', { name: 'm', paths: ['/'], methods: ['get'] }, /route "m": method "get"/],
    ['no paths', { name: 'np', paths: [] }, /route "np": has no paths/],
  ]
  for (const [what, spec, message] of bad) {
    test(`throws on ${what}`, () => assert.throws(() => table([spec]), message))
  }
  test('size counts routes', () => {
    assert.equal(table([{ name: 'a', paths: ['/a', '/b'] }, { name: 'b', paths: ['/c'] }]).size, 2)
  })
})

describe('checkPathPattern', () => {
  const valid = ['/', '/exact', '/users/:id', '/files/*', '/*', '/a/:b/c/*', '/v1/x:y', '/a%20b', '/a;b', '~^/x$', '/trailing/']
  for (const p of valid) test(`accepts ${p}`, () => assert.equal(checkPathPattern(p), null))

  const invalid: Array<[string, RegExp]> = [
    ['', /empty/],
    ['~', /regular expression after "~" is empty/],
    ['~^/(x', /invalid regular expression/],
    ['users', /must start with "\/"/],
    ['/a?b=1', /must not contain "\?"/],
    ['/a//b', /never matches.*write it as "\/a\/b"/],
    ['/a/./b', /never matches.*"\/a\/b"/],
    ['/%7Euser', /never matches.*"\/~user"/],
    ['/a%3ab', /never matches.*"\/a%3Ab"/],
    ['/a%2Fb', /not a valid path/],
    ['/a b', /not a valid path/],
    ['/a/*/b', /"\*" is only allowed as the whole last segment/],
    ['/a/b*', /"\*" is only allowed/],
    ['/a/:id(\\d+)', /not a valid path|must be a whole segment/],
    ['/a/:id(x)', /parameter ":id\(x\)" must be a whole segment/],
    ['/a/:', /parameter ":" must be a whole segment/],
    ['/a/:id/:id', /parameter ":id" appears twice/],
  ]
  for (const [p, message] of invalid) {
    test(`refuses ${JSON.stringify(p)}`, () => {
      const msg = checkPathPattern(p)
      assert.ok(msg !== null, `expected an error for ${p}`)
      assert.match(msg, message)
    })
  }
})

describe('snis: routes by TLS server name', () => {
  const t = table([
    { name: 'exact', snis: ['api.example.com'], paths: ['/x'] },
    { name: 'wild', snis: ['*.tenants.example.com'], paths: ['/x'], methods: ['GET'] },
    { name: 'any', paths: ['/x'], priority: -1 },
  ])
  const find = (sni: string, method = 'GET'): MatchResult<string> => t.match('api.example.com', method, '/x', {}, sni)
  test('exact and wildcard SNI, case-insensitive; a wildcard covers any name under it, as hosts does', () => {
    assert.equal((find('API.example.com') as { name: string }).name, 'exact')
    assert.equal((find('a.tenants.example.com') as { name: string }).name, 'wild')
    assert.equal((find('a.b.tenants.example.com') as { name: string }).name, 'wild')
  })
  test('no SNI (cleartext) or another name falls through to the route without snis', () => {
    assert.equal((find('') as { name: string }).name, 'any')
    assert.equal((find('tenants.example.com') as { name: string }).name, 'any')
  })
  test('a route with snis only is never found without SNI', () => {
    const only = table([{ name: 'tls-only', snis: ['api.example.com'], paths: ['/x'] }])
    assert.deepEqual(only.match('api.example.com', 'GET', '/x', {}), { kind: 'not_found' })
    assert.equal((only.match('api.example.com', 'GET', '/x', {}, 'api.example.com') as { name: string }).name, 'tls-only')
  })
})
