// Every operation the admin listener answers, as data: method, path, the role it needs, its
// parameters, bodies and statuses. The listener (server.ts) and the config API (api.ts) take their
// paths, methods, Allow headers and roles from here, and openapi.ts renders the same table as the
// OpenAPI document (schema/admin-openapi.json), so the document cannot describe another API than
// the one that runs. The console's static files (/ui) are not an API and are not listed.
import type { Need } from './auth.js'
import { KINDS, type Kind } from './resources.js'

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
type Schema = Record<string, unknown>

/** A component schema of the document (openapi.ts defines them from the config schema). */
export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })

export interface Reply {
  description: string
  /** A JSON body of this schema. */
  json?: Schema
  /** Other content types the reply may have (text formats of /status, metrics exposition). */
  text?: string[]
  /** The reply carries an ETag of what it shows. */
  etag?: boolean
}

export interface Operation {
  method: Method
  /** OpenAPI path template; `{name}` is a resource name. */
  path: string
  id: string
  summary: string
  tag: 'probes' | 'observability' | 'config' | Kind | 'tools' | 'operations'
  /** The role the operation needs; null = open (health probes). */
  need: Need | null
  /** Which server handles it: the listener itself (server.ts) or the config API (api.ts). */
  handler: 'listener' | 'api'
  description?: string
  query?: Array<{ name: string; description: string; schema: Schema }>
  ifMatch?: boolean
  dryRun?: boolean
  body?: { schema: Schema; mergePatch?: boolean }
  /** Replies besides the errors every authenticated operation can get (401, 403). */
  responses: Record<number, Reply>
}

/** The component schema of one resource as the API shows it. */
export const KIND_SCHEMA: Record<Kind, string> = { routes: 'Route', upstreams: 'Upstream', consumers: 'Consumer', plugins: 'PluginUse' }
const TITLE: Record<Kind, [string, string]> = {
  routes: ['route', 'Route'],
  upstreams: ['upstream', 'Upstream'],
  consumers: ['consumer', 'Consumer'],
  plugins: ['global plugin', 'GlobalPlugin'],
}

const err = (description: string): Reply => ({ description, json: ref('Error') })

const one = (schema: Schema, extra: Schema = {}): Schema => ({
  type: 'object',
  required: ['data', 'version'],
  properties: { data: schema, version: { type: 'integer', description: 'The serving config version.' }, ...extra },
})
const written = (schema: Schema): Schema =>
  one(
    { anyOf: [schema, { type: 'null' }], description: 'The resource (or document) after the write; null after a delete.' },
    {
      changes: { type: 'array', items: ref('Change') },
      dry_run: { const: true, description: 'Present on ?dry_run=true: nothing was applied.' },
      valid: { type: 'boolean' },
      errors: { type: 'array', items: ref('ConfigError') },
      warnings: { type: 'array', items: ref('ConfigError') },
    },
  )
const many = (schema: Schema): Schema => ({
  type: 'object',
  required: ['data', 'total', 'version'],
  properties: { data: { type: 'array', items: schema }, total: { type: 'integer' }, version: { type: 'integer' } },
})

const WRITE_ERRORS: Record<number, Reply> = {
  400: err('bad_request: the body is not JSON, the name is not valid, the body names another resource'),
  409: err('conflict: the serving config changed underneath (a file reload, another source); read again and retry'),
  412: err('precondition_failed: If-Match did not match (lost update); the body has current_etag'),
  413: err('payload_too_large: the body is over 32 MB'),
  415: err('unsupported_media_type: the body is not application/json (or application/merge-patch+json)'),
  422: err('config_invalid (validation errors, in `errors`) or config_rejected (the data plane could not load it); nothing was applied'),
  503: err('config_unavailable: the source no longer holds the serving document as written'),
}
const READ_ERRORS: Record<number, Reply> = { 503: err('config_unavailable: the source no longer holds the serving document as written') }

