// `cors`: the Fetch standard's CORS protocol at the gateway. Preflights are answered here (204, no
// upstream call) unless preflight_continue; actual requests are proxied and their responses get
// the Access-Control-* headers. On a cors route the gateway is the only source of those headers:
// the upstream's are removed, so the policy in the config is the policy browsers see.
import { definePlugin, type PluginInstance } from '../contract.js'
import { CorsSchema } from './schema.js'
import { localError } from '../../core/errors.js'
import {
  ACAC,
  ACAO,
  ACEH,
  CORS_RESPONSE_HEADERS,
  compilePolicy,
  exposeAllValue,
  isPreflight,
  mergeVary,
  originAllowed,
  preflightHeaders,
} from './policy.js'

// Browsers do not apply CORS to WebSocket: the page's script gets the socket whatever the
// answer's headers say (Cross-Site WebSocket Hijacking). A handshake from an origin the policy does
// not allow is therefore refused here instead of answered without the headers.
const WS_ORIGIN_REFUSED = Object.freeze(localError('forbidden', 'origin not allowed for WebSocket'))
const WEBSOCKET = /(^|,)\s*websocket\s*(,|$)/i

export default definePlugin({
  name: 'cors',
  phases: ['access', 'response'],
  // Before every auth plugin: a preflight carries no credentials and must be answered before a
  // key/jwt check would turn it into a 401 (style.md §3 table).
  priority: 4000,
  schema: CorsSchema,
  status: 'beta',
  answersPreflight: true,
  create(config) {
    const p = compilePolicy(config)
    const instance: PluginInstance = {
      access(ctx) {
        const headers = ctx.req.headers
        const origin = headers.origin
        if (origin === undefined) return undefined
        if (isPreflight(ctx.method, headers)) {
          return p.preflightContinue ? undefined : { status: 204, headers: preflightHeaders(p, origin, headers) }
        }
        if (!originAllowed(p, origin)) {
          const upgrade = headers.upgrade
          return upgrade !== undefined && WEBSOCKET.test(upgrade) ? WS_ORIGIN_REFUSED : undefined
        }
        // Set here, not only in the response phase, so that a reply made by a later plugin (401,
        // 429) is also readable by the page; the response phase writes the same values again.
        // Vary is left to the response phase: ctx.responseHeaders replace the upstream's headers
        // of the same name, and the upstream's Vary must be kept.
        ctx.setResponseHeader(ACAO, p.anyOrigin ? '*' : origin)
        if (p.credentials) ctx.setResponseHeader(ACAC, 'true')
        if (p.exposeHeaders !== '') ctx.setResponseHeader(ACEH, p.exposeHeaders)
        return undefined
      },

      response(ctx, head) {
        const headers = ctx.req.headers
        if (p.preflightContinue && isPreflight(ctx.method, headers)) return
        const out = head.headers
        for (let i = 0; i < CORS_RESPONSE_HEADERS.length; i++) {
          const name = CORS_RESPONSE_HEADERS[i]!
          if (out[name] !== undefined) delete out[name]
        }
        if (p.anyOrigin) {
          // Origin-independent answer: the same headers for every client, so no Vary is needed.
          out[ACAO] = '*'
          if (p.exposeHeaders !== '') out[ACEH] = p.exposeHeaders
          return
        }
        // The answer depends on Origin, so caches must key on it even when this request had none
        // or was refused (Fetch, "CORS protocol and HTTP caches"). Merged into the upstream's Vary, never replacing it.
        out.vary = mergeVary(out.vary, 'Origin')
        const origin = headers.origin
        if (origin === undefined || !originAllowed(p, origin)) return
        const expose = p.exposeAll ? exposeAllValue(out) : p.exposeHeaders
        out[ACAO] = origin
        if (p.credentials) out[ACAC] = 'true'
        if (expose !== '') out[ACEH] = expose
      },
    }
    return Object.freeze(instance)
  },
})
