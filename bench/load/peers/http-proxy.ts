// Peer: http-proxy (node-http-proxy), the classic Node reverse proxy, with a keep-alive agent to
// the origin (its default agent would open a connection per request).
// With JWT_ALG set (the jwt scenarios' "+fast-jwt" subject): every request's bearer token is
// verified first with fast-jwt (JWT_KEY, JWT_ISS, JWT_AUD; its cache off, as each token were new),
// a bare 401 when it fails. Loaded only then, so the plain floor carries none of it.
import { Agent, ServerResponse, createServer } from 'node:http'
import httpProxy from 'http-proxy'
import { authorized, unauthorized } from '../peer-jwt.js'

const port = Number(process.env.PORT)
const origin = process.env.ORIGIN
if (!origin || !port) throw new Error('http-proxy peer: PORT and ORIGIN must be set')

const proxy = httpProxy.createProxyServer({ target: origin, agent: new Agent({ keepAlive: true, keepAliveMsecs: 60_000 }) })
proxy.on('error', (_err, _req, res) => {
  if (res instanceof ServerResponse && !res.headersSent) {
    res.writeHead(502, { 'content-length': '0' })
    res.end()
  } else {
    res.destroy()
  }
})
createServer((req, res) => (authorized(req.headers.authorization) ? proxy.web(req, res) : unauthorized(res))).listen(port, '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
