// The admin listener of the control plane: health probes, status and Prometheus metrics. It runs
// in the primary (cluster mode) or in the single process, never in a data-plane worker.
// /status and /metrics need the bearer token when one is configured; the probes stay open so
// orchestrators can use them without secrets.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import { errorBody } from '../../core/errors.js'
import type { Readiness } from '../pool.js'
import { formatHostPort, parseListen, type HostPort } from '../../core/address.js'
import { adminExposureProblem, DEFAULT_ADMIN_LISTEN } from '../../config/admin-rule.js'
import { compileGuard } from './guard.js'
import { loadCertificate } from '../../tls/certificate.js'
import { consoleFiles } from './console.js'
import type { CachePurge, CachePurgeResult } from '../ipc.js'
import { renderStatusHtml, renderStatusText, type StatusDocument } from '../status.js'
import type { Need } from './auth.js'
import { LISTENER_ENDPOINTS } from './operations.js'
import { BadRevocation, parseRevocation, readJson, type RevocationRequest, type RevocationWriter } from './revocations.js'

export { DEFAULT_ADMIN_LISTEN }

export interface AdminSource {
  readiness(): Readiness
  /** /status document (StatusDocument in the primary); may gather live state from workers. */
  status(): unknown
  /** Exposition text; `openMetrics` = OpenMetrics 1.0 with exemplars instead of Prometheus 0.0.4. */
  metrics(openMetrics?: boolean): Promise<string>
  /** DELETE /admin/cache: purge the cache plugin's entries everywhere (every worker, second tier). */
  purgeCache?(p: CachePurge): Promise<CachePurgeResult>
}

export interface AdminOptions {
  listen: string | number | undefined
  token: string | undefined
  /** Host names accepted besides IP literals, localhost and the bound name (admin.hosts; DNS rebinding). */
  hosts?: readonly string[]
  logger: Logger
  source: AdminSource
  /** Where POST /admin/revocations writes; undefined (or returning undefined) = no shared Store: 409. */
  revocations?: () => RevocationWriter | undefined
  /** A listening socket inherited from the previous primary (in-place upgrade): served instead of binding `listen`. */
  fd?: number
  /** The config API (admin/api.ts): its own routes, and role-based auth for the endpoints here. */
  api?: {
    /** The API answers this path (the guard runs first, then handle()). */
    owns(path: string): boolean
    handle(req: http.IncomingMessage, res: http.ServerResponse): boolean
    authorize(authorization: string | undefined, need: Need): 'ok' | 'unauthorized' | 'forbidden'
  }
  /** admin.tokens is set: a listener beyond loopback is protected even without admin.token. */
  hasTokens?: boolean
  /** admin.tls: HTTPS, and with client_auth mTLS. */
  tls?: AdminTls | undefined
}

/** admin.tls as the config has it (config/schema: Admin.tls). */
export interface AdminTls {
  certificate: { cert_file?: string | undefined; key_file?: string | undefined; cert?: string | undefined; key?: string | undefined }
  client_auth?: { mode?: 'none' | 'optional' | 'required' | undefined; ca_file?: string | undefined; ca?: string | undefined } | undefined
}

/**
 * node:https options of admin.tls. `required` refuses the handshake of a client without a
 * certificate the CA signed (nothing of the API is reachable without one); `optional` asks for
 * one and lets the request on either way (the tokens decide, as without mTLS).
 */
export async function adminTlsOptions(t: AdminTls): Promise<https.ServerOptions> {
  // The listeners' loader: files or inline PEM, and a key that does not match its certificate is an error here too.
  const { certPem: cert, keyPem: key } = await loadCertificate(t.certificate)
  const mode = t.client_auth === undefined ? 'none' : (t.client_auth.mode ?? 'required')
  if (mode === 'none') return { cert, key, minVersion: 'TLSv1.2' }
  const ca = t.client_auth!.ca ?? (t.client_auth!.ca_file !== undefined ? readFileSync(t.client_auth!.ca_file, 'utf8') : undefined)
  if (ca === undefined) throw new Error('admin.tls.client_auth needs ca_file (or ca): the CAs that sign admin client certificates')
  return { cert, key, ca, minVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: mode === 'required' }
}

export interface AdminServer {
  address: AddressInfo
  /** The listening socket's descriptor, passed on to the next primary in an in-place upgrade. */
  fd: number | null
  close(): Promise<void>
}

/** The admin address to bind, or an Error saying why this config may not start an admin listener. */
export function resolveAdminListen(listen: string | number | undefined, token: string | undefined, hasTokens = false): HostPort {
  const problem = adminExposureProblem(listen, token, hasTokens)
  if (problem !== undefined) throw new Error(problem)
  return parseListen(listen ?? DEFAULT_ADMIN_LISTEN, 'admin.listen', 'admin')
}

