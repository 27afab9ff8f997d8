// `headers`: rename, remove, set and add request headers (what the upstream receives) and response
// headers (what the client receives). Everything is compiled in create(); a request runs loops over
// precomputed arrays, and a side with no rules does not wire its phase.
import { definePlugin, type PluginInstance } from '../contract.js'
import { HeadersSchema } from './schema.js'
import { applyRules, compileRules } from './rules.js'

export default definePlugin({
  name: 'headers',
  phases: ['access', 'response'],
  // Below every built-in access check (rate-limit 1000 is the lowest): auth, ip and rate-limit
  // plugins see the client's headers as sent, and a rule such as `remove: [authorization]` strips
  // a credential only after it was checked. A use can override this with `priority:`.
  priority: 900,
  schema: HeadersSchema,
  status: 'beta',
  create(config) {
    const request = compileRules(config.request, 'request')
    const response = compileRules(config.response, 'response')
    const instance: PluginInstance = {}
    if (request !== null) {
      instance.access = (ctx) => {
        applyRules(request, ctx.upstreamHeaders, ctx)
        return undefined
      }
    }
    if (response !== null) {
      instance.response = (ctx, head) => {
        applyRules(response, head.headers, ctx)
      }
    }
    return Object.freeze(instance)
  },
})
