// The request vocabulary shared by the proxy, the plugins and the upstream call: what a phase
// handler may answer (Verdict / LocalReply), the upstream response head it may change, and the
// observers of one exchange. Types only; the ground floor imports nothing above it.

/**
 * A reply made by a plugin instead of proxying: ends the request. Use `error` for the gateway's
 * JSON error shape ({status, error, message, request_id}); otherwise `body` is sent as is
 * (an object is sent as JSON).
 */
export interface LocalReply {
  status: number
  headers?: Record<string, string | string[]>
  body?: string | Buffer | Record<string, unknown>
  /** snake_case error code; when set the body is the standard JSON error. */
  error?: string
  message?: string
  /**
   * Request phases only: the reply goes to the client now AND the request still goes upstream, in
   * the background (the rest of the request phases are skipped). The response phase and `ctx.tap`
   * see the upstream response; nothing more is written to the client. The cache uses it for
   * stale-while-revalidate refreshes.
   */
  background?: boolean
}

/** undefined = continue with the next plugin. */
export type Verdict = undefined | LocalReply

/** Upstream response head, mutable by `response` handlers before it is written to the client. */
export interface UpstreamHead {
  status: number
  headers: Record<string, string | string[]>
  /**
   * Set by a `response` handler to answer the client with this instead of the upstream response
   * (e.g. a cached entry after a 304 revalidation). The upstream body is read and discarded.
   */
  reply?: LocalReply
  /**
   * Set by a `response` handler to rewrite the whole upstream body (response-transformer): the
   * handler holds the head and collects the body, at most `maxBytes`, then sends what `apply`
   * returns (undefined = the body unchanged) with its Content-Length. A body that grows past
   * `maxBytes` is sent unchanged as it arrives and `apply` is not called; a throw from `apply` is
   * logged and the body sent unchanged. ctx.tap sees the body as sent. One per response: the last
   * handler to set it wins. Unset costs one null check per body chunk.
   */
  rewriteBody?: BodyRewrite
}

/** See UpstreamHead.rewriteBody. */
export interface BodyRewrite {
  readonly maxBytes: number
  apply(body: Buffer): Buffer | undefined
}

/**
 * Observes one request's upstream exchange. A plugin sets it with `ctx.tap = …` in any phase before
 * the body flows; the handler calls it as the upstream body streams (the cache stores bodies this
 * way). Exactly one of onEnd / onError is called, once. Unset (null) costs one null check.
 */
export interface ExchangeTap {
  /** One upstream body chunk (the same Buffer written to the client: copy it before changing it). */
  onData(chunk: Buffer): void
  /** The upstream body ended completely. */
  onEnd(): void
  /**
   * The exchange ended without a complete upstream body: upstream error or timeout, no healthy
   * target, client gone, or a reply made before the upstream was called. When the upstream failed
   * before any byte reached the client, a returned LocalReply is sent instead of the error.
   */
  onError(err: Error): Verdict
}

/** What the log phase learns about a finished request. */
export interface Completed {
  status: number
  bytesSent: number
  durationMs: number
  upstreamDurationMs: number | undefined
  error: string | undefined
}
