// The admin API's OpenAPI 3.1 document, rendered from the operation table (operations.ts) and the
// config schema (config/schema/, the same TypeBox schema the validator and schema/portico.config.json
// come from). Served at GET /admin/openapi.json and committed as schema/admin-openapi.json by
// `npm run schema`; a test checks the committed file is fresh and every operation against a gateway.
import { ConfigSchema } from '../../config/schema/index.js'
import { PORTICO_VERSION } from '../../core/version.js'
import { OPERATIONS, ref, type Operation, type Reply } from './operations.js'
import { isSecretKey, REDACTED } from './redact.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Write-only fields read back as "[REDACTED]" (and may be sent back so, keeping the value): the
 * schema of every secret-named property also accepts the placeholder, so reads validate.
 */
function widenSecrets(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(widenSecrets)
  if (!isObj(s)) return s
  const out: Obj = {}
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' && isObj(v)) {
      out[k] = Object.fromEntries(
        Object.entries(v).map(([p, ps]) => {
          const w = widenSecrets(ps) as Obj
          if (!isSecretKey(p)) return [p, w]
          const { description, ...rest } = w
          return [p, { ...(description === undefined ? {} : { description: `${String(description)} Write-only: reads show "${REDACTED}".` }), anyOf: [rest, ref('Redacted')] }]
        }),
      )
    } else out[k] = widenSecrets(v)
  }
  return out
}

/** The resource schemas, cut out of the config schema; the Config component refers to them. */
function configComponents(): Record<string, Obj> {
  const { $id: _id, $schema: _s, ...root } = widenSecrets(JSON.parse(JSON.stringify(ConfigSchema))) as Obj
  const props = root.properties as Record<string, Obj>
  const route = (props.routes!.items as Obj)
  const consumer = props.consumers!.items as Obj
  const plugin = props.plugins!.items as Obj
  const [[namePattern, upstream]] = Object.entries(props.upstreams!.patternProperties as Record<string, Obj>) as [[string, Obj]]
  const { additionalProperties: _closed, ...open } = upstream
  const config: Obj = {
    ...root,
    properties: {
      ...props,
      routes: { ...props.routes, items: ref('Route') },
      consumers: { ...props.consumers, items: ref('Consumer') },
      plugins: { ...props.plugins, items: ref('PluginUse') },
      upstreams: { ...props.upstreams, patternProperties: { [namePattern]: ref('UpstreamSpec') } },
    },
  }
  return {
    Config: { ...config, description: 'The whole config document as written: `${NAME}` and `${file:…}` references are shown unresolved, secrets redacted.' },
    Route: route,
    // The API shows an upstream with its name inside (the file keys the map by it): both shapes
    // share the fields, closed with unevaluatedProperties instead of copying 27 kB of schema.
    UpstreamFields: open,
    UpstreamSpec: { description: upstream.description, allOf: [ref('UpstreamFields')], unevaluatedProperties: false },
    Upstream: {
      description: upstream.description,
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string', pattern: namePattern, description: 'The upstream name (its key in the file).' } },
      allOf: [ref('UpstreamFields')],
      unevaluatedProperties: false,
    },
    Consumer: consumer,
    PluginUse: plugin,
  }
}

const str = { type: 'string' }
const int = { type: 'integer' }
const nullable = (s: Obj): Obj => ({ anyOf: [s, { type: 'null' }] })

const REDACTED_STRING = [{ const: REDACTED }, { type: 'string', pattern: '^\\$\\{' }]

