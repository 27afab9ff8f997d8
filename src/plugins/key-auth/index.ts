// `key-auth`: identifies a consumer by an API key sent in a header or a query parameter. Keys are
// compared as SHA-256 digests (src/plugins/consumers.ts): the plaintext never sits in memory after
// compile, and the comparison's timing depends only on the digest. Every failure answers the same
// 401; the log (debug) says which check failed.
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply } from '../../core/verdict.js'
import { identify, NO_CONSUMERS } from '../consumers.js'
import { queryValues, withoutParam } from '../query.js'
import { headerFieldCount } from '../credentials.js'
import { KeyAuthSchema } from './schema.js'

const DENIED: LocalReply = Object.freeze({
  status: 401,
  error: 'unauthorized',
  message: 'a valid API key is required',
  headers: Object.freeze({ 'www-authenticate': 'ApiKey realm="portico"' }) as Record<string, string>,
})

export default definePlugin({
  name: 'key-auth',
  phases: ['access'],
  priority: 2500,
  schema: KeyAuthSchema,
  status: 'beta',
  identityHeaders: (config) => (config.consumer_header === '' ? [] : [config.consumer_header.toLowerCase()]),
  create(config, env) {
    const headerNames = config.header_names.map((h) => h.toLowerCase())
    const queryNames = config.query_names
    const consumerHeader = config.consumer_header === '' ? null : config.consumer_header.toLowerCase()
    const logger = env.logger
    const consumers = env.consumers ?? NO_CONSUMERS
    if (consumers.keyCount === 0) logger.warn({ route: env.route }, 'key-auth is configured but no consumer has a key_auth credential: every request will get 401')

    const deny = (requestId: string, reason: string): LocalReply => {
      logger.debug({ request_id: requestId, reason }, 'key-auth refused the request')
      return DENIED
    }

    const instance: PluginInstance = {
      access(ctx) {
        let key: string | undefined
        let found = 0
        const headers = ctx.req.headers
        for (const name of headerNames) {
          const v = headers[name]
          if (v === undefined) continue
          // Node keeps only the first of repeated Authorization fields: count the raw fields.
          found += Array.isArray(v) ? v.length : headerFieldCount(ctx.req, name)
          key = Array.isArray(v) ? v[0] : v
        }
        if (queryNames.length > 0 && ctx.query !== '') {
          for (const name of queryNames) {
            const vs = queryValues(ctx.query, name)
            found += vs.length
            if (vs.length > 0) key = vs[0]
          }
        }
        if (found === 0 || key === undefined) return deny(ctx.id, 'no key')
        // A key in two places (header and query, or repeated) is ambiguous: which one would a
        // downstream component believe? Refuse rather than pick.
        if (found > 1) return deny(ctx.id, 'key in more than one place')
        const consumer = consumers.byKey(key)
        if (consumer === undefined) return deny(ctx.id, 'unknown key')
        if (config.hide_credentials) {
          for (const name of headerNames) delete ctx.upstreamHeaders[name]
          for (const name of queryNames) ctx.query = withoutParam(ctx.query, name)
        }
        identify(ctx, consumer, consumerHeader)
        return undefined
      },
    }
    return Object.freeze(instance)
  },
})
