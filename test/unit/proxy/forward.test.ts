// The upstream request's forwarding headers, built from the client's headers and connection.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { VIA_HTTP2, requestSkipSet, responseHeaderList, upstreamRequestHeaders, viaOf, type ForwardInfo } from '../../../src/proxy/forward.js'

const info = (over: Partial<ForwardInfo>): ForwardInfo => ({ peer: '10.0.0.1', proto: 'http', host: 'api.example', requestId: 'r1', trustedPeer: false, skip: requestSkipSet(null), ...over })

test('Forwarded: each request gets its own peer, scheme and host, in any order of requests', () => {
  // The element is memoised for the common case (the same client and host again); a change in
  // any part must show up at once, and going back must not reuse a stale element.
  const seq: Array<[Partial<ForwardInfo>, string]> = [
    [{}, 'for=10.0.0.1;proto=http;host=api.example'],
    [{}, 'for=10.0.0.1;proto=http;host=api.example'],
    [{ peer: '10.0.0.2' }, 'for=10.0.0.2;proto=http;host=api.example'],
    [{ proto: 'https' }, 'for=10.0.0.1;proto=https;host=api.example'],
    [{ host: 'api.example:8443' }, 'for=10.0.0.1;proto=http;host="api.example:8443"'],
    [{ host: '' }, 'for=10.0.0.1;proto=http'],
    [{ peer: '2001:db8::1' }, 'for="[2001:db8::1]";proto=http;host=api.example'],
    [{ host: 'a"b\\c' }, 'for=10.0.0.1;proto=http;host="a\\"b\\\\c"'],
    [{}, 'for=10.0.0.1;proto=http;host=api.example'],
  ]
  for (const [over, want] of seq) assert.equal(upstreamRequestHeaders({}, info(over)).forwarded, want, JSON.stringify(over))
})

test('a prior Forwarded is kept only from a trusted peer', () => {
  const src = { forwarded: 'for=192.0.2.9', 'x-forwarded-for': '192.0.2.9' }
  assert.equal(upstreamRequestHeaders(src, info({})).forwarded, 'for=10.0.0.1;proto=http;host=api.example')
  assert.equal(upstreamRequestHeaders(src, info({ trustedPeer: true })).forwarded, 'for=192.0.2.9, for=10.0.0.1;proto=http;host=api.example')
  assert.equal(upstreamRequestHeaders(src, info({ trustedPeer: true }))['x-forwarded-for'], '192.0.2.9, 10.0.0.1')
})

test('Via names the protocol the message was received with (RFC 9110 §7.6.3): HTTP/2 is "2"', () => {
  assert.deepEqual(['1.1', '2.0', '1.0'].map(viaOf), ['1.1 portico', '2 portico', '1.0 portico'])
  assert.equal(upstreamRequestHeaders({ via: '1.1 edge' }, info({ via: viaOf('2.0') })).via, '1.1 edge, 2 portico')
  assert.equal(upstreamRequestHeaders({}, info({})).via, '1.1 portico', 'HTTP/1.1 when not told')
  const list = responseHeaderList({ 'content-type': 'text/plain', via: '2 origin-lb' }, 'id1', null, VIA_HTTP2)
  assert.equal(list[list.indexOf('via') + 1], '2 origin-lb, 2 portico')
})

test('a Snapshot\'s identity headers join the skip set: the client\'s copies never go upstream, other headers do', () => {
  const identity = new Set(['x-consumer-name', 'x-user-sub'])
  const skip = requestSkipSet(identity)
  assert.equal(requestSkipSet(identity), skip, 'built once per Snapshot')
  const out = upstreamRequestHeaders({ 'x-consumer-name': 'alice', 'x-user-sub': 'root', 'x-other': '1', via: 'x', connection: 'close' }, info({ skip }))
  assert.equal(out['x-consumer-name'], undefined)
  assert.equal(out['x-user-sub'], undefined)
  assert.equal(out['x-other'], '1')
  assert.equal(out.via, 'x, 1.1 portico', 'Via is appended to, as before')
  // Without identity headers the plain set applies: the same names pass.
  assert.equal(upstreamRequestHeaders({ 'x-consumer-name': 'alice' }, info({}))['x-consumer-name'], 'alice')
})
