// A gRPC call's span carries its gRPC status (rpc.grpc.status_code) and fails on a server-side
// status although the wire said HTTP 200: a real OTLP/HTTP receiver on loopback, a real grpc-js
// server and client through an in-process gateway.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as grpc from '@grpc/grpc-js'
import { startInProc, type InProcGateway } from '../../helpers/inproc.js'
import { pollUntil } from '../../helpers/poll.js'
import { Echo, echoClient, startGrpcServer, unaryCall, type GrpcServer, type Msg } from '../../helpers/grpc.js'

interface OtlpSpan {
  kind: number
  attributes: Array<{ key: string; value: Record<string, unknown> }>
  status?: { code?: number }
}
const spans: OtlpSpan[] = []
let collector: http.Server
let up: GrpcServer
let gw: InProcGateway
let client: grpc.Client

before(async () => {
  collector = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r))
  up = await startGrpcServer([
    [
      Echo.service,
      {
        Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
          if (call.request.fail_code) return cb({ code: call.request.fail_code, details: 'no' })
          cb(null, { text: 'ok' })
        },
      },
    ],
  ])
  gw = await startInProc(`
server:
  listeners:
    - listen: 127.0.0.1:0
      protocols: [h2c]
tracing:
  sample_ratio: 1
  otlp: { endpoint: http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces, timeout: 2s }
upstreams: { echo: { protocol: h2c, targets: [{ url: http://127.0.0.1:${up.port} }] } }
routes: [{ name: traced-grpc, paths: [/portico.test.Echo/*], upstream: echo }]
`)
  client = echoClient(gw.dp.addresses()[0]!.port, 'any.test')
})

after(async () => {
  client?.close()
  await gw?.close()
  up?.close()
  await new Promise((r) => collector?.close(r))
})

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value
  return v === undefined ? undefined : (v.stringValue ?? v.intValue)
}

test('server spans: rpc.grpc.status_code; UNAVAILABLE is an error, NOT_FOUND and OK are not; HTTP status stays 200', async () => {
  const stub = client as unknown as Parameters<typeof unaryCall>[0]
  for (const code of [grpc.status.OK, grpc.status.UNAVAILABLE, grpc.status.NOT_FOUND]) await unaryCall(stub, { text: 'x', fail_code: code })
  const server = (): OtlpSpan[] => spans.filter((s) => s.kind === 2 && attr(s, 'rpc.grpc.status_code') !== undefined)
  await pollUntil(() => server().length >= 3, { what: 'three server spans exported' })
  const byCode = new Map(server().map((s) => [Number(attr(s, 'rpc.grpc.status_code')), s]))
  assert.equal(byCode.get(grpc.status.UNAVAILABLE)!.status?.code, 2, 'ERROR')
  assert.notEqual(byCode.get(grpc.status.NOT_FOUND)!.status?.code, 2)
  assert.notEqual(byCode.get(grpc.status.OK)!.status?.code, 2)
  for (const s of byCode.values()) {
    assert.equal(Number(attr(s, 'http.response.status_code')), 200)
    assert.equal(attr(s, 'rpc.system'), 'grpc')
  }
})
