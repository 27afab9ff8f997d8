// The request body of an exchange: read whole into ctx.body for pipelines that asked for it
// (PluginDefinition.body), buffered for replay when the route retries a small one, else streamed
// (through BodyLimit when chunked, so max_body_size holds without a Content-Length).
import { sendContinue } from './continue.js'
import { BodyLimit, ReplayableBody } from './body-limit.js'
import { Base64Decoder, GrpcWeb, decodeGrpcWebText } from './grpc-web.js'
import type { Exchange } from './exchange.js'

const EMPTY_BODY = Buffer.alloc(0)

/**
 * Buffers the request body into ctx.body (at most `limit` bytes: 413 and close beyond), then
 * resumes at the access phase. Only routes whose pipeline declared a body limit get here.
 */
export function readBody(ex: Exchange, limit: number): void {
  const req = ex.ctx.req
  const headers = req.headers
  const cl = headers['content-length']
  if (cl !== undefined && Number(cl) > limit) return ex.fail('payload_too_large', `request body exceeds ${limit} bytes`, true)
  sendContinue(req, ex.res)
  if (req.readableEnded || (headers['transfer-encoding'] === undefined && (cl === undefined || cl === '0'))) {
    ex.ctx.body = EMPTY_BODY
    ex.bodyRead = true
    return ex.runPhases(1)
  }
  const chunks: Buffer[] = []
  let size = 0
  const idle = setTimeout(() => {
    stop()
    if (!ex.done) ex.fail('request_timeout', `no request body data for ${ex.route.timeouts.read}ms`, true)
  }, ex.route.timeouts.read)
  // The idle timer alone lets a client send one byte every read-timeout forever (a POST trickling 1
  // byte per 2 s stayed open 75 s with read 5s, total 10s): the whole body has a deadline too.
  const totalMs = ex.route.timeouts.total > 0 ? Math.min(ex.snap.bodyTimeoutMs, ex.route.timeouts.total) : ex.snap.bodyTimeoutMs
  const whole = setTimeout(() => {
    stop()
    if (!ex.done) ex.fail('request_timeout', `the request body did not arrive within ${totalMs}ms`, true)
  }, totalMs)
  const stop = (): void => {
    clearTimeout(idle)
    clearTimeout(whole)
    req.off('data', onData)
    req.off('end', onEnd)
    req.off('error', stop)
    req.off('close', stop)
  }
  const onData = (chunk: Buffer): void => {
    size += chunk.length
    if (size > limit) {
      stop()
      req.resume() // discard the rest; the reply closes the connection
      return ex.fail('payload_too_large', `request body exceeds ${limit} bytes`, true)
    }
    chunks.push(chunk)
    idle.refresh()
  }
  const onEnd = (): void => {
    stop()
    if (ex.done || ex.res.destroyed) return
    ex.ctx.body = Buffer.concat(chunks, size)
    ex.bodyRead = true
    ex.runPhases(1)
  }
  req.on('data', onData)
  req.on('end', onEnd)
  req.on('error', stop)
  // A client that goes away mid-body: the response's close runs finish(); just drop the timer.
  req.on('close', stop)
}

/**
 * Chooses how the body travels. Streamed by default. When the route retries this method, a body
 * already buffered for a plugin is replayed, and a small one (Content-Length ≤ max_buffered_body)
 * is buffered here; a chunked or larger body is streamed and its request is never retried.
 */