const digest = (s: string) => createHash('sha256').update(s).digest()

/** Digests have equal length whatever the input, so timingSafeEqual never leaks the token length. */
function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m !== null && timingSafeEqual(digest(m[1]!), expected)
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers })
  res.end(text)
}

function sendError(res: http.ServerResponse, status: number, error: string, message: string, headers: http.OutgoingHttpHeaders = {}): void {
  const requestId = randomUUID()
  res.setHeader('x-request-id', requestId)
  // route_not_found and method_not_allowed come from the catalogue; 401 has no catalogue code yet.
  const body =
    error === 'route_not_found' || error === 'method_not_allowed'
      ? errorBody(error, requestId, message)
      : JSON.stringify({ status, error, message, request_id: requestId })
  sendJson(res, status, body, headers)
}

/** ?format=text|html|json wins; otherwise a browser (Accept: text/html) gets HTML and everything else JSON. */
function statusFormat(req: http.IncomingMessage): 'json' | 'text' | 'html' {
  const f = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('format')
  if (f === 'text' || f === 'html' || f === 'json') return f
  return /\btext\/html\b/i.test(req.headers.accept ?? '') ? 'html' : 'json'
}

function sendStatus(req: http.IncomingMessage, res: http.ServerResponse, source: AdminSource, logger: Logger): void {
  Promise.resolve()
    .then(() => source.status())
    .then(
      (doc) => {
        const format = statusFormat(req)
        if (format === 'json') return sendJson(res, 200, doc)
        const body = format === 'html' ? renderStatusHtml(doc as StatusDocument) : renderStatusText(doc as StatusDocument)
        res.writeHead(200, {
          'content-type': format === 'html' ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
        })
        res.end(body)
      },
    )
    .catch((err: unknown) => {
      logger.error({ err }, 'status collection failed')
      if (!res.headersSent) sendError(res, 500, 'internal_error', 'status collection failed')
    })
}

/** OpenMetrics when the scraper asks for it (Prometheus does when exemplar storage is on). */
function wantsOpenMetrics(req: http.IncomingMessage): boolean {
  return /application\/openmetrics-text/i.test(req.headers.accept ?? '')
}

// Paths, methods and roles of the endpoints served here come from the operation table
// (operations.ts), which the OpenAPI document is rendered from.
const ALLOW = new Map([...LISTENER_ENDPOINTS].map(([path, methods]) => [path, [...methods.keys()].join(', ')]))

async function revoke(req: http.IncomingMessage, res: http.ServerResponse, writer: RevocationWriter | undefined, logger: Logger): Promise<void> {
  if (writer === undefined) {
    req.resume()
    return sendError(res, 409, 'revocation_unavailable', 'revocations need a shared store: configure store.redis (every worker and instance reads it)')
  }
  let r: RevocationRequest
  try {
    r = parseRevocation(await readJson(req))
  } catch (err) {
    if (err instanceof BadRevocation) return sendError(res, 400, 'bad_request', err.message)
    throw err
  }
  try {
    await writer.revoke(r)
  } catch (err) {
    logger.error({ err }, 'revocation could not be stored')
    return sendError(res, 503, 'store_unavailable', 'the revocation could not be stored; nothing was revoked, try again')
  }
  // The identifiers are logged for the audit trail; they are not secrets (a token is never sent here).
  logger.info(r.kind === 'jti' ? { jti: r.jti, exp: r.exp } : { sub: r.sub, before: r.before, ttl_ms: r.ttlMs }, 'token revoked')
  sendJson(res, 201, r.kind === 'jti' ? { revoked: { jti: r.jti, until: r.exp } } : { revoked: { sub: r.sub, issued_before: r.before, for_ms: r.ttlMs } })
}

/**
 * DELETE /admin/cache?key=<host/path?query> | ?prefix=<start of keys>: exactly one of them (an
 * empty prefix purges everything). Answers {purged: {memory, tier2, workers}}.
 */
function purgeCache(req: http.IncomingMessage, res: http.ServerResponse, source: AdminSource, logger: Logger): void {
  req.resume()
  const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '')
  const key = q.get('key')
  const prefix = q.get('prefix')
  if ((key === null) === (prefix === null) || key === '') {
    return sendError(res, 400, 'bad_request', 'give exactly one of ?key=<host/path?query> (one entry and its variants) or ?prefix=<key prefix>')
  }
  if (source.purgeCache === undefined) return sendError(res, 404, 'route_not_found', 'this process has no cache to purge')
  source.purgeCache(key !== null ? { key } : { prefix: prefix! }).then(
    (purged) => {
      logger.info({ key, prefix, purged }, 'cache purged')
      sendJson(res, 200, { purged })
    },
    (err: unknown) => {
      logger.error({ err, key, prefix }, 'cache purge failed')
      sendError(res, 500, 'internal_error', 'cache purge failed')
    },
  )
}

