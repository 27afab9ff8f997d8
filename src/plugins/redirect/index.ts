// `redirect`: answers with a 3xx and a Location instead of proxying. Either to a configured URL or
// path (optionally keeping the request's path and query), or, with `https: true`, to the same URL
// over https (requests that already came over https pass through).
//
// Location is built from the config and the normalized path only; the appended path never starts
// with "//", so it can never turn into a protocol-relative URL pointing at another host.
import { Type, type Static } from '@sinclair/typebox'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply } from '../../core/verdict.js'
import type { RequestContext } from '../../core/context.js'

export const RedirectSchema = Type.Object(
  {
    to: Type.Optional(
      Type.String({
        pattern: '^(https?://[^\\s\\x00-\\x1f\\x7f/?#]+[^\\s\\x00-\\x1f\\x7f]*|/(?![/\\\\])[^\\s\\x00-\\x1f\\x7f]*)?$',
        default: '',
        description: 'Target: an absolute http(s) URL or a path starting with one "/" (not "//"). Empty only with https: true.',
      }),
    ),
    status: Type.Optional(
      Type.Union([Type.Literal(301), Type.Literal(302), Type.Literal(303), Type.Literal(307), Type.Literal(308)], {
        default: 302,
        description: '301/308 are permanent (cached by browsers), 302/303/307 temporary. 307/308 keep the method and body.',
      }),
    ),
    preserve_path: Type.Optional(
      Type.Boolean({ default: false, description: 'Append the request path (after the route\'s strip_prefix and rewrite) to the path of `to`.' }),
    ),
    preserve_query: Type.Optional(Type.Boolean({ default: true, description: 'Append the request\'s query string.' })),
    https: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Redirect plain-http requests to https on the same host, path and query (the proto comes from X-Forwarded-Proto only behind server.trusted_proxies). Requests already over https continue.',
      }),
    ),
    https_port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 443, description: 'Port of the https redirect; 443 is left out of the URL.' })),
  },
  { additionalProperties: false, description: 'Answers with a redirect (3xx + Location) instead of proxying.' },
)

export type RedirectConfig = Static<typeof RedirectSchema>

/** One leading "/" however many the path had: "//evil.example" must not become a host. */
function safePath(p: string): string {
  let i = 0
  while (i < p.length && (p.charCodeAt(i) === 47 || p.charCodeAt(i) === 92)) i++
  return '/' + p.slice(i)
}

/** A host name or an IP literal; anything else in Host must not end up in a Location. */
const HOST_RE = /^(?:[a-z0-9_](?:[a-z0-9_.-]{0,252})|\[[0-9a-f:.]+\])$/

function isHttps(ctx: RequestContext): boolean {
  // Set by the core from the listener, or from a trusted proxy's X-Forwarded-Proto.
  const v = ctx.upstreamHeaders['x-forwarded-proto']
  const first = String(Array.isArray(v) ? v[0] : (v ?? '')).split(',')[0]!.trim().toLowerCase()
  return first === 'https'
}

export default definePlugin({
  name: 'redirect',
  phases: ['rewrite'],
  // Early in rewrite: nothing else needs to run for a request that is sent elsewhere.
  priority: 11000,
  schema: RedirectSchema,
  status: 'beta',
  create(config) {
    const status = config.status ?? 302
    const keepQuery = config.preserve_query !== false
    const keepPath = config.preserve_path === true
    const to = config.to ?? ''
    if (config.https !== true && to === '') throw new Error('redirect: set `to`, or `https: true`')
    const port = config.https_port ?? 443
    const portPart = port === 443 ? '' : `:${port}`
    // `to` split once: a base without a trailing "/", and its own query (kept first).
    const q = to.indexOf('?')
    const toBase = (q === -1 ? to : to.slice(0, q)).replace(/\/+$/, '')
    const toQuery = q === -1 ? '' : to.slice(q + 1)
    const reply = (location: string): LocalReply => ({ status, headers: { location } })

    const instance: PluginInstance = {
      rewrite(ctx) {
        let location: string
        if (config.https === true) {
          if (isHttps(ctx)) return undefined
          if (ctx.host === '') return undefined // HTTP/1.0 without Host: nothing to redirect to
          if (!HOST_RE.test(ctx.host)) return { status: 400, error: 'bad_request', message: 'invalid Host header' }
          const host = ctx.host.includes(':') && !ctx.host.startsWith('[') ? `[${ctx.host}]` : ctx.host
          location = `https://${host}${portPart}${safePath(ctx.path)}`
          if (ctx.query !== '') location += '?' + ctx.query
          return reply(location)
        }
        location = keepPath ? toBase + safePath(ctx.upstreamPath) : q === -1 ? to : to.slice(0, q)
        if (location === '') location = '/'
        let query = toQuery
        if (keepQuery && ctx.query !== '') query = query === '' ? ctx.query : `${query}&${ctx.query}`
        if (query !== '') location += '?' + query
        return reply(location)
      },
    }
    return Object.freeze(instance)
  },
})
