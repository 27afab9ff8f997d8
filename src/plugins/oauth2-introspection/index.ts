// `oauth2-introspection`: validates opaque bearer tokens by asking the authorization server
// (RFC 7662) through undici, with a bounded LRU of answers keyed by the token's SHA-256 (active
// answers until min(positive_ttl, exp), inactive ones for negative_ttl) and one call in flight per
// token. The answer's fields become ctx.claims, so rbac and jwt-revocation work as with a JWT.
import { headerFieldCount } from '../credentials.js'
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { Pool } from 'undici'
import { parseDuration } from '../../config/units.js'
import { degradedCounter } from '../../observability/metrics.js'
import type { RequestContext } from '../../core/context.js'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply, type Verdict } from '../../core/verdict.js'
import { CONSUMER_HEADER, identify, NO_CONSUMERS } from '../consumers.js'
import { AUTH_UNAVAILABLE } from '../remote.js'
import { IntrospectionSchema, type IntrospectionConfig } from './schema.js'

const NAME = 'oauth2-introspection'
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i
const MAX_ANSWER = 64 * 1024

const reply = (error: 'invalid_request' | 'invalid_token' | null, message: string): LocalReply =>
  Object.freeze({
    status: 401,
    error: 'unauthorized',
    message,
    headers: Object.freeze({ 'www-authenticate': error === null ? 'Bearer realm="portico"' : `Bearer realm="portico", error="${error}"` }) as Record<string, string>,
  })
const MISSING = reply(null, 'a bearer token is required')
const INVALID = reply('invalid_token', 'the token is not valid')
const CONFLICT = reply('invalid_request', 'more than one token in the request')

type Answer = { active: true; claims: Record<string, unknown> } | { active: false }

export class IntrospectionError extends Error {}

/** The endpoint client: one undici Pool, form-encoded POST, bounded JSON answer. */
export class Introspector {
  readonly #pool: Pool
  readonly #path: string
  readonly #headers: Record<string, string>
  readonly #extra: string
  readonly #timeoutMs: number

  constructor(config: IntrospectionConfig) {
    const url = new URL(config.endpoint)
    this.#pool = new Pool(url.origin, { connections: 16, keepAliveTimeout: 10_000 })
    this.#path = url.pathname + url.search
    this.#timeoutMs = parseDuration(config.timeout)
    this.#headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }
    const form = new URLSearchParams()
    if (config.token_type_hint !== '') form.set('token_type_hint', config.token_type_hint)
    if (config.auth_method === 'client_secret_basic') {
      // RFC 6749 §2.3.1: each part form-urlencoded before base64.
      const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
      this.#headers.authorization = 'Basic ' + Buffer.from(`${enc(config.client_id)}:${enc(config.client_secret)}`).toString('base64')
    } else {
      form.set('client_id', config.client_id)
      form.set('client_secret', config.client_secret)
    }
    this.#extra = form.toString()
  }

  async introspect(token: string): Promise<Answer> {
    const body = `token=${encodeURIComponent(token)}${this.#extra === '' ? '' : '&' + this.#extra}`
    const res = await this.#pool.request({
      path: this.#path,
      method: 'POST',
      headers: this.#headers,
      body,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      signal: AbortSignal.timeout(this.#timeoutMs),
    })
    if (res.statusCode !== 200) {
      await res.body.dump()
      throw new IntrospectionError(`introspection endpoint answered ${res.statusCode}`)
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const c of res.body as AsyncIterable<Buffer>) {
      size += c.length
      if (size > MAX_ANSWER) {
        res.body.destroy()
        throw new IntrospectionError('introspection answer too large')
      }
      chunks.push(c)
    }
    let json: unknown
    try {
      json = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      throw new IntrospectionError('introspection answer is not JSON')
    }
    if (typeof json !== 'object' || json === null || typeof (json as { active?: unknown }).active !== 'boolean') {
      throw new IntrospectionError('introspection answer has no boolean "active"')
    }
    const claims = json as Record<string, unknown>
    return claims.active === true ? { active: true, claims } : { active: false }
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}