export async function startAdminServer(opts: AdminOptions): Promise<AdminServer> {
  const addr = resolveAdminListen(opts.listen, opts.token, opts.hasTokens)
  const expected = opts.token === undefined || opts.token === '' ? null : digest(opts.token)
  const { logger, source } = opts
  const guard = compileGuard(addr.host, opts.hosts)
  const ui = consoleFiles()

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = (req.url ?? '/').split('?', 1)[0]!
    // client_auth optional: no certificate is fine, but one that was sent must verify (required
    // refuses it in the handshake already).
    if (opts.tls !== undefined && !(req.socket as TLSSocket).authorized && Object.keys((req.socket as TLSSocket).getPeerCertificate()).length > 0) {
      req.resume()
      return sendError(res, 403, 'forbidden', 'the client certificate is not signed by a CA in admin.tls.client_auth')
    }
    if (path === '/ui' || path.startsWith('/ui/')) {
      // The console's files are public (no secret in them), but the browser guard still applies:
      // no rebinding name and no cross-site embedding of the page that holds an admin token.
      const refused = guard(req, path)
      if (refused !== undefined) {
        req.resume()
        return sendError(res, refused.status, refused.error, refused.message)
      }
      req.resume()
      return void ui.serve(req, res, path)
    }
    if (opts.api?.owns(path) === true) {
      // The browser guard covers the config API's routes too (its writes are the prize).
      const refused = guard(req, path)
      if (refused !== undefined) {
        req.resume()
        return sendError(res, refused.status, refused.error, refused.message)
      }
      return void opts.api.handle(req, res)
    }
    const methods = LISTENER_ENDPOINTS.get(path)
    if (methods === undefined) return sendError(res, 404, 'route_not_found', `no admin endpoint ${req.method} ${path}`)
    const need = methods.get(req.method ?? '')
    if (need === undefined) return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed on ${path}`, { allow: ALLOW.get(path)! })
    const refused = guard(req, path)
    if (refused !== undefined) {
      req.resume()
      return sendError(res, refused.status, refused.error, refused.message)
    }
    const verdict =
      need === null
      ? 'ok'
      : opts.api !== undefined
        ? opts.api.authorize(req.headers.authorization, need)
        : expected === null || tokenMatches(req.headers.authorization, expected) ? 'ok' : 'unauthorized'
    if (verdict === 'unauthorized') {
      return sendError(res, 401, 'unauthorized', 'a valid admin token is required (Authorization: Bearer <token>)', { 'www-authenticate': 'Bearer' })
    }
    if (verdict === 'forbidden') return sendError(res, 403, 'forbidden', `this token's role may not use ${path}`)
    switch (path) {
      case '/admin/revocations':
        return void revoke(req, res, opts.revocations?.(), logger)
      case '/admin/cache':
        return purgeCache(req, res, source, logger)
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' })
      case '/readyz': {
        const r = source.readiness()
        const detail = (r as { detail?: string }).detail
        const extra = detail === undefined ? {} : { detail }
        return r.ready ? sendJson(res, 200, { status: 'ready', ...extra }) : sendJson(res, 503, { status: 'not_ready', reason: r.reason, ...extra })
      }
      case '/status':
        return sendStatus(req, res, source, logger)
      case '/metrics': {
        const om = wantsOpenMetrics(req)
        source.metrics(om).then(
          (text) => {
            res.writeHead(200, { 'content-type': om ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) })
            res.end(text)
          },
          (err: unknown) => {
            logger.error({ err }, 'metrics collection failed')
            sendError(res, 500, 'internal_error', 'metrics collection failed')
          },
        )
      }
    }
  }
  const server = opts.tls === undefined ? http.createServer(handler) : https.createServer(await adminTlsOptions(opts.tls), handler)
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(`admin listener could not bind ${formatHostPort(addr)}: ${err.code ?? err.message}`))
    })
    if (opts.fd !== undefined) server.listen({ fd: opts.fd }, () => resolve())
    else server.listen(addr.port, addr.host, () => resolve())
  })
  const address = server.address() as AddressInfo
  logger.info({ address: address.address, port: address.port, token: expected !== null, tls: opts.tls !== undefined, client_auth: opts.tls?.client_auth?.mode ?? (opts.tls?.client_auth !== undefined ? 'required' : 'none') }, 'admin listening')

  return {
    address,
    fd: (server as unknown as { _handle?: { fd?: number } | null })._handle?.fd ?? null,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
