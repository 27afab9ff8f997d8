// The admin REST API: the config document and its named resources (routes, upstreams, consumers,
// global plugins) read and written over HTTP on the admin listener (docs/admin-api.md).
//   GET    /admin/config                       the whole document (secrets redacted), ETag
//   PUT    /admin/config  PATCH /admin/config  replace / merge-patch the whole document
//   GET    /admin/<kind>                       list;  POST /admin/<kind>  create (409 if it exists)
//   GET|PUT|PATCH|DELETE /admin/<kind>/<name>  one resource
// Every write: If-Match (412 on a lost update), ?dry_run=true (the changes and the validation
// result, nothing applied), the file's validator and error shape, and the one reload pipeline
// (ConfigAuthority), so a document the data plane refuses leaves the last good one serving (422).
// Writes run one at a time, so two writers holding the same ETag cannot both win.
import { randomUUID } from 'node:crypto'
import type http from 'node:http'
import type { Logger } from 'pino'
import { allows, authFor, type Need, type Principal } from './auth.js'
import { adminRequests, AuditLog } from './audit.js'
import type { ApiConfigError, ApplyResult, ConfigAuthority, ConfigState } from './authority.js'
import { validateDocument } from './authority.js'
import { placeholdersLeft, redact, restoreRedacted } from './redact.js'
import { BadExplain, explain, parseExplain } from './explain.js'
import { KINDS, NAME_RE, NOUN, changes, etagOf, get, list, mergePatch, put, remove, type Change, type Kind } from './resources.js'
import { allowOf, apiEndpoint } from './operations.js'
import { adminOpenApi } from './openapi.js'
import { installedPlugins } from './installed-plugins.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Large enough for a 10,000-route document. */
const MAX_BODY = 32 * 1024 * 1024

export type Op = 'list' | 'read' | 'create' | 'replace' | 'patch' | 'delete'

/** A failure the client can act on: rendered as {status, error, message, request_id, ...extra}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Obj = {},
    readonly headers: http.OutgoingHttpHeaders = {},
  ) {
    super(message)
  }
}

export interface ApiRequest {
  method: string
  path: string
  query: URLSearchParams
  headers: http.IncomingHttpHeaders
  body: () => Promise<unknown>
  principal: Principal
  requestId: string
}

export interface ApiResponse {
  status: number
  body: unknown
  headers?: http.OutgoingHttpHeaders
}

export interface AdminApiOptions {
  authority: ConfigAuthority
  logger: Logger
  /** Extra endpoints (explain, fleet, openapi) keyed by path; they get an authenticated request. */
  extra?: Record<string, { methods: string[]; need: Need; handle(req: ApiRequest): Promise<ApiResponse> }>
}

interface Target {
  op: Op
  need: Need
  kind: Kind | 'config'
  name?: string
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers })
  res.end(text)
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) {
    return Promise.reject(new ApiError(413, 'payload_too_large', `the body is larger than ${MAX_BODY} bytes`, {}, { connection: 'close' }))
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json' && type !== 'application/merge-patch+json') {
    req.resume()
    return Promise.reject(new ApiError(415, 'unsupported_media_type', 'send the body as application/json (or application/merge-patch+json for PATCH)'))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) {
        // Chunked past the limit: answer, then close instead of reading the rest.
        reject(new ApiError(413, 'payload_too_large', `the body is larger than ${MAX_BODY} bytes`, {}, { connection: 'close' }))
        req.removeAllListeners('data')
        req.pause()
        return
      }
      chunks.push(c)
    })
    req.on('error', reject)
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
      } catch (err) {
        reject(new ApiError(400, 'bad_request', `the body is not valid JSON: ${(err as Error).message}`))
      }
    })
  })
}

/** If-Match: absent = unconditional; `*` = the resource must exist; else one of the listed ETags must be current. */
function checkIfMatch(header: string | string[] | undefined, etag: string | undefined, what: string): void {
  if (header === undefined) return
  const want = String(header).trim()
  if (want === '*') {
    if (etag === undefined) throw new ApiError(412, 'precondition_failed', `If-Match: * but ${what} does not exist`)
    return
  }
  const tags = want.split(',').map((t) => t.trim())
  if (etag === undefined || !tags.includes(etag)) {
    throw new ApiError(412, 'precondition_failed', `${what} changed since it was read (If-Match ${want}, now ${etag ?? 'absent'}); read it again and retry`, {
      current_etag: etag ?? null,
    })
  }
}

