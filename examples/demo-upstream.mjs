// The demo upstream behind examples/portico.yaml: a small HTTP service on 127.0.0.1:9000 (or
// $DEMO_PORT) with a few endpoints worth proxying. No dependencies, so it runs right after install.
import http from 'node:http'

export function startDemoUpstream(port = Number(process.env.DEMO_PORT ?? 9000), host = process.env.DEMO_HOST ?? '127.0.0.1') {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo')
    const json = (status, body) => {
      const s = JSON.stringify(body)
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) })
      res.end(s)
    }
    if (url.pathname === '/hello') return json(200, { message: 'hello from the demo upstream', path: req.url })
    if (url.pathname === '/echo') {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => json(200, { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }))
      return
    }
    if (url.pathname === '/events') {
      // Server-sent events, one per 200ms: shows that the gateway streams chunk by chunk.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      let n = 0
      const t = setInterval(() => {
        res.write(`data: tick ${++n}\n\n`)
        if (n === 5) {
          clearInterval(t)
          res.end()
        }
      }, 200)
      req.on('close', () => clearInterval(t))
      return
    }
    if (url.pathname.startsWith('/users/')) return json(200, { id: url.pathname.slice(7), name: `user ${url.pathname.slice(7)}` })
    json(404, { error: 'not_found', path: url.pathname })
  })
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startDemoUpstream()
  const { port } = server.address()
  console.log(`demo upstream on http://127.0.0.1:${port}`)
}
