// Path tricks against normalizePath(): each case is one known way to make a gateway and an upstream
// disagree about the resource asked for. `undefined` = the request is refused with 400 invalid_path.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalizePath } from '../../src/router/normalize.js'
import { RouteTable } from '../../src/router/table.js'

const cases: Array<[trick: string, raw: string, expected: string | undefined]> = [
  // Encoded dot-dot: decoded before dot-segment removal, so it cannot climb past a public prefix.
  ['encoded dot-dot %2e%2e', '/public/%2e%2e/admin', '/admin'],
  // Encoded dot-dot followed by an encoded slash: the %2f alone is enough to refuse.
  ['encoded dot-dot-slash %2E%2e%2f', '/public/%2E%2e%2fadmin', undefined],
  // Raw dot-dot with an encoded slash (Tomcat/Spring style traversal).
  ['..%2f traversal', '/public/..%2fadmin', undefined],
  // Encoded slash: would let one segment hide a separator from the router.
  ['encoded slash %2f', '/api%2fadmin', undefined],
  // Encoded slash in upper case is the same thing.
  ['encoded slash %2F', '/api%2Fadmin', undefined],
  // Encoded backslash: Windows/IIS upstreams treat it as a separator.
  ['encoded backslash %5c', '/public%5c..%5cadmin', undefined],
  // Raw backslash: same, and WHATWG parsers turn it into '/'.
  ['raw backslash', '/public\\..\\admin', undefined],
  // NUL byte: truncates the path in C-based upstreams.
  ['encoded NUL %00', '/admin%00.png', undefined],
  // Encoded CR/LF: header and log injection in upstreams that decode the path.
  ['encoded CRLF %0d%0a', '/a%0d%0aSet-Cookie:x', undefined],
  // Raw control character (the HTTP parser should stop it, but never rely on one layer).
  ['raw control char', '/a\tb', undefined],
  // Duplicate slashes: `//admin` must be routed like `/admin`, not miss an /admin rule.
  ['double slash //admin', '//admin', '/admin'],
  // Dot segment in the middle.
  ['dot segment /./admin', '/./admin', '/admin'],
  // Plain traversal out of a public prefix.
  ['dot-dot /public/../admin', '/public/../admin', '/admin'],
  // Encoded traversal out of a public prefix.
  ['encoded dot-dot /public/%2e%2e/admin', '/public/%2e%2e/admin', '/admin'],
  // Mixed-case escapes of '.' are decoded the same way.
  ['mixed case %2E', '/public/%2E%2e/admin', '/admin'],
  // Traversal above the root is clamped at the root.
  ['dot-dot above root', '/../../admin', '/admin'],
  // Overlong UTF-8 for '.', a classic IIS trick: not an unreserved escape, so it is never decoded;
  // it stays encoded (hex upper-cased) and can never become a dot segment.
  ['overlong UTF-8 %c0%ae', '/public/%c0%ae%c0%ae/admin', '/public/%C0%AE%C0%AE/admin'],
  // Invalid escapes: a lone '%', a short escape and a non-hex escape.
  ['lone %', '/a%', undefined],
  ['short escape %4', '/a%4', undefined],
  ['non-hex escape %G1', '/a%G1', undefined],
  // ';' path parameters are kept literally (and matched literally by routes).
  ['; path parameter kept', '/admin;jsessionid=1/x', '/admin;jsessionid=1/x'],
  // ...but a dot segment carrying parameters is refused: servlet containers read `..;` as `..`.
  ['..; servlet traversal', '/public/..;/admin', undefined],
  // Raw '#' would cut the path in find-my-way; a fragment is never sent by a real client.
  ['raw fragment #', '/public#/../admin', undefined],
  // Non-ASCII bytes (node gives them as latin1 chars): clients must percent-encode them.
  ['raw non-ASCII byte', '/caf\u00e9', undefined],
  // Paths are case-sensitive (RFC 3986 §6.2.2.1): no folding, `/Admin` stays `/Admin`.
  ['path case kept', '/Admin/Users', '/Admin/Users'],
  // Escaped reserved characters are kept encoded, hex upper-cased, so case cannot dodge a pattern.
  ['reserved escape case', '/a%3ab', '/a%3Ab'],
  // Escaped unreserved characters are decoded, so `/%61dmin` is `/admin`.
  ['encoded letters %61dmin', '/%61dmin', '/admin'],
]

for (const [trick, raw, expected] of cases) {
  test(`path trick: ${trick}`, () => {
    assert.equal(normalizePath(raw), expected, JSON.stringify(raw))
  })
}

test('path trick: normalization is idempotent for every accepted trick', () => {
  for (const [, raw] of cases) {
    const once = normalizePath(raw)
    if (once !== undefined) assert.equal(normalizePath(once), once, raw)
  }
})

test('path trick: normalized tricks cannot reach a host-restricted /admin through a public route', () => {
  const table = new RouteTable([
    { name: 'admin', paths: ['/admin', '/admin/*'], hosts: ['internal.example.com'], data: 'admin' },
    { name: 'public', paths: ['/public/*'], data: 'public' },
  ])
  for (const raw of ['/public/%2e%2e/admin', '//admin', '/public/%2E%2e/admin', '/./admin']) {
    const path = normalizePath(raw)
    assert.equal(path, '/admin')
    assert.equal(table.match('api.example.com', 'GET', path, {}).kind, 'not_found', raw)
  }
})

test('path trick: a kept escape reaches params as sent, never decoded a second time', () => {
  const table = new RouteTable([{ name: 'files', paths: ['/files/:name'], data: 1 }])
  const path = normalizePath('/files/a%252Fb') as string
  assert.equal(path, '/files/a%252Fb')
  const r = table.match('h', 'GET', path, {})
  assert.equal(r.kind, 'found')
  assert.deepEqual(r.kind === 'found' && { ...r.params }, { name: 'a%252Fb' })
})