function route(method: string, path: string): Target | null {
  const parts = path.split('/').slice(2) // '', 'admin', ...
  const read = method === 'GET' || method === 'HEAD'
  if (parts.length === 1 && parts[0] === 'config') {
    const op: Op | null = read ? 'read' : method === 'PUT' ? 'replace' : method === 'PATCH' ? 'patch' : null
    if (op === null) throw new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}`, {}, { allow: allowOf('/admin/config') })
    return { op, need: read ? 'read' : 'write', kind: 'config' }
  }
  const kind = parts[0] as Kind
  if (!KINDS.includes(kind) || parts.length > 2) return null
  if (parts.length === 1) {
    const op: Op | null = read ? 'list' : method === 'POST' ? 'create' : null
    if (op === null) throw new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}`, {}, { allow: allowOf(`/admin/${kind}`) })
    return { op, need: read ? 'read' : 'write', kind }
  }
  let name: string
  try {
    name = decodeURIComponent(parts[1]!)
  } catch {
    throw new ApiError(400, 'bad_request', 'the resource name is not valid percent-encoding')
  }
  if (!NAME_RE.test(name)) throw new ApiError(400, 'bad_request', `"${name.slice(0, 130)}" is not a valid ${NOUN[kind]} name (letters, digits, _ . @ -)`)
  const op: Op | null = read ? 'read' : method === 'PUT' ? 'replace' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? 'delete' : null
  if (op === null) throw new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}`, {}, { allow: allowOf(`/admin/${kind}/{name}`) })
  return { op, need: read ? 'read' : 'write', kind, name }
}

/** The API's view of one change: redacted, and without the bodies (the audit log keeps those). */
const summary = (c: Change) => ({ kind: c.kind, name: c.name, op: c.op })

export class AdminApi {
  readonly #authority: ConfigAuthority
  readonly #logger: Logger
  readonly #audit: AuditLog
  readonly #extra: NonNullable<AdminApiOptions['extra']>
  #writes: Promise<unknown> = Promise.resolve()

  constructor(opts: AdminApiOptions) {
    this.#authority = opts.authority
    this.#logger = opts.logger
    this.#audit = new AuditLog(() => this.#authority.serving().admin?.audit_log, opts.logger)
    // Methods and roles come from the operation table (operations.ts), as the OpenAPI document does.
    this.#extra = {
      // Who the presented token is: the console shows the role and hides what it may not change.
      '/admin/session': { ...apiEndpoint('/admin/session'), handle: (r) => Promise.resolve({ status: 200, body: { data: r.principal } }) },
      // The audit trail of this process (newest first), for people who may write: they see who changed what.
      '/admin/audit': {
        ...apiEndpoint('/admin/audit'),
        handle: (r) => {
          const n = Number(r.query.get('limit') ?? 100)
          const limit = Number.isInteger(n) && n > 0 ? Math.min(n, 500) : 100
          const data = this.#audit.recent(limit)
          return Promise.resolve({ status: 200, body: { data, total: data.length } })
        },
      },
      // Which route a method + URL + headers would hit, and what it does with it (explain.ts).
      '/admin/explain': {
        ...apiEndpoint('/admin/explain'),
        handle: async (r) => {
          let input
          try {
            input = parseExplain(await r.body())
          } catch (err) {
            if (err instanceof BadExplain) throw new ApiError(400, 'bad_request', err.message)
            throw err
          }
          return { status: 200, body: { data: redact(explain(this.#authority.serving(), input)) } }
        },
      },
      // The plugins a config may name (built-ins and PORTICO_PLUGINS), for pickers such as the console's.
      '/admin/installed-plugins': {
        ...apiEndpoint('/admin/installed-plugins'),
        handle: () => {
          const data = installedPlugins()
          return Promise.resolve({ status: 200, body: { data, total: data.length } })
        },
      },
      // This API's OpenAPI document: a read like the others (a viewer token), since it names the
      // version and the installed shape of the gateway, which an exposed listener should not tell anyone.
      '/admin/openapi.json': { ...apiEndpoint('/admin/openapi.json'), handle: () => Promise.resolve({ status: 200, body: adminOpenApi() }) },
      ...(opts.extra ?? {}),
    }
    AdminApi.#documented(this.#extra)
  }

  /** Every endpoint must be in the operation table, so none can be served without being in the OpenAPI document. */
  static #documented(extra: NonNullable<AdminApiOptions['extra']>): void {
    for (const [path, e] of Object.entries(extra)) {
      const op = apiEndpoint(path)
      if (op.need !== e.need || op.methods.join() !== e.methods.join()) throw new Error(`admin endpoint ${path} differs from its row in operations.ts`)
    }
  }

  get audit(): AuditLog {
    return this.#audit
  }

  /** Who may call the listener's own protected endpoints (viewers read /status and /metrics; revocations and purges need admin: operations.ts). */
  authorize(authorization: string | undefined, need: Need): 'ok' | 'unauthorized' | 'forbidden' {
    const p = authFor(this.#authority.serving()).authenticate(authorization)
    if (p === null) return 'unauthorized'
    return allows(p.role, need) ? 'ok' : 'forbidden'
  }

  owns(path: string): boolean {
    if (this.#extra[path] !== undefined || path === '/admin/config') return true
    const parts = path.split('/')
    return parts[1] === 'admin' && (parts.length === 3 || parts.length === 4) && (KINDS as readonly string[]).includes(parts[2]!)
  }

  /** Handles /admin/config, /admin/<kind>[/<name>] and the extra endpoints; false for any other path. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const [path, qs] = (req.url ?? '/').split('?', 2) as [string, string | undefined]
    const method = req.method ?? 'GET'
    const requestId = randomUUID()
    const extra = this.#extra[path]
    let target: Target | null
    try {
      target = extra !== undefined ? null : route(method, path)
    } catch (err) {
      req.resume()
      this.#fail(res, requestId, err)
      return true
    }
    if (target === null && extra === undefined) return false
    const op = target?.op ?? (path.split('/').pop() as string)
    res.setHeader('x-request-id', requestId)

    const principal = authFor(this.#authority.serving()).authenticate(req.headers.authorization)
    const need = target?.need ?? extra!.need
    const client = req.socket.remoteAddress ?? ''
    if (principal === null || !allows(principal.role, need)) {
      req.resume()
      const denied =
        principal === null
          ? new ApiError(401, 'unauthorized', 'a valid admin token is required (Authorization: Bearer <token>)', {}, { 'www-authenticate': 'Bearer' })
          : new ApiError(403, 'forbidden', `role ${principal.role} may not ${need === 'read' ? 'read' : 'change'} ${path}`)
      adminRequests.inc({ op, result: principal === null ? 'unauthorized' : 'forbidden' })
      if (need !== 'read') {
        this.#audit.record({ token: principal?.name ?? null, role: principal?.role ?? null, client, method, resource: path, status: denied.status, result: denied.code, dry_run: false, version_before: null, version_after: null })
      }
      this.#fail(res, requestId, denied)
      return true
    }
    if (extra !== undefined && !extra.methods.includes(method)) {
      req.resume()
      this.#fail(res, requestId, new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${path}`, {}, { allow: extra.methods.join(', ') }))
      return true
    }
    const query = new URLSearchParams(qs ?? '')
    // A HEAD on a fixed endpoint is its GET without the body (the handlers only know GET).
    const areq: ApiRequest = { method: extra !== undefined && method === 'HEAD' ? 'GET' : method, path, query, headers: req.headers, body: () => readBody(req), principal, requestId }
    // A handler that throws synchronously becomes a rejection (a 500), never an uncaught exception.
    const work = extra !== undefined ? Promise.resolve().then(() => extra.handle(areq)) : this.#serve(areq, target!, client)
    work.then(
      (r) => {
        adminRequests.inc({ op: query.get('dry_run') === 'true' ? 'dry_run' : op, result: r.status < 400 ? 'ok' : 'error' })
        if (method === 'HEAD') {
          res.writeHead(r.status, { 'cache-control': 'no-store', ...(r.headers ?? {}) })
          res.end()
        } else sendJson(res, r.status, r.body, r.headers)
      },
      (err: unknown) => {
        adminRequests.inc({ op: query.get('dry_run') === 'true' ? 'dry_run' : op, result: err instanceof ApiError ? err.code : 'error' })
        if (err instanceof ApiError && err.status === 413) res.once('finish', () => req.socket.destroy())
        else if (method !== 'GET' && method !== 'HEAD') req.resume()
        this.#fail(res, requestId, err)
      },
    )
    return true
  }

  #fail(res: http.ServerResponse, requestId: string, err: unknown): void {
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (!(err instanceof ApiError)) {
      this.#logger.error({ err, request_id: requestId }, 'admin API request failed')
      err = new ApiError(500, 'internal_error', 'the admin API failed; see the gateway log for this request id')
    }
    const e = err as ApiError
    res.setHeader('x-request-id', requestId)
    sendJson(res, e.status, { status: e.status, error: e.code, message: e.message, request_id: requestId, ...e.extra }, e.headers)
  }

  async #serve(req: ApiRequest, t: Target, client: string): Promise<ApiResponse> {
    if (t.need === 'read') return this.#read(t, await this.#authority.current())
    // One write at a time: the If-Match check and the swap see the same serving document.
    const run = this.#writes.then(() => this.#write(req, t, client))
    this.#writes = run.catch(() => undefined)
    return run
  }

  #read(t: Target, s: ConfigState): ApiResponse {
    if (t.kind === 'config') return { status: 200, body: { data: redact(s.doc), version: s.version }, headers: { etag: etagOf(s.doc) } }
    if (t.name === undefined) {
      const items = list(s.doc, t.kind)
      return { status: 200, body: { data: items.map((r) => redact(r)), total: items.length, version: s.version }, headers: { etag: etagOf(s.doc[t.kind] ?? null) } }
    }
    const r = get(s.doc, t.kind, t.name)
    if (r === undefined) throw new ApiError(404, 'not_found', `no ${NOUN[t.kind]} named "${t.name}"`)
    return { status: 200, body: { data: redact(r), version: s.version }, headers: { etag: etagOf(r) } }
  }

  async #write(req: ApiRequest, t: Target, client: string): Promise<ApiResponse> {
    const dryRun = req.query.get('dry_run') === 'true'
    const state = await this.#authority.current()
    const audit = (status: number, result: string, diff: Change[], after: number | null) =>
      this.#audit.record({
        token: req.principal.name,
        role: req.principal.role,
        client,
        method: req.method,
        resource: req.path,
        status,
        result,
        dry_run: dryRun,
        version_before: state.version,
        version_after: after,
        diff,
      })
    let next: Obj
    let created = false
    let name = t.name
    try {
      ;({ next, created, name } = await this.#compute(req, t, state.doc))
    } catch (err) {
      if (err instanceof ApiError) audit(err.status, err.code, [], null)
      throw err
    }
    const diff = changes(state.doc, next)
    const leftover = placeholdersLeft(next)
    if (leftover.length > 0) {
      const errors = leftover.map((path) => ({ path, message: 'holds the redacted placeholder "[REDACTED]" where no value exists yet; send the real value' }))
      audit(422, 'invalid', diff, null)
      throw new ApiError(422, 'config_invalid', `${errors.length} error${errors.length === 1 ? '' : 's'} in the submitted config`, { errors })
    }
    if (req.principal.role !== 'admin' && diff.some((c) => c.kind === 'settings' && c.name === 'admin')) {
      audit(403, 'forbidden', diff, null)
      throw new ApiError(403, 'forbidden', `role ${req.principal.role} may not change the admin section (tokens, listener, audit log)`)
    }
    const ok = (version: number, doc: Obj, status: number, extra: Obj = {}): ApiResponse => {
      const resource = t.kind === 'config' ? doc : name === undefined ? undefined : get(doc, t.kind, name)
      const body: Obj = { data: resource === undefined ? null : redact(resource), version, changes: diff.map(summary), ...extra }
      return { status, body, headers: resource === undefined ? {} : { etag: etagOf(resource) } }
    }

    if (dryRun) {
      const v = validateDocument(next)
      audit(v.ok ? 200 : 422, v.ok ? 'dry_run' : 'invalid', diff, null)
      if (!v.ok) throw invalid(v.errors, diff)
      return ok(state.version, next, 200, { dry_run: true, valid: true, errors: [] })
    }
    if (diff.length === 0) {
      audit(200, 'unchanged', diff, state.version)
      return ok(state.version, next, 200)
    }
    const r: ApplyResult = await this.#authority.apply(next, { basedOn: state.hash, trigger: 'admin' })
    if (!r.ok) {
      audit(r.reason === 'conflict' ? 409 : 422, r.reason, diff, null)
      if (r.reason === 'conflict' && req.headers['if-match'] !== undefined) {
        throw new ApiError(412, 'precondition_failed', 'another writer changed this resource first (the config center refused the write); read it again and retry')
      }
      if (r.reason === 'conflict') throw new ApiError(409, 'conflict', 'the serving config changed while this write was prepared (a file reload or another source); read it again and retry')
      if (r.reason === 'invalid') throw invalid(r.errors, diff)
      throw new ApiError(422, 'config_rejected', `the new config was not applied (the config source refused it, or the data plane could not load it; see errors); version ${state.version} keeps serving`, { errors: r.errors, changes: diff.map(summary) })
    }
    audit(created ? 201 : 200, 'ok', diff, r.version)
    return ok(r.version, next, t.op === 'delete' ? 200 : created ? 201 : 200, r.warnings.length > 0 ? { warnings: r.warnings } : {})
  }

  /** The document after this request, or an ApiError (400/404/409/412). */
  async #compute(req: ApiRequest, t: Target, doc: Obj): Promise<{ next: Obj; created: boolean; name: string | undefined }> {
    if (t.kind === 'config') {
      checkIfMatch(req.headers['if-match'], etagOf(doc), 'the config document')
      const body = await req.body()
      if (!isObj(body)) throw new ApiError(400, 'bad_request', 'the config document must be a JSON object')
      const incoming = t.op === 'patch' ? (mergePatch(doc, body) as Obj) : body
      return { next: restoreRedacted(incoming, doc) as Obj, created: false, name: undefined }
    }
    const kind = t.kind
    if (t.op === 'create') {
      const body = await req.body()
      if (!isObj(body) || typeof body.name !== 'string' || !NAME_RE.test(body.name)) {
        throw new ApiError(400, 'bad_request', `a new ${NOUN[kind]} needs a "name" (letters, digits, _ . @ -)`)
      }
      if (get(doc, kind, body.name) !== undefined) {
        throw new ApiError(409, 'already_exists', `a ${NOUN[kind]} named "${body.name}" exists; PUT /admin/${kind}/${encodeURIComponent(body.name)} replaces it`)
      }
      return { next: put(doc, kind, body.name, body), created: true, name: body.name }
    }
    const name = t.name!
    const existing = get(doc, kind, name)
    checkIfMatch(req.headers['if-match'], existing === undefined ? undefined : etagOf(existing), `${NOUN[kind]} "${name}"`)
    if (t.op === 'delete') {
      if (existing === undefined) throw new ApiError(404, 'not_found', `no ${NOUN[kind]} named "${name}"`)
      return { next: remove(doc, kind, name), created: false, name }
    }
    const body = await req.body()
    if (!isObj(body)) throw new ApiError(400, 'bad_request', `the ${NOUN[kind]} must be a JSON object`)
    if (body.name !== undefined && body.name !== name) {
      throw new ApiError(400, 'bad_request', `the body names "${String(body.name)}" but the URL names "${name}"; rename by creating the new one and deleting the old`)
    }
    if (t.op === 'patch') {
      if (existing === undefined) throw new ApiError(404, 'not_found', `no ${NOUN[kind]} named "${name}" to patch`)
      const patched = mergePatch(existing, body) as Obj
      return { next: put(doc, kind, name, restoreRedacted(patched, existing) as Obj), created: false, name }
    }
    return { next: put(doc, kind, name, restoreRedacted(body, existing) as Obj), created: existing === undefined, name }
  }
}

function invalid(errors: ApiConfigError[], diff: Change[]): ApiError {
  return new ApiError(422, 'config_invalid', `${errors.length} error${errors.length === 1 ? '' : 's'} in the submitted config; nothing was applied`, {
    errors,
    changes: diff.map(summary),
  })
}
