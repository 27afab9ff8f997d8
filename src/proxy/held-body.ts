// A response body held for a rewrite (UpstreamHead.rewriteBody, set by a response plugin): the head
// waits while the body is collected up to maxBytes; past that everything is sent unchanged as it
// arrives. Only routes whose response plugins ask for it get here.
import type { Dispatcher } from 'undici'
import type { BodyRewrite } from '../core/verdict.js'
import type { Exchange } from './exchange.js'

/** A chunk of a held body (head.rewriteBody): kept, or, past maxBytes, everything sent unchanged from now on. */
export function holdChunk(ex: Exchange, controller: Dispatcher.DispatchController, chunk: Buffer): void {
  const h = ex.held!
  h.size += chunk.length
  if (h.size <= h.rewrite.maxBytes) {
    h.chunks.push(chunk)
    return
  }
  ex.held = null
  ex.writeHead(h.status, h.headers)
  h.chunks.push(chunk)
  ex.onResponseData(controller, Buffer.concat(h.chunks, h.size))
}

/** The held body is complete: rewrite it, frame it by its new length, send head and body. */
export function releaseHeld(ex: Exchange): void {
  const h = ex.held!
  ex.held = null
  const body = h.chunks.length === 1 ? h.chunks[0]! : Buffer.concat(h.chunks, h.size)
  let out = body
  try {
    out = h.rewrite.apply(body) ?? body
  } catch (err) {
    ex.env.logger.warn({ err, request_id: ex.ctx.id, route: ex.route.name }, 'response body rewrite failed; sent unchanged')
  }
  delete h.headers['transfer-encoding']
  h.headers['content-length'] = String(out.length)
  ex.writeHead(h.status, h.headers)
  if (ex.ctx.tap !== null) ex.ctx.tap.onData(out)
  if (ex.quiet || ex.res.destroyed) return
  ex.bytes += out.length
  ex.res.write(out)
}

/** A response head waiting for its body to be rewritten (UpstreamHead.rewriteBody). */
export class HeldBody {
  readonly status: number
  readonly headers: Record<string, string | string[]>
  readonly rewrite: BodyRewrite
  chunks: Buffer[] = []
  size = 0
  constructor(status: number, headers: Record<string, string | string[]>, rewrite: BodyRewrite) {
    this.status = status
    this.headers = headers
    this.rewrite = rewrite
  }
}
