// A minimal OTLP/HTTP sink for the observability scenario: accepts and discards exported spans,
// counting them so the report can show that tracing really exported.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export const otlpSink = { url: '', spans: 0 }

export async function startOtlpSink(): Promise<() => Promise<void>> {
  const server = http.createServer((req, res) => {
    let bytes = 0
    req.on('data', (c: Buffer) => (bytes += c.length))
    req.on('end', () => {
      if (bytes > 0) otlpSink.spans++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  otlpSink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`
  return () => new Promise<void>((r) => server.close(() => r()))
}
