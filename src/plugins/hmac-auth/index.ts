// `hmac-auth`: the client signs method, path, query, chosen headers, a body digest, a timestamp and
// a nonce with its consumer's secret (wire format in sign.ts, docs/plugins/hmac-auth.md). The
// gateway refuses a malformed header, an unknown key id, a timestamp outside ±window, a bad
// signature (constant-time comparison) and, last, a nonce already seen (Store SET NX with expiry,
// so a replay is refused on every worker and instance sharing the Store). Every refusal is the same
// 401; the debug log says which check failed.
import { headerFieldCount } from '../credentials.js'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { parseDuration, parseSize } from '../../config/units.js'
import { degradedCounter } from '../../observability/metrics.js'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply, type Verdict } from '../../core/verdict.js'
import { identify, NO_CONSUMERS } from '../consumers.js'
import { AUTH_UNAVAILABLE, withDeadline } from '../remote.js'
import { HmacAuthSchema } from './schema.js'
import { SCHEME, bodyDigest, parseAuthorization, stringToSign } from './sign.js'
import type { RequestContext } from '../../core/context.js'

const NAME = 'hmac-auth'

const DENIED: LocalReply = Object.freeze({
  status: 401,
  error: 'unauthorized',
  message: 'a valid request signature is required',
  headers: Object.freeze({ 'www-authenticate': `${SCHEME} realm="portico"` }) as Record<string, string>,
})

/** The raw path and query of the request target as sent (absolute-form reduced to its path). */
function rawTarget(url: string): { path: string; query: string } {
  const q = url.indexOf('?')
  let path = q === -1 ? url : url.slice(0, q)
  if (path.charCodeAt(0) !== 47) path = /^https?:\/\/[^/?#]*(\/[^?#]*)?/i.exec(path)?.[1] ?? '/'
  return { path, query: q === -1 ? '' : url.slice(q + 1) }
}

/** The request carries a body (a non-zero Content-Length, or chunked). */
function hasBody(ctx: RequestContext): boolean {
  const h = ctx.req.headers
  if (h['transfer-encoding'] !== undefined) return true
  const cl = h['content-length']
  return cl !== undefined && cl !== '0'
}

function headerLine(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  return (Array.isArray(v) ? v.join(', ') : v).trim()
}

export default definePlugin({
  name: NAME,
  phases: ['access'],
  // Same band as key-auth: after cors and ip-restriction, before rbac (2400) and rate limits.
  priority: 2490,
  schema: HmacAuthSchema,
  status: 'beta',
  body: { max_bytes: 1024 * 1024 },
  identityHeaders: (config) => (config.consumer_header === '' ? [] : [config.consumer_header.toLowerCase()]),
  create(config, env) {
    const windowS = Math.floor(parseDuration(config.window) / 1000)
    const nonceTtlMs = 2 * windowS * 1000 + 1000
    const required = config.required_headers.map((h) => h.toLowerCase())
    const requiredWithBody = (config.required_body_headers ?? ['content-type']).map((h) => h.toLowerCase())
    const consumerHeader = config.consumer_header === '' ? null : config.consumer_header.toLowerCase()
    const timeoutMs = parseDuration(config.timeout)
    const open = config.failure_mode === 'open'
    const { logger, store } = env
    const consumers = env.consumers ?? NO_CONSUMERS
    const degraded = degradedCounter(NAME)

    const deny = (ctx: RequestContext, reason: string): LocalReply => {
      logger.debug({ request_id: ctx.id, reason }, 'hmac-auth refused the request')
      return DENIED
    }

    const instance: PluginInstance = {
      bodyMaxBytes: parseSize(config.max_body_size),
      access(ctx): Verdict | Promise<Verdict> {
        const auth = ctx.req.headers.authorization
        if (auth === undefined) return deny(ctx, 'no Authorization header')
        if (headerFieldCount(ctx.req, 'authorization') > 1) return deny(ctx, 'more than one Authorization field')
        const p = parseAuthorization(auth)
        if (p === undefined) return deny(ctx, 'malformed Authorization header')
        const cred = consumers.hmac(p.keyId)
        if (cred === undefined) return deny(ctx, 'unknown key id')
        const now = Math.floor(Date.now() / 1000)
        if (Math.abs(now - p.timestamp) > windowS) return deny(ctx, 'timestamp outside the window')
        for (const h of required) if (!p.headers.includes(h)) return deny(ctx, `required header ${h} not signed`)
        // With a body, its Content-Type (by default) must be signed as well, so nobody on the path can
        // re-label the signed bytes (a signed JSON body sent on as a form, or a type added later).
        if (hasBody(ctx)) for (const h of requiredWithBody) if (!p.headers.includes(h)) return deny(ctx, `header ${h} not signed for a request with a body`)
        const headers: Array<[string, string]> = []
        for (const name of p.headers) {
          const v = headerLine(ctx.req.headers[name])
          if (v === undefined) return deny(ctx, `signed header ${name} is absent`)
          headers.push([name, v])
        }
        // The handler buffered the body (PluginDefinition.body) before the access phase.
        if (ctx.body === undefined) return deny(ctx, 'body not buffered (hmac-auth used where the body streams)')
        const { path, query } = rawTarget(ctx.req.url ?? '/')
        const sts = stringToSign({ method: ctx.method, path, query, timestamp: p.timestamp, nonce: p.nonce, headers, body: '' }, bodyDigest(ctx.body))
        const expected = createHmac('sha256', cred.secret).update(sts).digest()
        if (p.signature.length !== expected.length || !timingSafeEqual(p.signature, expected)) return deny(ctx, 'bad signature')

        // Only a correctly signed request may spend a nonce, so nobody can burn another client's.
        return withDeadline(store.setIfAbsent(`hmac-nonce:${p.keyId}:${p.nonce}`, '1', nonceTtlMs), timeoutMs, 'nonce store').then(
          (fresh): Verdict => {
            if (!fresh) return deny(ctx, 'nonce already used (replay)')
            return accept(ctx, cred.consumer)
          },
          (err: unknown): Verdict => {
            degraded(ctx.routeName).value++
            logger.warn({ err, request_id: ctx.id, failure_mode: config.failure_mode }, 'hmac-auth: cannot record the nonce')
            return open ? accept(ctx, cred.consumer) : AUTH_UNAVAILABLE
          },
        )
      },
    }

    function accept(ctx: RequestContext, consumer: Parameters<typeof identify>[1]): Verdict {
      if (config.hide_credentials) delete ctx.upstreamHeaders.authorization
      identify(ctx, consumer, consumerHeader)
      return undefined
    }

    return Object.freeze(instance)
  },
})