export default definePlugin({
  name: NAME,
  phases: ['access'],
  // With jwt (2510): an auth plugin, after cors and ip-restriction; before jwt-revocation (2505) and rbac.
  priority: 2520,
  schema: IntrospectionSchema,
  status: 'beta',
  identityHeaders: (config) => [CONSUMER_HEADER, ...Object.values(config.claims_to_headers).map((h) => h.toLowerCase())],
  create(config, env) {
    const logger = env.logger
    const consumers = env.consumers ?? NO_CONSUMERS
    const client = new Introspector(config)
    const positiveMs = parseDuration(config.positive_ttl)
    const negativeMs = parseDuration(config.negative_ttl)
    const open = config.failure_mode === 'open'
    const degraded = degradedCounter(NAME)
    const cache = new LRUCache<string, Answer>({ max: config.max_entries })
    const inflight = new Map<string, Promise<Answer>>()
    const forwards = Object.entries(config.claims_to_headers).map(([claim, header]) => ({ claim, header: header.toLowerCase() }))

    function lookup(key: string, token: string): Promise<Answer> {
      let p = inflight.get(key)
      if (p === undefined) {
        p = client.introspect(token).then(
          (a) => {
            inflight.delete(key)
            let ttl = a.active ? positiveMs : negativeMs
            if (a.active && typeof a.claims.exp === 'number') ttl = Math.min(ttl, a.claims.exp * 1000 - Date.now())
            if (ttl > 0) cache.set(key, a, { ttl })
            return a
          },
          (err: unknown) => {
            inflight.delete(key)
            throw err
          },
        )
        inflight.set(key, p)
      }
      return p
    }

    function apply(ctx: RequestContext, a: Answer): Verdict {
      if (!a.active) {
        logger.debug({ request_id: ctx.id }, 'oauth2-introspection: token inactive')
        return INVALID
      }
      const c = a.claims
      const now = Date.now() / 1000
      // RFC 7662 §2.2: exp/nbf are informative; a cached answer must not outlive them.
      if ((typeof c.exp === 'number' && c.exp <= now) || (typeof c.nbf === 'number' && c.nbf > now + 30)) return INVALID
      ctx.claims = c
      for (const f of forwards) {
        const v = c[f.claim]
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') ctx.upstreamHeaders[f.header] = String(v)
      }
      if (config.consumer_claim !== '') {
        const name = c[config.consumer_claim]
        if (typeof name === 'string' && name !== '') {
          const consumer = consumers.get(name)
          if (consumer !== undefined) identify(ctx, consumer)
          else ctx.consumer = name
        }
      }
      if (config.hide_credentials) delete ctx.upstreamHeaders.authorization
      return undefined
    }

    const instance: PluginInstance = {
      access(ctx) {
        for (const f of forwards) delete ctx.upstreamHeaders[f.header]
        const h = ctx.req.headers.authorization
        if (h === undefined || h === '') return MISSING
        // Node keeps only the first of two Authorization fields; a second one could be what the upstream reads.
        if (headerFieldCount(ctx.req, 'authorization') > 1) return CONFLICT
        const m = BEARER.exec(h)
        if (m === null) return MISSING
        const token = m[1]!
        if (token.length > config.max_token_size) return INVALID
        const key = createHash('sha256').update(token).digest('base64url')
        const hit = cache.get(key)
        if (hit !== undefined) return apply(ctx, hit)
        return lookup(key, token).then(
          (a) => apply(ctx, a),
          (err: unknown): Verdict => {
            degraded(ctx.routeName).value++
            logger.warn({ err, request_id: ctx.id, failure_mode: config.failure_mode }, 'oauth2-introspection: endpoint failed')
            return open ? undefined : AUTH_UNAVAILABLE
          },
        )
      },
      close: () => client.close(),
    }
    return Object.freeze(instance)
  },
})
