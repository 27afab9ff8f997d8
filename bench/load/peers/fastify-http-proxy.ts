// Peer: @fastify/http-proxy on fastify (it proxies through @fastify/reply-from, which uses an
// undici pool with keep-alive), prefix "/" to the origin, fastify's logger off.
import Fastify from 'fastify'
import proxy from '@fastify/http-proxy'

const port = Number(process.env.PORT)
const origin = process.env.ORIGIN
if (!origin || !port) throw new Error('@fastify/http-proxy peer: PORT and ORIGIN must be set')

const app = Fastify({ logger: false })
await app.register(proxy, { upstream: origin, prefix: '/' })
await app.listen({ port, host: '127.0.0.1' })
process.on('SIGTERM', () => process.exit(0))