function configOps(): Operation[] {
  const base = { path: '/admin/config', tag: 'config', handler: 'api' } as const
  const read: Omit<Operation, 'method' | 'id' | 'summary'> = {
    ...base,
    need: 'read',
    responses: { 200: { description: 'The document as written (`${NAME}` references unresolved), secrets redacted.', json: one(ref('Config')), etag: true }, ...READ_ERRORS },
  }
  const write = (method: 'PUT' | 'PATCH', id: string, summary: string): Operation => ({
    ...base,
    method,
    id,
    summary,
    need: 'write',
    ifMatch: true,
    dryRun: true,
    body: method === 'PUT' ? { schema: ref('Config') } : { schema: { type: 'object', description: 'A JSON merge patch (RFC 7396) of the document.' }, mergePatch: true },
    responses: { 200: { description: 'Applied (or, with dry_run, what would change).', json: written(ref('Config')), etag: true }, ...WRITE_ERRORS },
  })
  return [
    { ...read, method: 'GET', id: 'getConfig', summary: 'The whole config document' },
    { ...read, method: 'HEAD', id: 'headConfig', summary: 'The ETag of the whole config document' },
    write('PUT', 'replaceConfig', 'Replace the whole config document'),
    write('PATCH', 'patchConfig', 'Merge-patch the whole config document'),
  ]
}

function kindOps(kind: Kind): Operation[] {
  const [noun, Noun] = TITLE[kind]
  const schema = ref(KIND_SCHEMA[kind])
  const coll = { path: `/admin/${kind}`, tag: kind, handler: 'api' } as const
  const item = { path: `/admin/${kind}/{name}`, tag: kind, handler: 'api' } as const
  const notFound = { 404: err(`not_found: no ${noun} of that name`) }
  const listReply = { 200: { description: `Every ${noun}, in document order.`, json: many(schema), etag: true }, ...READ_ERRORS }
  const readReply = { 200: { description: `The ${noun}, secrets redacted.`, json: one(schema), etag: true }, ...notFound, ...READ_ERRORS }
  const write = { need: 'write', ifMatch: true, dryRun: true } as const
  return [
    { ...coll, method: 'GET', id: `list${Noun}s`, summary: `List ${noun}s`, need: 'read', responses: listReply },
    { ...coll, method: 'HEAD', id: `head${Noun}s`, summary: `The ETag of the ${noun} list`, need: 'read', responses: listReply },
    {
      ...coll,
      ...write,
      ifMatch: false,
      method: 'POST',
      id: `create${Noun}`,
      summary: `Create a ${noun} (the body has its name)`,
      body: { schema },
      responses: { 201: { description: 'Created.', json: written(schema), etag: true }, 200: { description: 'Dry run: what would change.', json: written(schema), etag: true }, ...WRITE_ERRORS, 409: err(`already_exists: a ${noun} of that name exists (PUT replaces it), or conflict`) },
    },
    { ...item, method: 'GET', id: `get${Noun}`, summary: `One ${noun}`, need: 'read', responses: readReply },
    { ...item, method: 'HEAD', id: `head${Noun}`, summary: `The ETag of one ${noun}`, need: 'read', responses: readReply },
    {
      ...item,
      ...write,
      method: 'PUT',
      id: `replace${Noun}`,
      summary: `Create or replace a ${noun}`,
      body: { schema },
      responses: { 200: { description: 'Replaced (or, with dry_run, what would change).', json: written(schema), etag: true }, 201: { description: 'Created.', json: written(schema), etag: true }, ...WRITE_ERRORS },
    },
    {
      ...item,
      ...write,
      method: 'PATCH',
      id: `patch${Noun}`,
      summary: `Merge-patch a ${noun}`,
      body: { schema: { type: 'object', description: `A JSON merge patch (RFC 7396) of the ${noun}.` }, mergePatch: true },
      responses: { 200: { description: 'Patched (or, with dry_run, what would change).', json: written(schema), etag: true }, ...notFound, ...WRITE_ERRORS },
    },
    {
      ...item,
      ...write,
      method: 'DELETE',
      id: `delete${Noun}`,
      summary: `Delete a ${noun}`,
      responses: { 200: { description: 'Deleted (data is null), or with dry_run what would change.', json: written(schema) }, ...notFound, ...WRITE_ERRORS },
    },
  ]
}