const API_SCHEMAS: Record<string, Obj> = {
  Redacted: {
    description: 'A write-only value as reads show it: the placeholder, or a ${env:NAME} / ${file:/path} reference as written. Sending it back keeps the stored value.',
    // Not recursive (generators choke on self-referencing unions): secrets are strings or lists of strings (key_auth).
    anyOf: [...REDACTED_STRING, { type: 'array', items: { anyOf: REDACTED_STRING } }],
  },
  Error: {
    description: 'Every error the admin listener answers (docs/errors.md); match on `error`, not on `message`.',
    type: 'object',
    required: ['status', 'error', 'message', 'request_id'],
    properties: {
      status: int,
      error: { ...str, description: 'Stable code: bad_request, unauthorized, forbidden, not_found, route_not_found, already_exists, conflict, precondition_failed, payload_too_large, unsupported_media_type, config_invalid, config_rejected, config_unavailable, …' },
      message: str,
      request_id: { ...str, description: 'Also in the x-request-id header.' },
      errors: { type: 'array', items: ref('ConfigError'), description: 'config_invalid / config_rejected: each problem with the document.' },
      changes: { type: 'array', items: ref('Change'), description: 'What the refused write would have changed.' },
      current_etag: { ...nullable(str), description: 'precondition_failed: the ETag now current (null: the resource is gone).' },
    },
  },
  ConfigError: {
    description: 'One problem with a document, in the shape a file gets (path, message, did-you-mean hint).',
    type: 'object',
    required: ['path', 'message'],
    properties: { path: { ...str, description: 'e.g. routes[2].timeouts.read' }, message: str, hint: str, file: str, line: int, column: int },
  },
  Change: {
    type: 'object',
    required: ['kind', 'name', 'op'],
    properties: { kind: { enum: ['routes', 'upstreams', 'consumers', 'plugins', 'settings'] }, name: str, op: { enum: ['create', 'update', 'delete'] } },
  },
  InstalledPlugin: {
    type: 'object',
    required: ['name', 'origin', 'phases', 'priority', 'status', 'schema'],
    properties: {
      name: str,
      origin: { enum: ['builtin', 'user'], description: 'user = loaded from PORTICO_PLUGINS (a path or package).' },
      phases: { type: 'array', items: str },
      priority: { ...int, description: 'Default priority inside its phases (higher runs first).' },
      status: { enum: ['stable', 'beta', 'experimental'] },
      schema: { type: 'object', description: "The JSON Schema a use's `config` is checked against." },
    },
  },
  Principal: { type: 'object', required: ['name', 'role'], properties: { name: str, role: { enum: ['admin', 'editor', 'viewer'] } } },
  AuditRecord: {
    type: 'object',
    required: ['time', 'token', 'role', 'client', 'method', 'resource', 'status', 'result', 'dry_run', 'version_before', 'version_after'],
    properties: {
      time: { ...str, format: 'date-time' },
      token: nullable(str),
      role: nullable(str),
      client: str,
      method: str,
      resource: str,
      status: int,
      result: str,
      dry_run: { type: 'boolean' },
      version_before: nullable(int),
      version_after: nullable(int),
      diff: { type: 'array', items: { type: 'object', required: ['kind', 'name', 'op'], properties: { kind: str, name: str, op: str, before: {}, after: {} } }, description: 'Resource bodies redacted.' },
    },
  },
  ExplainRequest: {
    description: 'A request (url, with method and headers), or a route by name (route alone): its compiled pipeline without matching.',
    type: 'object',
    additionalProperties: false,
    oneOf: [{ required: ['url'] }, { required: ['route'] }],
    properties: {
      method: { ...str, pattern: '^[A-Za-z]{1,20}$', default: 'GET' },
      url: { ...str, minLength: 1, maxLength: 8192, description: 'A path, or an absolute http(s) URL whose host is the Host.' },
      headers: { type: 'object', additionalProperties: str },
      route: { ...str, minLength: 1, maxLength: 256, description: 'A route name, instead of a request.' },
    },
  },
  Explanation: {
    oneOf: [
      {
        type: 'object',
        required: ['matched', 'route', 'params', 'plugins', 'phases', 'pipeline', 'upstream', 'targets', 'strip_prefix', 'upstream_path'],
        properties: {
          matched: { const: true },
          route: str,
          params: { type: 'object', additionalProperties: str },
          plugins: { type: 'array', items: str, description: 'In the order they first run.' },
          phases: { type: 'object', additionalProperties: { type: 'array' }, description: 'Phase → plugins in run order.' },
          pipeline: {
            type: 'array',
            description: 'The compiled pipeline: every (plugin, phase) step in the order a worker runs it (phase, then priority, highest first, then name). Consumer plugins join once an auth plugin identifies a consumer.',
            items: {
              type: 'object',
              required: ['name', 'phase', 'priority', 'from'],
              properties: { name: str, phase: { enum: ['rewrite', 'access', 'beforeUpstream', 'response', 'log'] }, priority: { type: 'number' }, from: { enum: ['global', 'route', 'consumer'] } },
            },
          },
          upstream: str,
          targets: { type: 'array', items: { type: 'object', required: ['upstream', 'url', 'weight'], properties: { upstream: str, url: str, weight: { type: 'number' } } } },
          strip_prefix: nullable(str),
          upstream_path: { ...nullable(str), description: 'null when a route was explained by name.' },
        },
      },
      {
        type: 'object',
        required: ['matched', 'status', 'error', 'message'],
        properties: { matched: { const: false }, status: { enum: [400, 404, 405] }, error: { enum: ['invalid_path', 'invalid_host', 'route_not_found', 'method_not_allowed'] }, message: str, allow: str },
      },
    ],
  },
  RevocationRequest: {
    description: 'Exactly one of jti (with exp) or sub (with before, ttl).',
    type: 'object',
    additionalProperties: false,
    properties: {
      jti: { ...str, minLength: 1, maxLength: 512 },
      exp: { ...int, minimum: 0, description: "The token's exp (unix seconds); default now + 24h." },
      sub: { ...str, minLength: 1, maxLength: 512 },
      before: { ...int, minimum: 0, description: 'Tokens issued before this (unix seconds); default now.' },
      ttl: { anyOf: [str, int], description: 'How long the revocation is kept (≥ the longest token lifetime), a duration; default 24h.' },
    },
  },
  Revoked: {
    type: 'object',
    required: ['revoked'],
    properties: {
      revoked: {
        anyOf: [
          { type: 'object', required: ['jti', 'until'], properties: { jti: str, until: int } },
          { type: 'object', required: ['sub', 'issued_before', 'for_ms'], properties: { sub: str, issued_before: int, for_ms: int } },
        ],
      },
    },
  },
  Purged: {
    type: 'object',
    required: ['purged'],
    properties: { purged: { type: 'object', required: ['memory', 'tier2', 'workers'], properties: { memory: int, tier2: int, workers: int } } },
  },
  FleetInstance: {
    description: 'One instance\'s record in etcd (written by the instance), with the answering instance\'s assessment.',
    type: 'object',
    required: ['id', 'hostname', 'pid', 'version', 'build', 'admin', 'listen', 'config', 'ready', 'started_at', 'updated_at', 'behind', 'updated_ago_s', 'self'],
    properties: {
      id: { ...str, description: 'config_center.etcd.fleet.node_id, or <hostname>-<pid>.' },
      hostname: str,
      pid: int,
      version: { ...str, description: 'Portico version.' },
      build: { ...nullable(str), description: 'PORTICO_BUILD of its environment (image tag, commit); null when unset.' },
      node: { ...str, description: 'Node.js version.' },
      admin: { ...nullable(str), description: 'The admin listener, host:port.' },
      listen: { type: 'array', items: { type: 'object', required: ['address', 'proto'], properties: { address: str, proto: str } }, description: 'Data-plane listeners as configured.' },
      config: {
        type: 'object',
        required: ['version', 'hash', 'revision', 'resources'],
        properties: {
          version: { ...int, description: "The instance's own config version (counts its reloads)." },
          hash: { ...str, description: 'Hash of its serving document (includes its bootstrap settings).' },
          revision: { ...nullable(str), description: 'The etcd revision its serving resources were read at.' },
          resources: { ...nullable(str), description: 'Hash of those resources: equal on instances serving the same etcd state.' },
        },
      },
      ready: { type: 'boolean' },
      health_detail: { ...nullable(str), description: 'Why not ready, or what /readyz notes.' },
      started_at: { ...str, format: 'date-time' },
      updated_at: { ...str, format: 'date-time', description: 'When the record was last written (a change of config or health, or a re-registration); keepalives do not write it.' },
      behind: { type: 'boolean', description: 'Its revision is older than the newest one any instance serves or this instance has read, with other resources.' },
      updated_ago_s: { type: 'number', description: "Seconds since updated_at, by the answering instance's clock." },
      self: { type: 'boolean', description: 'The instance that answered.' },
    },
  },
  Fleet: {
    type: 'object',
    required: ['data', 'total', 'behind', 'newest_revision', 'id', 'prefix', 'ttl_s', 'registered', 'synced'],
    properties: {
      data: { type: 'array', items: ref('FleetInstance') },
      total: int,
      behind: { ...int, description: 'How many are behind.' },
      newest_revision: { ...nullable(str), description: 'The newest etcd revision served by an instance or read by this one.' },
      id: { ...str, description: "This instance's id." },
      key: str,
      prefix: { ...str, description: 'The fleet prefix.' },
      ttl_s: int,
      registered: { type: 'boolean', description: 'This instance holds its record (false while re-registering after an etcd outage).' },
      synced: { type: 'boolean', description: 'This copy follows etcd now (false while etcd is unreachable: the last known records).' },
      last_error: nullable(str),
    },
  },
  Health: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } },
  Readiness: {
    type: 'object',
    required: ['status'],
    properties: { status: { enum: ['ready', 'not_ready'] }, reason: str, detail: { ...str, description: 'e.g. serving the last document while the config center is down.' } },
  },
  Status: {
    description: 'The /status document (docs/observability.md); more fields may be added.',
    type: 'object',
    required: ['version', 'mode', 'pid', 'ready', 'draining', 'config', 'workers', 'routes', 'upstreams'],
    properties: {
      version: str,
      mode: str,
      pid: int,
      uptime_s: { type: 'number' },
      ready: { type: 'boolean' },
      draining: { type: 'boolean' },
      config: { type: 'object', required: ['version', 'hash'], properties: { file: str, version: int, hash: str, loaded_at: str } },
      workers: { type: 'array', items: { type: 'object' } },
      routes: { type: 'array', items: { type: 'object' } },
      upstreams: { type: 'object' },
      certificates: { type: 'array', items: { type: 'object' } },
      acme: {
        type: 'array',
        description: 'ACME-managed certificates (primary only): next check, orders placed, failures in a row, the last error, the CA\'s ARI window.',
        items: {
          type: 'object',
          required: ['name', 'names', 'ordering', 'next_check', 'orders', 'failures', 'last_error'],
          properties: {
            name: str,
            names: { type: 'array', items: str },
            on_demand: { type: 'boolean' },
            ordering: { type: 'boolean' },
            next_check: nullable(str),
            orders: int,
            failures: int,
            last_error: nullable({ type: 'object', properties: { at: str, message: str } }),
            ari_window: nullable({ type: 'object', properties: { start: str, end: str } }),
          },
        },
      },
      config_center: { type: 'object', description: 'The config source (etcd, Consul, ZooKeeper, Apollo): connection, revision, isolated resources.' },
      fleet: {
        type: 'object',
        description: 'The fleet view (etcd source): this instance\'s registration and the fleet\'s size.',
        properties: { id: str, key: str, prefix: str, ttl_s: int, registered: { type: 'boolean' }, synced: { type: 'boolean' }, last_error: nullable(str), count: int, behind: int },
      },
    },
  },
}

