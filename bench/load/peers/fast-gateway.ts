// Peer: fast-gateway v3 (restana router + fast-proxy-lite, whose http agent keeps connections
// alive by default), one catch-all route to the origin.
import gateway from 'fast-gateway'

const port = Number(process.env.PORT)
const origin = process.env.ORIGIN
if (!origin || !port) throw new Error('fast-gateway peer: PORT and ORIGIN must be set')

await gateway({ routes: [{ prefix: '', target: origin }] }).start(port, '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
