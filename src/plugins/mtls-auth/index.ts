// `mtls-auth`: the consumer is whoever the client certificate says, once the listener verified it
// against its client CA (server.listeners[].tls.client_auth). No certificate, or one that did not
// verify (client_auth mode optional lets those through the handshake): 401. A verified one that
// maps to no consumer: 403 (unless allow_unlisted). Which check failed is logged at debug only.
import { definePlugin, type PluginInstance } from '../contract.js'
import type { LocalReply } from '../../core/verdict.js'
import { identify, NO_CONSUMERS, type Consumer } from '../consumers.js'
import type { ClientIdentity } from '../../core/client-identity.js'
import { MtlsAuthSchema } from './schema.js'

const NO_CERT: LocalReply = Object.freeze({ status: 401, error: 'unauthorized', message: 'a verified client certificate is required' })
const UNKNOWN: LocalReply = Object.freeze({ status: 403, error: 'forbidden', message: 'this client certificate is not allowed' })

function values(id: ClientIdentity, on: string): string[] {
  switch (on) {
    case 'subject':
      return [id.subject]
    case 'san_dns':
      return id.sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4))
    case 'san_uri':
      return id.sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4))
    case 'san_email':
      return id.sans.filter((s) => s.startsWith('email:')).map((s) => s.slice(6))
    default:
      return [id.cn]
  }
}

export default definePlugin({
  name: 'mtls-auth',
  phases: ['access'],
  priority: 2530,
  schema: MtlsAuthSchema,
  status: 'beta',
  identityHeaders: (config) => (config.consumer_header === '' ? [] : [config.consumer_header.toLowerCase()]),
  create(config, env) {
    const logger = env.logger
    const all = env.consumers ?? NO_CONSUMERS
    const byValue = new Map<string, Consumer>()
    for (const [value, name] of Object.entries(config.consumers)) {
      const c = all.get(name)
      if (c === undefined) logger.warn({ route: env.route, consumer: name }, 'mtls-auth maps a certificate to an unknown consumer: that certificate will be refused')
      else byValue.set(value, c)
    }
    const header = config.consumer_header === '' ? null : config.consumer_header.toLowerCase()
    const instance: PluginInstance = {
      access(ctx) {
        const id = ctx.clientCert
        if (id === null || !id.verified) {
          logger.debug({ request_id: ctx.id, reason: id === null ? 'no certificate' : `not verified: ${id.error}` }, 'mtls-auth refused the request')
          return NO_CERT
        }
        for (const v of values(id, config.match_on)) {
          const c = byValue.get(v)
          if (c !== undefined) {
            identify(ctx, c, header)
            return undefined
          }
        }
        if (config.allow_unlisted) return undefined
        logger.debug({ request_id: ctx.id, reason: 'unlisted certificate' }, 'mtls-auth refused the request')
        return UNKNOWN
      },
    }
    return Object.freeze(instance)
  },
})