const ERROR = { description: 'Error', content: { 'application/json': { schema: ref('Error') } } }

function response(r: Reply): Obj {
  const content: Obj = {}
  if (r.json !== undefined) content['application/json'] = { schema: r.json }
  for (const t of r.text ?? []) content[t] = { schema: { type: 'string' } }
  return {
    description: r.description,
    ...(r.etag === true ? { headers: { ETag: { $ref: '#/components/headers/ETag' } } } : {}),
    ...(Object.keys(content).length > 0 ? { content } : {}),
  }
}

function operation(o: Operation): Obj {
  const params: Obj[] = []
  if (o.path.includes('{name}')) params.push({ $ref: '#/components/parameters/Name' })
  if (o.ifMatch === true) params.push({ $ref: '#/components/parameters/IfMatch' })
  if (o.dryRun === true) params.push({ $ref: '#/components/parameters/DryRun' })
  for (const q of o.query ?? []) params.push({ in: 'query', name: q.name, description: q.description, schema: q.schema })
  const responses: Obj = {}
  for (const [status, r] of Object.entries(o.responses)) responses[status] = o.method === 'HEAD' ? { description: r.description, ...(r.etag === true ? { headers: { ETag: { $ref: '#/components/headers/ETag' } } } : {}) } : response(r)
  // Statuses every operation can get: the browser guard (403) and, behind a token, 401/403.
  if (o.path.includes('{name}')) responses['400'] ??= { ...ERROR, description: 'bad_request: the name is not valid' }
  if (o.need !== null) responses['401'] = { ...ERROR, description: 'unauthorized: no token, or not a known one' }
  responses['403'] = { ...ERROR, description: o.need === null ? 'forbidden: the browser guard refused it (a foreign Host, Origin or Sec-Fetch-Site)' : `forbidden: the role may not (needs ${ROLE[o.need]}), or the browser guard refused it` }
  if (o.method === 'HEAD') for (const s of ['400', '401', '403']) if (responses[s] !== undefined) responses[s] = { description: (responses[s] as Obj).description }
  const sorted = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)))
  const types = o.body?.mergePatch === true ? ['application/merge-patch+json', 'application/json'] : ['application/json']
  return {
    operationId: o.id,
    summary: o.summary,
    tags: [o.tag],
    ...(o.description === undefined ? {} : { description: o.description }),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(o.body === undefined ? {} : { requestBody: { required: true, content: Object.fromEntries(types.map((t) => [t, { schema: o.body!.schema }])) } }),
    responses: sorted,
    security: o.need === null ? [] : [{ bearer: [] }],
    'x-portico-role': o.need === null ? 'none' : ROLE[o.need],
  }
}