const probe = (method: Method, path: string, id: string, summary: string, responses: Record<number, Reply>): Operation => ({
  method,
  path,
  id,
  summary,
  tag: 'probes',
  need: null,
  handler: 'listener',
  responses,
})
const HEALTH = { 200: { description: 'The process is alive.', json: ref('Health') } }
const READY = { 200: { description: 'Ready: the data plane serves.', json: ref('Readiness') }, 503: { description: 'Not ready (starting, draining, no config).', json: ref('Readiness') } }
const STATUS: Operation['responses'] = {
  200: { description: 'Status of this instance: config version, reloads, workers, routes, upstreams, certificates.', json: ref('Status'), text: ['text/plain', 'text/html'] },
  500: err('internal_error: status collection failed'),
}
const STATUS_QUERY = [{ name: 'format', description: 'json, text or html; default: html for browsers (Accept: text/html), else json.', schema: { enum: ['json', 'text', 'html'] } }]
const METRICS = { 200: { description: 'Prometheus text exposition 0.0.4, or OpenMetrics 1.0 with exemplars when the Accept header asks for application/openmetrics-text.', text: ['text/plain', 'application/openmetrics-text'] }, 500: err('internal_error: metrics collection failed') }
const OPENAPI = { 200: { description: 'This document.', json: { type: 'object', required: ['openapi', 'info', 'paths'] } } }

/** A GET and its HEAD (RFC 9110 §9.3.2: the same headers, no body), as every GET here has. */
function withHead(get: Operation): Operation[] {
  const id = `head${get.id.replace(/^get/, '')}`
  return [get, { ...get, method: 'HEAD', id, summary: `${get.summary} (headers only)` }]
}

