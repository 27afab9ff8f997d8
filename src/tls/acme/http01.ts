// HTTP-01 (RFC 8555 §8.3): every cleartext listener answers /.well-known/acme-challenge/<token>
// before routing, from the ACME storage the primary writes, so the CA may reach any worker (and,
// in fleet mode, where the tokens are in the shared Store, any instance). Unknown tokens are a
// plain 404, never routed; a Store that does not answer is a 503 (the CA retries or fails the order).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ChallengeReader } from './storage.js'

const PREFIX = '/.well-known/acme-challenge/'

export function http01Front(storage: ChallengeReader): (req: IncomingMessage, res: ServerResponse, host: string, path: string) => boolean {
  return (req, res, _host, path) => {
    if (!path.startsWith(PREFIX) || (req.method !== 'GET' && req.method !== 'HEAD')) return false
    const token = path.slice(PREFIX.length)
    storage.challenge(token).then(
      (keyAuth) => {
        if (keyAuth === null) {
          res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '0' })
          res.end()
          return
        }
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(keyAuth) })
        res.end(req.method === 'HEAD' ? undefined : keyAuth)
      },
      () => {
        res.writeHead(503, { 'content-type': 'text/plain', 'content-length': '0' })
        res.end()
      },
    )
    return true
  }
}