export function prepareBody(ex: Exchange): void {
  const req = ex.ctx.req
  const headers = req.headers
  sendContinue(req, ex.res)
  const policy = ex.route.retry
  // A gRPC call is always a POST, which says nothing about idempotency: it may be retried whatever
  // `methods` says, but only where that is safe (exchange.ts: connect failures, refused streams and
  // the listed statuses in a trailers-only answer; resets and per-try timeouts only when POST is listed).
  const retryable = policy !== null && (policy.methods.has(ex.ctx.method) || ex.ctx.grpc)
  const buffered = ex.ctx.body
  // One integer compare per request: a -text body must be decoded whatever its framing, so this
  // comes before the framing branches (binary gRPC-Web takes them as any body).
  if (ex.ctx.grpcWeb === GrpcWeb.Text) return prepareWebText(ex, buffered, retryable ? policy : null)
  if (buffered !== undefined) {
    // Buffered for a plugin: send the buffer, framed by its length (the client may have sent it chunked).
    if (buffered.length > 0 || headers['content-length'] !== undefined) {
      ex.body = buffered
      ex.ctx.upstreamHeaders['content-length'] = String(buffered.length)
    }
    if (retryable) ex.policy = policy
  } else if (headers['transfer-encoding'] !== undefined) {
    const max = Math.min(ex.route.maxBodySize, ex.ctx.bodyLimit)
    let limiter: BodyLimit
    if (retryable && ex.ctx.grpc) {
      // gRPC clients send no Content-Length: the body streams and a copy is kept for a retry.
      // The size limit applied to the base64 already (`limit`); the copy only keeps what it may.
    const r = new ReplayableBody(Number.POSITIVE_INFINITY, policy.maxBufferedBody)
      ex.replay = r
      ex.policy = policy
      limiter = r
    } else limiter = new BodyLimit(max)
    const body = req.pipe(limiter)
    // A client that aborts mid-upload must not leave the limiter's consumer waiting.
    req.once('error', (e) => body.destroy(e))
    ex.body = body
  } else {
    const cl = headers['content-length']
    if (cl !== undefined && cl !== '0') {
      if (retryable && Number(cl) <= policy.maxBufferedBody) {
        ex.policy = policy
        return bufferBody(ex, Number(cl))
      }
      ex.body = req
    } else if (retryable) {
      ex.policy = policy
    }
  }
  ex.startTries()
}

/**
 * gRPC-Web -text: the body is base64, decoded on its way upstream (streamed; a body a plugin
 * buffered is decoded at once). On a retrying route the decoded stream keeps a copy for a replay,
 * as a binary call's does (up to max_buffered_body of decoded bytes): a retry sends the gRPC
 * bytes again, never the base64.
 */
function prepareWebText(ex: Exchange, buffered: Buffer | undefined, policy: Exchange['route']['retry']): void {
  if (buffered !== undefined) {
    const decoded = decodeGrpcWebText(buffered)
    if (decoded === null) return ex.fail('bad_request', 'the grpc-web-text body is not base64')
    ex.body = decoded
    if (policy !== null) ex.policy = policy
    return ex.startTries()
  }
  const req = ex.ctx.req
  const max = Math.min(ex.route.maxBodySize, ex.ctx.bodyLimit)
  const limit = new BodyLimit(max)
  const decoder = new Base64Decoder()
  req.once('error', (e) => limit.destroy(e))
  limit.once('error', (e) => decoder.destroy(e))
  const decoded = req.pipe(limit).pipe(decoder)
  if (policy === null) ex.body = decoded
  else {
    const r = new ReplayableBody(max, policy.maxBufferedBody)
    decoder.once('error', (e) => r.destroy(e))
    ex.replay = r
    ex.policy = policy
    ex.body = decoded.pipe(r)
  }
  ex.startTries()
}

/** Reads a small body (its Content-Length is known) into one buffer, so retries can replay it. */
function bufferBody(ex: Exchange, length: number): void {
  const buf = Buffer.allocUnsafe(length)
  let off = 0
  const req = ex.ctx.req
  req.on('data', (chunk: Buffer) => {
    if (off + chunk.length <= length) chunk.copy(buf, off)
    off += chunk.length
  })
  req.once('end', () => {
    if (ex.done || ex.res.headersSent) return
    if (off !== length) return ex.fail('bad_request', 'request body does not match Content-Length', true)
    ex.body = buf
    ex.startTries()
  })
}
