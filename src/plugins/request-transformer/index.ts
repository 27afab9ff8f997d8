// `request-transformer`: changes what the upstream receives: headers (the `headers` plugin's rules),
// query parameters, the path, and fields of a JSON body. Everything is compiled in create(); a
// request runs only the parts that are configured. The body is read only when body rules exist and
// the request says it carries JSON with a Content-Length within max_body_bytes (or another plugin
// already buffered it); the edited buffer replaces the body and the core frames it by its length.
import { parseDuration, parseSize } from '../../config/units.js'
import type { RequestContext } from '../../core/context.js'
import { definePlugin, type PluginInstance } from '../contract.js'
import { type LocalReply, type Verdict } from '../../core/verdict.js'
import { applyRules, compileRules } from '../headers/rules.js'
import { RequestTransformerSchema } from './schema.js'
import { applyQueryRules, compileQueryRules } from './query.js'
import { compileJsonRules, DEFAULT_MAX_DEPTH, isIdentity, isJsonType, nestsDeeper, transformJson, type JsonRules } from './json.js'
import type { Logger } from 'pino'

const NAME = 'request-transformer'

const TIMEOUT: LocalReply = Object.freeze({
  status: 408,
  error: 'request_timeout',
  message: 'the request body stopped arriving',
  headers: Object.freeze({ connection: 'close' }) as Record<string, string>,
})

/** Reads exactly `length` declared bytes into ctx.body. undefined when done or when the client left. */
function readBody(ctx: RequestContext, length: number, idleMs: number): Promise<Verdict> {
  const req = ctx.req
  return new Promise<Verdict>((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const stop = (v: Verdict): void => {
      clearTimeout(idle)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onGone)
      req.off('close', onGone)
      resolve(v)
    }
    const idle = setTimeout(() => {
      req.resume()
      stop(TIMEOUT)
    }, idleMs)
    const onData = (c: Buffer): void => {
      size += c.length
      chunks.push(c)
      idle.refresh()
    }
    const onEnd = (): void => {
      // Node's parser delivers exactly Content-Length bytes; anything else means the client left.
      if (size === length) ctx.body = Buffer.concat(chunks, size)
      stop(undefined)
    }
    const onGone = (): void => stop(undefined)
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onGone)
    req.on('close', onGone)
  })
}

const TOO_DEEP: LocalReply = Object.freeze({ status: 400, error: 'invalid_body', message: 'the JSON body is nested too deeply' })

/** Applies the rules to the buffered body; a body nested deeper than maxDepth is refused (one log line, no stack). */
function transformBuffered(ctx: RequestContext, rules: JsonRules, maxDepth: number, logger: Logger): Verdict {
  const body = ctx.body!
  if (nestsDeeper(body, maxDepth)) {
    logger.info({ request_id: ctx.id, route: ctx.routeName, max_depth: maxDepth }, 'request-transformer: JSON body nested too deeply, refused')
    return TOO_DEEP
  }
  const out = transformJson(rules, body, maxDepth)
  if (out !== undefined) ctx.body = out
  return undefined
}

export default definePlugin({
  name: NAME,
  phases: ['access'],
  // After every access check (auth 2400-2510, rate-limit 1000) and after `headers` (900): auth and
  // signatures (hmac-auth's body digest) see the request as the client sent it.
  priority: 800,
  schema: RequestTransformerSchema,
  status: 'beta',
  create(config, env) {
    const logger = env.logger
    const maxDepth = config.max_depth ?? DEFAULT_MAX_DEPTH
    const headers = compileRules(config.headers, 'request')
    const query = compileQueryRules(config.query)
    const path = config.path === undefined ? null : { re: new RegExp(config.path.pattern), replacement: config.path.replacement }
    const body = compileJsonRules(config.body, 'request-transformer: body')
    const maxBytes = parseSize(config.max_body_bytes ?? '1mb')
    const idleMs = parseDuration(config.body_timeout ?? '10s')

    const onBody = (ctx: RequestContext, rules: JsonRules): Verdict | Promise<Verdict> => {
      const uh = ctx.upstreamHeaders
      if (!isJsonType(uh['content-type'] as string | undefined) || !isIdentity(uh['content-encoding'] as string | undefined)) return undefined
      if (ctx.body !== undefined) {
        if (ctx.body.length > 0 && ctx.body.length <= maxBytes) return transformBuffered(ctx, rules, maxDepth, logger)
        return undefined
      }
      const h = ctx.req.headers
      const cl = h['content-length']
      if (cl === undefined || h['transfer-encoding'] !== undefined || ctx.req.readableEnded) return undefined
      const n = Number(cl)
      if (!(n > 0) || n > maxBytes || n > ctx.bodyLimit) return undefined
      return readBody(ctx, n, idleMs).then((v) => {
        if (v === undefined && ctx.body !== undefined) return transformBuffered(ctx, rules, maxDepth, logger)
        return v
      })
    }

    const instance: PluginInstance = {
      access(ctx) {
        if (headers !== null) applyRules(headers, ctx.upstreamHeaders, ctx)
        if (query !== null) ctx.query = applyQueryRules(query, ctx.query)
        if (path !== null) {
          const p = ctx.upstreamPath.replace(path.re, path.replacement)
          ctx.upstreamPath = p.charCodeAt(0) === 47 ? p : '/' + p
        }
        return body === null ? undefined : onBody(ctx, body)
      },
    }
    return Object.freeze(instance)
  },
})
