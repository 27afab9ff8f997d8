// gRPC-Web's pure pieces (proxy/grpc-web.ts): content-type kinds, the types sent each way, the
// trailer frame, and base64 both ways across arbitrary chunk boundaries.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Base64Decoder, Base64Encoder, GrpcWeb, decodeGrpcWebText, grpcWebMode, responseType, trailerFrame, upstreamType, webHead } from '../../../src/proxy/grpc-web.js'
import { grpcReplyType } from '../../../src/proxy/grpc-status.js'

test('content-types: grpc-web and grpc-web-text with their subtypes; others are not gRPC-Web', () => {
  assert.equal(grpcWebMode('application/grpc-web'), GrpcWeb.Binary)
  assert.equal(grpcWebMode('application/grpc-web+proto'), GrpcWeb.Binary)
  assert.equal(grpcWebMode('application/grpc-web;charset=utf-8'), GrpcWeb.Binary)
  assert.equal(grpcWebMode('application/grpc-web-text'), GrpcWeb.Text)
  assert.equal(grpcWebMode('application/grpc-web-text+proto'), GrpcWeb.Text)
  for (const ct of ['application/grpc', 'application/grpc+proto', 'application/grpc-webby', 'application/grpc-web-textual', 'application/grpc-wex']) assert.equal(grpcWebMode(ct), GrpcWeb.None, ct)
  assert.equal(upstreamType('application/grpc-web', GrpcWeb.Binary), 'application/grpc')
  assert.equal(upstreamType('application/grpc-web-text+proto', GrpcWeb.Text), 'application/grpc+proto')
  assert.equal(responseType('application/grpc-web', GrpcWeb.Binary), 'application/grpc-web+proto')
  assert.equal(responseType('application/grpc-web-text+json;x=y', GrpcWeb.Text), 'application/grpc-web-text+json')
})

test('gateway replies: gRPC over HTTP/2 only, gRPC-Web over any version, else JSON', () => {
  assert.equal(grpcReplyType('application/grpc', 2), 'application/grpc')
  assert.equal(grpcReplyType('application/grpc', 1), null)
  assert.equal(grpcReplyType('application/grpc-web-text', 1), 'application/grpc-web-text+proto')
  assert.equal(grpcReplyType('application/json', 2), null)
  assert.equal(grpcReplyType(undefined, 2), null)
})

test('webHead: content-type replaced, content-length dropped, in a list and in an object', () => {
  const list = ['content-type', 'application/grpc', 'content-length', '12', 'x-a', '1']
  webHead(list, 'application/grpc-web+proto')
  assert.deepEqual(list, ['content-type', 'application/grpc-web+proto', 'x-a', '1'])
  const obj: Record<string, string> = { 'content-length': '3' }
  webHead(obj, 'application/grpc-web-text+proto')
  assert.deepEqual(obj, { 'content-type': 'application/grpc-web-text+proto' })
})

test('trailer frame: 0x80, length, name: value CRLF lines; pseudo and hop-by-hop fields left out', () => {
  const f = trailerFrame({ 'grpc-status': '0', 'grpc-message': 'ok', 'x-list': ['a', 'b'], ':status': '200', connection: 'close', gone: undefined })
  assert.equal(f[0], 0x80)
  const text = f.subarray(5).toString('latin1')
  assert.equal(f.readUInt32BE(1), text.length)
  assert.equal(text, 'grpc-status: 0\r\ngrpc-message: ok\r\nx-list: a\r\nx-list: b\r\n')
})

test('base64 out: any chunking gives the base64 of the whole stream', () => {
  const data = Buffer.from(Array.from({ length: 100 }, (_, i) => (i * 37) & 0xff))
  for (const size of [1, 2, 3, 4, 7, 50]) {
    const enc = new Base64Encoder()
    let out = ''
    for (let i = 0; i < data.length; i += size) out += enc.push(data.subarray(i, i + size))
    out += enc.end(Buffer.from([1, 2]))
    assert.equal(out, Buffer.concat([data, Buffer.from([1, 2])]).toString('base64'), `chunks of ${size}`)
  }
})

test('base64 in: chunk boundaries anywhere, padded segments mid-body, whitespace; junk fails', async () => {
  const segments = [Buffer.from('a'), Buffer.from('bc'), Buffer.from('defg')]
  const text = segments.map((s) => s.toString('base64')).join('') // "YQ==YmM=ZGVmZw=="
  for (const size of [1, 3, 5, 100]) {
    const d = new Base64Decoder()
    const out: Buffer[] = []
    d.on('data', (c: Buffer) => out.push(c))
    const done = new Promise((resolve, reject) => (d.on('end', resolve), d.on('error', reject)))
    for (let i = 0; i < text.length; i += size) d.write(Buffer.from(text.slice(i, i + size) + (i === 0 ? '\r\n' : '')))
    d.end()
    await done
    assert.equal(Buffer.concat(out).toString(), 'abcdefg', `chunks of ${size}`)
  }
  assert.deepEqual(decodeGrpcWebText(Buffer.from(text)), Buffer.from('abcdefg'))
  assert.equal(decodeGrpcWebText(Buffer.from('abc')), null)
  assert.equal(decodeGrpcWebText(Buffer.from('ab!d')), null)
  const bad = new Base64Decoder()
  const failed = new Promise<Error>((resolve) => bad.on('error', resolve))
  bad.resume()
  bad.end(Buffer.from('ab!d'))
  assert.match((await failed).message, /not base64/)
})
