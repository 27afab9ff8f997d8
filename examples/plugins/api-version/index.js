// @ts-check
// `api-version`: a complete example of a user plugin (docs/plugins/writing.md). The client asks for
// an API version in a header (default `Accept-Version: 2`) or a query parameter; the plugin refuses
// versions the route does not serve, sends the request to the versioned path upstream
// (`/users/7` → `/v2/users/7`) and says which version answered in an `API-Version` response header.
//
// Load it with PORTICO_PLUGINS=./examples/plugins/api-version portico start -c portico.yaml
import { Type, definePlugin, localError } from 'portico'
import { URLSearchParams } from 'node:url'

const Schema = Type.Object(
  {
    supported: Type.Array(Type.String({ pattern: '^[0-9]+$' }), {
      minItems: 1,
      uniqueItems: true,
      description: 'Versions this route serves, e.g. ["1", "2"].',
    }),
    default: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'Version of a request that names none; without it such a request is refused (400).' })),
    header: Type.String({ default: 'accept-version', description: 'Request header that names the version.' }),
    query: Type.String({ default: 'api-version', description: 'Query parameter that names the version when the header is absent.' }),
    prefix: Type.String({ default: '/v', pattern: '^/', description: 'Upstream path prefix before the version number.' }),
  },
  { additionalProperties: false, description: 'Routes requests by API version to a versioned upstream path.' },
)

/**
 * The version a request names: the header first, then the query parameter.
 * @param {import('portico').RequestContext} ctx
 * @param {import('portico').Static<typeof Schema>} config
 * @returns {string | undefined}
 */
function requested(ctx, config) {
  const h = ctx.req.headers[config.header]
  if (typeof h === 'string' && h !== '') return h.trim()
  if (ctx.query === '') return undefined
  return new URLSearchParams(ctx.query).get(config.query) ?? undefined
}

export default definePlugin({
  name: 'api-version',
  phases: ['rewrite', 'response'],
  // Before the auth plugins (1000s-2000s): an unsupported version is refused before any work.
  priority: 3500,
  status: 'beta',
  schema: Schema,

  // What the schema cannot say: the default must be one of the supported versions. The validator
  // reports it with the file, YAML path and line like any other config mistake.
  check(config) {
    if (config.default !== undefined && !config.supported.includes(config.default)) {
      return [{ path: ['default'], message: `"${config.default}" is not one of supported (${config.supported.join(', ')})` }]
    }
    return []
  },

  // Once per Snapshot (at load and reload), never per request: precompute what the phases need.
  create(config) {
    const supported = new Set(config.supported)
    const list = config.supported.join(', ')
    return {
      rewrite(ctx) {
        const version = requested(ctx, config) ?? config.default
        if (version === undefined) return localError('bad_request', `name an API version in the ${config.header} header (supported: ${list})`)
        if (!supported.has(version)) return localError('bad_request', `API version ${JSON.stringify(version.slice(0, 20))} is not served here (supported: ${list})`)
        ctx.upstreamPath = `${config.prefix}${version}${ctx.upstreamPath}`
        ctx.state('api-version', () => ({ version }))
        return undefined
      },
      response(ctx, head) {
        const s = ctx.state('api-version')
        if (s !== undefined) head.headers['api-version'] = s.version
      },
    }
  },
})