const ROLE = { read: 'viewer', write: 'editor', admin: 'admin' } as const

const DESCRIPTION = `The admin listener of a Portico gateway (docs/admin-api.md): health probes, status, metrics, and a REST API over the config document and its named resources.

- Reads carry an \`ETag\`; send it back as \`If-Match\` on a write to make it conditional (412 \`precondition_failed\` on a lost update; \`If-Match: *\` = it must exist).
- \`?dry_run=true\` on a write answers what would change and the validation result; nothing is applied.
- Every write goes through the validator a file goes through and the one reload pipeline: a document the data plane refuses leaves the last good one serving (422).
- Documents are shown as written: \`\${NAME}\` references unresolved (so a number may read as a reference string), write-only fields as "${REDACTED}".
- Tokens: \`Authorization: Bearer <token>\`, roles viewer (reads, /status, /metrics), editor (config writes except the admin section), admin (everything). Without any token configured the listener stays on loopback and is open.
- The web console's files under /ui are not part of this API.`

let cached: Obj | undefined

/** The OpenAPI 3.1 document of the admin API (built once; it depends only on the code). */
export function adminOpenApi(): Obj {
  if (cached !== undefined) return cached
  const paths: Record<string, Obj> = {}
  for (const o of OPERATIONS) (paths[o.path] ??= {})[o.method.toLowerCase()] = operation(o)
  cached = {
    openapi: '3.1.0',
    info: { title: 'Portico admin API', version: PORTICO_VERSION, description: DESCRIPTION, license: { name: 'Apache-2.0', identifier: 'Apache-2.0' } },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [{ url: 'http://127.0.0.1:9180', description: 'The default admin.listen' }],
    tags: [
      { name: 'probes', description: 'Open health probes for orchestrators.' },
      { name: 'observability', description: 'Status, metrics and the fleet view.' },
      { name: 'config', description: 'The whole config document.' },
      { name: 'routes' },
      { name: 'upstreams' },
      { name: 'consumers' },
      { name: 'plugins', description: 'Global plugins.' },
      { name: 'tools', description: 'Session, audit trail, explain, this document.' },
      { name: 'operations', description: 'Token revocation and cache purge (admin role).' },
    ],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An admin token (admin.token or one of admin.tokens, stored as SHA-256).' } },
      parameters: {
        Name: { in: 'path', name: 'name', required: true, description: 'The resource name.', schema: { type: 'string', pattern: '^[A-Za-z0-9_.@-]{1,128}$' } },
        IfMatch: { in: 'header', name: 'If-Match', required: false, description: 'The ETag of a read (or *): the write applies only if it is still current, else 412.', schema: { type: 'string' } },
        DryRun: { in: 'query', name: 'dry_run', required: false, description: 'true: validate and answer the changes; apply nothing.', schema: { type: 'boolean' } },
      },
      headers: { ETag: { description: 'A strong ETag of what the reply shows (or of the resource after a write).', schema: { type: 'string' } } },
      schemas: { ...configComponents(), ...API_SCHEMAS },
    },
    security: [{ bearer: [] }],
  }
  return cached
}

/** The committed file's text (schema/admin-openapi.json). */
export function adminOpenApiText(): string {
  return `${JSON.stringify(adminOpenApi(), null, 2)}\n`
}