export const OPERATIONS: readonly Operation[] = [
  probe('GET', '/healthz', 'getHealth', 'Liveness (open, no token)', HEALTH),
  probe('HEAD', '/healthz', 'headHealth', 'Liveness (open, no token)', HEALTH),
  probe('GET', '/readyz', 'getReadiness', 'Readiness (open, no token)', READY),
  probe('HEAD', '/readyz', 'headReadiness', 'Readiness (open, no token)', READY),
  { method: 'GET', path: '/status', id: 'getStatus', summary: 'Instance status', tag: 'observability', need: 'read', handler: 'listener', query: STATUS_QUERY, responses: STATUS },
  { method: 'HEAD', path: '/status', id: 'headStatus', summary: 'Instance status (headers only)', tag: 'observability', need: 'read', handler: 'listener', query: STATUS_QUERY, responses: STATUS },
  { method: 'GET', path: '/metrics', id: 'getMetrics', summary: 'Prometheus metrics of every worker', tag: 'observability', need: 'read', handler: 'listener', responses: METRICS },
  { method: 'HEAD', path: '/metrics', id: 'headMetrics', summary: 'Prometheus metrics (headers only)', tag: 'observability', need: 'read', handler: 'listener', responses: METRICS },
  ...configOps(),
  ...KINDS.flatMap(kindOps),
  ...withHead({ method: 'GET', path: '/admin/session', id: 'getSession', summary: 'Who the presented token is', tag: 'tools', need: 'read', handler: 'api', responses: { 200: { description: 'The token name and role.', json: { type: 'object', required: ['data'], properties: { data: ref('Principal') } } } } }),
  ...withHead({
    method: 'GET',
    path: '/admin/audit',
    id: 'getAudit',
    summary: "This process's latest audit records, newest first",
    tag: 'tools',
    need: 'write',
    handler: 'api',
    query: [{ name: 'limit', description: 'How many (default 100, at most 500).', schema: { type: 'integer', minimum: 1 } }],
    responses: { 200: { description: 'Audit records (from memory: empty after a restart; admin.audit_log keeps them all).', json: { type: 'object', required: ['data', 'total'], properties: { data: { type: 'array', items: ref('AuditRecord') }, total: { type: 'integer' } } } } },
  }),
  {
    method: 'POST',
    path: '/admin/explain',
    id: 'explain',
    summary: 'Which route a request would hit, and what it does with it',
    tag: 'tools',
    need: 'read',
    handler: 'api',
    body: { schema: ref('ExplainRequest') },
    responses: {
      200: { description: 'The explanation (a dry run of routing on the serving config; nothing is sent).', json: { type: 'object', required: ['data'], properties: { data: ref('Explanation') } } },
      400: err('bad_request: the body is not {method, url, headers?} or {route}'),
      413: err('payload_too_large'),
      415: err('unsupported_media_type'),
    },
  },
  ...withHead({
    method: 'GET',
    path: '/admin/fleet',
    id: 'getFleet',
    summary: 'Every instance registered in etcd, and which are behind',
    tag: 'observability',
    need: 'read',
    handler: 'api',
    description:
      'With the etcd config source (config_center.etcd.fleet, on by default) every instance keeps a record under a lease at <fleet prefix><node id>. Answered from this instance\'s copy of the fleet prefix, which it follows by watch (`synced: false` while etcd is unreachable).',
    responses: {
      200: { description: 'The records (by id), each with `behind` and `updated_ago_s`.', json: ref('Fleet') },
      409: err('fleet_unavailable: the config source is not etcd (the fleet view needs config_center.etcd), or config_center.etcd.fleet.enabled is false'),
    },
  }),
  ...withHead({
    method: 'GET',
    path: '/admin/installed-plugins',
    id: 'getInstalledPlugins',
    summary: 'Every plugin this gateway can run: the built-ins and the user plugins of PORTICO_PLUGINS',
    tag: 'tools',
    need: 'read',
    handler: 'api',
    description: 'What a config may name under `plugins:` (the console suggests these): each plugin with where it comes from, its phases, default priority, status and config schema (JSON Schema). Not the global plugins in use: those are GET /admin/plugins.',
    responses: { 200: { description: 'The installed plugins, built-ins first, each list by name.', json: { type: 'object', required: ['data', 'total'], properties: { data: { type: 'array', items: ref('InstalledPlugin') }, total: { type: 'integer' } } } } },
  }),
  ...withHead({ method: 'GET', path: '/admin/openapi.json', id: 'getOpenApi', summary: 'This OpenAPI document', tag: 'tools', need: 'read', handler: 'api', responses: OPENAPI }),
  {
    method: 'POST',
    path: '/admin/revocations',
    id: 'revoke',
    summary: 'Revoke a token by jti, or every token of a sub issued before a time',
    tag: 'operations',
    need: 'admin',
    handler: 'listener',
    body: { schema: ref('RevocationRequest') },
    responses: {
      201: { description: 'Stored in the shared Store; every worker of every instance applies it.', json: ref('Revoked') },
      400: err('bad_request: the body is not a valid revocation'),
      409: err('revocation_unavailable: no shared store (store.redis) is configured'),
      503: err('store_unavailable: the revocation could not be stored; nothing was revoked'),
    },
  },
  {
    method: 'DELETE',
    path: '/admin/cache',
    id: 'purgeCache',
    summary: "Purge the cache plugin's entries everywhere (every worker, second tier)",
    tag: 'operations',
    need: 'admin',
    handler: 'listener',
    query: [
      { name: 'key', description: 'One entry and its variants: host/path?query.', schema: { type: 'string', minLength: 1 } },
      { name: 'prefix', description: 'Every entry whose key starts with this (empty: everything). Give exactly one of key and prefix.', schema: { type: 'string' } },
    ],
    responses: {
      200: { description: 'What was purged.', json: ref('Purged') },
      400: err('bad_request: give exactly one of key or prefix'),
      404: err('route_not_found: this process has no cache to purge'),
      500: err('internal_error: the purge failed'),
    },
  },
]

/** The methods a path template answers, for Allow headers: 'GET, HEAD, PUT, PATCH'. */
export function allowOf(path: string): string {
  return OPERATIONS.filter((o) => o.path === path)
    .map((o) => o.method)
    .join(', ')
}

/** The listener's own endpoints (server.ts): path → method → the role it needs (null = open). */
export const LISTENER_ENDPOINTS: ReadonlyMap<string, ReadonlyMap<string, Need | null>> = (() => {
  const out = new Map<string, Map<string, Need | null>>()
  for (const o of OPERATIONS) {
    if (o.handler !== 'listener') continue
    let m = out.get(o.path)
    if (m === undefined) out.set(o.path, (m = new Map()))
    m.set(o.method, o.need)
  }
  return out
})()

/** One of the API's fixed endpoints (session, audit, explain, openapi): its methods and role. */
export function apiEndpoint(path: string): { methods: string[]; need: Need } {
  const ops = OPERATIONS.filter((o) => o.path === path && o.handler === 'api')
  const need = ops[0]?.need
  if (need === undefined || need === null) throw new Error(`no API operation for ${path} in operations.ts`)
  return { methods: ops.map((o) => o.method), need }
}
