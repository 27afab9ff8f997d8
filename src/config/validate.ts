// Validation of a parsed, interpolated config document: the JSON Schema (Ajv) first, then what a
// schema cannot say (cross-references, regexes that must compile, addresses, plugin configs).
// Everything is collected so the user sees every problem in one run. This module knows nothing
// about YAML: it reports paths as segments and load.ts turns them into line:column.
import { adminExposureProblem } from './admin-rule.js'
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { isIP } from 'node:net'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { ConfigSchema, type TSchema } from './schema/index.js'
import { DOCUMENT_AJV_OPTIONS, schemaHash } from './document-ajv.js'
import { DURATION_PATTERN, SIZE_PATTERN, parseDuration, parseSize } from './units.js'
import { suggest } from './errors.js'
import { isAddressOrCidr, isHostPattern } from '../core/address.js'
import { checkAcme, checkListenerTls, checkUpstreamTls, parseEncryptionKey } from './tls-checks.js'

export type Segment = string | number

/** What validation needs of a plugin: its name, config schema and own checks (a PluginDefinition is one). */
export interface PluginSchema {
  readonly name: string
  readonly schema: TSchema
  /**
   * Checks of one use's config against the rest of the document, beyond what its schema can say
   * (a backend names a defined upstream; a policy needs store.redis). Called at validation only,
   * for an enabled use whose config passed its schema (defaults applied); never per request.
   */
  check?(config: never, ctx: PluginCheckContext): readonly PluginIssue[]
}

/** What a plugin's check sees: the document and the helpers for messages shaped like the validator's own. */
export interface PluginCheckContext {
  /** The whole document, as validated so far (read it, never change it). */
  readonly doc: Readonly<Record<string, unknown>>
  /** Names of the document's upstreams. */
  readonly upstreams: readonly string[]
  /** True when store.redis is configured (shared state across instances). */
  readonly sharedStore: boolean
  /** A value the user typed, quoted for a message; a value from a ${...} reference is not echoed. `path` is relative to the use's config. */
  show(path: readonly Segment[], value: string): string
  /** A did-you-mean hint, or undefined when nothing is near. */
  suggest(word: string, candidates: readonly string[], noun?: string): string | undefined
}

/** One problem a plugin's check found; `path` is relative to the use's `config`. */
export interface PluginIssue {
  path: Segment[]
  message: string
  hint?: string
}

/**
 * What the document is checked against beyond its schema, handed in by the caller so this floor
 * knows no plugin and no router: the plugins that may be named (built-ins, user plugins) and the
 * path-pattern grammar (router/). snapshot/document-checks.ts builds the usual one.
 */
export interface DocumentChecks {
  readonly plugins: ReadonlyMap<string, PluginSchema>
  /** A problem with a route path pattern, or null when it is valid. */
  pathPattern(pattern: string): string | null
}

/** One problem, located by path; load.ts adds file, line and column. */
export interface Issue {
  path: Segment[]
  message: string
  hint?: string
  /** Point at the key itself (unknown keys) rather than at its value. */
  at?: 'key' | 'value'
  /** Another place the message refers to ("first defined at line N"). */
  firstDefinedAt?: Segment[]
}

// The document validator, made on first use: the one scripts/build-validator.mjs generated next to
// this module when it was built from the same schema (a few ms to load), else compiled here (~200
// ms of CPU, which every process that validates a document paid at start). Processes that never
// validate a document (cluster workers are handed validated ones) pay neither.
let documentValidator: ValidateFunction | undefined

function validateDocument(doc: unknown): ErrorObject[] {
  documentValidator ??= prebuiltValidator() ?? new Ajv(DOCUMENT_AJV_OPTIONS).compile(ConfigSchema)
  return documentValidator(doc) ? [] : (documentValidator.errors ?? [])
}

function prebuiltValidator(): ValidateFunction | undefined {
  let mod: { default?: ValidateFunction; schemaHash?: string }
  try {
    mod = createRequire(import.meta.url)('./document-validator.cjs') as typeof mod
  } catch {
    return undefined // not built (src/ run through tsx)
  }
  return mod.schemaHash === schemaHash(ConfigSchema) ? mod.default : undefined
}

// Plugin configs DO get defaults, so a plugin's create() receives a complete config. Strict mode is
// off because plugin schemas come from plugin authors and may carry defaults inside unions or
// keywords Ajv does not know; a plugin is not refused for that.
const pluginAjv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false })
const pluginValidators = new WeakMap<PluginSchema, ValidateFunction>()

function pluginValidator(def: PluginSchema): ValidateFunction {
  let v = pluginValidators.get(def)
  if (v === undefined) {
    v = pluginAjv.compile(def.schema)
    pluginValidators.set(def, v)
  }
  return v
}

/** "routes[2].plugins[0].config.origins"; keys that would be ambiguous are quoted. */
export function formatPath(path: readonly Segment[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (/^[A-Za-z0-9_$-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`
    else out += `[${JSON.stringify(seg)}]`
  }
  return out
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Validates `doc` in place: plugin configs get their defaults (an omitted `config` becomes the
 * defaulted object). `interpolated` holds formatPath() of every value that came from the
 * environment: such values are never quoted in a message, since they may be secrets.
 */
export function validateConfig(doc: unknown, interpolated: ReadonlySet<string>, checks: DocumentChecks): Issue[] {
  const issues: Issue[] = []
  const errors = validateDocument(doc)
  if (errors.length > 0) issues.push(...translate(errors, doc, []))
  checkUnits(ConfigSchema, doc, [], issues)
  if (isObj(doc)) crossCheck(doc, interpolated, checks, issues)
  return dedupe(issues)
}

// ---------------------------------------------------------------------------------------------
// Ajv errors → human messages

function translate(errors: readonly ErrorObject[], data: unknown, prefix: Segment[]): Issue[] {
  // A failed union yields one error per branch plus the anyOf error itself. The user gets one
  // message for the union, so every error raised inside a failed anyOf is dropped.
  const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`)
  const out: Issue[] = []
  for (const e of errors) {
    if (unions.some((u) => e.schemaPath.startsWith(u))) continue
    const path = [...prefix, ...toSegments(e.instancePath, data)]
    const schema = e.schema as unknown
    const parent = (e.parentSchema ?? {}) as Obj
    const p = e.params as Obj
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(p.additionalProperty)
        const pattern = firstPatternProperty(parent)
        if (pattern !== undefined) {
          out.push({ path: [...path, key], at: 'key', message: `key "${key}" ${describePattern(pattern)}` })
        } else {
          const allowed = isObj(parent.properties) ? Object.keys(parent.properties) : []
          out.push({ path: [...path, key], at: 'key', message: `unknown key "${key}"`, ...hint(suggest(key, allowed)) })
        }
        break
      }
      case 'required':
        out.push({ path, message: `missing required key "${String(p.missingProperty)}"` })
        break
      case 'anyOf': {
        const branches = Array.isArray(schema) ? (schema as Obj[]) : []
        const consts = branches.map((b) => b.const).filter((c): c is string => typeof c === 'string')
        const near = typeof e.data === 'string' && consts.length > 0 ? suggest(e.data, consts) : undefined
        out.push({ path, message: `must be ${describeUnion(branches)}`, ...hint(near?.startsWith('did') === true ? near : undefined) })
        break
      }
      case 'const':
        out.push({ path, message: `must be ${JSON.stringify(p.allowedValue)}` })
        break
      case 'enum':
        out.push({ path, message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` })
        break
      case 'type':
        out.push({ path, message: `must be ${describeType(String(p.type))}` })
        break
      case 'pattern':
        out.push({ path, message: describePattern(String(p.pattern)) })
        break
      case 'minItems':
        out.push({ path, message: `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}` })
        break
      case 'maxItems':
        out.push({ path, message: `must have at most ${String(p.limit)} items` })
        break
      case 'minProperties':
      case 'maxProperties': {
        // config_center: one of its keys, no more, no less; the keys are the schema's properties.
        const keys = Object.keys((parent.properties as Record<string, unknown> | undefined) ?? {})
        out.push({ path, message: parent.minProperties === 1 && parent.maxProperties === 1 ? `takes exactly one of ${keys.join(', ')}` : (e.message ?? `fails ${e.keyword}`) })
        break
      }
      case 'minLength':
        out.push({ path, message: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long` })
        break
      case 'maxLength':
        out.push({ path, message: `must be at most ${String(p.limit)} characters long` })
        break
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        out.push({ path, message: `must be ${String(p.comparison)} ${String(p.limit)}` })
        break
      case 'if':
        // "must match then schema" says nothing: the errors inside the then-branch say what is wrong.
        break
      case 'not':
        // A `not` schema states why in its description (e.g. cors: "*" with credentials: true).
        out.push({ path, message: typeof parent.description === 'string' ? `must not be this value: ${parent.description}` : (e.message ?? 'must NOT be valid') })
        break
      default:
        // Ajv's own wording for the rare keywords; it never includes the value.
        out.push({ path, message: e.message ?? `fails ${e.keyword}` })
    }
  }
  return out
}

const hint = (h: string | undefined): { hint?: string } => (h === undefined ? {} : { hint: h })

/** Turns a JSON pointer into segments, using the data to tell array indexes from keys. */
function toSegments(pointer: string, data: unknown): Segment[] {
  if (pointer === '') return []
  const out: Segment[] = []
  let cur: unknown = data
  for (const raw of pointer.slice(1).split('/')) {
    const tok = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(cur)) {
      out.push(Number(tok))
      cur = cur[Number(tok)]
    } else {
      out.push(tok)
      cur = isObj(cur) ? cur[tok] : undefined
    }
  }
  return out
}

function firstPatternProperty(schema: Obj): string | undefined {
  return isObj(schema.patternProperties) ? Object.keys(schema.patternProperties)[0] : undefined
}

// Patterns used by the schema, said the way a user would say them.
const PATTERN_WORDS: Record<string, string> = {
  '^[A-Za-z0-9_.-]+$': 'may contain only letters, digits, "_", "." and "-"',
  '^https?://': 'must start with http:// or https://',
  '^/': 'must start with "/"',
  '^[A-Z]+$': 'must be an upper-case HTTP method like GET',
  [DURATION_PATTERN]: 'must be a duration like 250ms, 2s, 5m',
  [SIZE_PATTERN]: 'must be a size like 512b, 64kb, 10mb',
}

function describePattern(pattern: string): string {
  return PATTERN_WORDS[pattern] ?? `must match the pattern ${pattern}`
}

function describeType(type: string): string {
  switch (type) {
    case 'object':
      return 'a mapping (key: value)'
    case 'array':
      return 'a list'
    case 'integer':
      return 'an integer'
    default:
      return `a ${type}`
  }
}

function describeUnion(branches: readonly Obj[]): string {
  const patterns = branches.map((b) => b.pattern)
  if (patterns.includes(DURATION_PATTERN)) return 'a duration like 250ms, 2s, 5m or integer milliseconds'
  if (patterns.includes(SIZE_PATTERN)) return 'a size like 512b, 64kb, 10mb or integer bytes'
  if (branches.length > 0 && branches.every((b) => b.const !== undefined)) {
    return `one of ${branches.map((b) => JSON.stringify(b.const)).join(', ')}`
  }
  return branches.map(describeBranch).join(' or ')
}

function describeBranch(b: Obj): string {
  if (b.const !== undefined) return JSON.stringify(b.const)
  if (typeof b.pattern === 'string') return `a string that ${describePattern(b.pattern).replace(/^must /, 'must ')}`
  const type = String(b.type ?? 'value')
  const min = typeof b.minimum === 'number' ? b.minimum : undefined
  const max = typeof b.maximum === 'number' ? b.maximum : undefined
  if ((type === 'integer' || type === 'number') && min !== undefined && max !== undefined) return `${describeType(type)} from ${min} to ${max}`
  if (type === 'string' && b.minLength === 1) return 'a non-empty string'
  return describeType(type)
}

// ---------------------------------------------------------------------------------------------
// Durations and sizes: the schema checks their shape; here they are parsed exactly as the
// compiler will parse them, and refused when they would not work as a Node timer / byte count.

/** Node clamps longer timers to 1ms (with a warning), so a too-long timeout would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1
const DURATION_RE = new RegExp(DURATION_PATTERN)
const SIZE_RE = new RegExp(SIZE_PATTERN)

function unitKind(schema: Obj): 'duration' | 'size' | undefined {
  if (!Array.isArray(schema.anyOf)) return undefined
  const patterns = (schema.anyOf as Obj[]).map((b) => b.pattern)
  if (patterns.includes(DURATION_PATTERN)) return 'duration'
  if (patterns.includes(SIZE_PATTERN)) return 'size'
  return undefined
}

/** Walks data and schema together and checks every value whose schema is a Duration or a Size. */
function checkUnits(schema: TSchema | Obj, data: unknown, path: Segment[], issues: Issue[]): void {
  const s = schema as Obj
  const kind = unitKind(s)
  if (kind === 'duration') {
    const ms = typeof data === 'number' ? data : typeof data === 'string' && DURATION_RE.test(data) ? parseDuration(data) : undefined
    if (ms !== undefined && ms > MAX_TIMER_MS) {
      issues.push({ path, message: `must be at most ${MAX_TIMER_MS}ms (about 24.8 days), the longest timer Node can set` })
    }
    return
  }
  if (kind === 'size') {
    const bytes = typeof data === 'number' ? data : typeof data === 'string' && SIZE_RE.test(data) ? parseSize(data) : undefined
    if (bytes !== undefined && !Number.isSafeInteger(bytes)) issues.push({ path, message: 'is too large' })
    return
  }
  if (isObj(data)) {
    const props = isObj(s.properties) ? s.properties : {}
    const patternProps = isObj(s.patternProperties) ? Object.values(s.patternProperties) : []
    for (const [k, v] of Object.entries(data)) {
      const sub = (Object.hasOwn(props, k) ? props[k] : patternProps[0]) as Obj | undefined
      if (isObj(sub)) checkUnits(sub, v, [...path, k], issues)
    }
  } else if (Array.isArray(data) && isObj(s.items)) {
    data.forEach((v, i) => checkUnits(s.items as Obj, v, [...path, i], issues))
  }
}

// ---------------------------------------------------------------------------------------------
// Cross-references and values the schema cannot check

/** Registered method names (RFC 9110 §9, PATCH RFC 5789, WebDAV RFC 4918): a typo like GTE is refused. */
const KNOWN_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK']

function crossCheck(doc: Obj, interpolated: ReadonlySet<string>, checks: DocumentChecks, issues: Issue[]): void {
  // Names the user typed are quoted back, unless they came from a ${...} reference (environment or secret file).
  const show = (path: Segment[], value: string): string => (interpolated.has(formatPath(path)) ? '(value from a ${...} reference)' : JSON.stringify(value))

  const upstreams = isObj(doc.upstreams) ? doc.upstreams : {}
  for (const [name, up] of Object.entries(upstreams)) {
    if (isObj(up)) checkUpstream(up, ['upstreams', name], issues)
    if (isObj(up)) checkUpstreamTls(up, ['upstreams', name], issues)
  }
  const upstreamNames = Object.keys(upstreams)
  const site: UseSite = { doc, upstreams: upstreamNames, show, checks, sharedStore: isObj(doc.store) && isObj(doc.store.redis) }

  checkAcme(doc.acme, site.sharedStore, issues)
  const sealing = isObj(doc.config_center) && isObj(doc.config_center.etcd) ? doc.config_center.etcd.secrets : undefined
  if (isObj(sealing)) {
    const keys: Array<[unknown, Segment[]]> = [[sealing.encryption_key, ['config_center', 'etcd', 'secrets', 'encryption_key']]]
    if (Array.isArray(sealing.previous_encryption_keys)) sealing.previous_encryption_keys.forEach((k, i) => keys.push([k, ['config_center', 'etcd', 'secrets', 'previous_encryption_keys', i]]))
    for (const [k, path] of keys) {
      if (typeof k !== 'string') continue
      try {
        parseEncryptionKey(k)
      } catch (err) {
        issues.push({ path, message: (err as Error).message }) // never quotes the value: a secret
      }
    }
  }
  const server = doc.server
  if (isObj(server)) {
    checkListen(server.listen, ['server', 'listen'], issues)
    if (Array.isArray(server.listeners)) {
      if (server.listen !== undefined) issues.push({ path: ['server', 'listeners'], message: 'set server.listen or server.listeners, not both', at: 'key' })
      server.listeners.forEach((l, i) => {
        if (!isObj(l)) return
        checkListen(l.listen, ['server', 'listeners', i, 'listen'], issues)
        checkListenerTls(l, ['server', 'listeners', i], issues)
        checkListenerProtocols(l, ['server', 'listeners', i], issues)
      })
    }
    if (Array.isArray(server.trusted_proxies)) {
      server.trusted_proxies.forEach((v, i) => {
        if (typeof v === 'string' && !isAddressOrCidr(v)) {
          issues.push({ path: ['server', 'trusted_proxies', i], message: 'must be an IPv4/IPv6 address or CIDR like 10.0.0.0/8 or fd00::/8' })
        }
      })
    }
  }
  if (isObj(doc.admin)) {
    const before = issues.length
    checkListen(doc.admin.listen, ['admin', 'listen'], issues)
    const { listen, token, tokens } = doc.admin
    // The same rule `start` applies (config/admin-rule.ts), so validate is exactly as strict.
    if (issues.length === before && (listen === undefined || typeof listen === 'string' || typeof listen === 'number') && (token === undefined || typeof token === 'string')) {
      let problem: string | undefined
      try {
        problem = adminExposureProblem(listen, token, Array.isArray(tokens) && tokens.length > 0)
      } catch (err) {
        problem = (err as Error).message
      }
      if (problem !== undefined) issues.push({ path: ['admin', 'listen'], message: problem })
    }
  }

  const firstByName = new Map<string, number>()
  const routes = Array.isArray(doc.routes) ? doc.routes : []
  routes.forEach((route, i) => {
    if (!isObj(route)) return
    const at = (...rest: Segment[]): Segment[] => ['routes', i, ...rest]
    if (typeof route.name === 'string') {
      const first = firstByName.get(route.name)
      if (first === undefined) firstByName.set(route.name, i)
      else issues.push({ path: at('name'), message: `duplicate route name ${show(at('name'), route.name)}`, firstDefinedAt: ['routes', first, 'name'] })
    }
    if (typeof route.upstream === 'string' && !Object.hasOwn(upstreams, route.upstream)) {
      issues.push({
        path: at('upstream'),
        message: `unknown upstream ${show(at('upstream'), route.upstream)}`,
        ...hint(upstreamNames.length === 0 ? 'no upstreams are defined' : suggest(route.upstream, upstreamNames, 'defined upstreams')),
      })
    }
    checkSplit(route, at, upstreams, upstreamNames, show, issues)
    if (Array.isArray(route.methods)) {
      route.methods.forEach((m, j) => {
        if (typeof m !== 'string' || KNOWN_METHODS.includes(m) || !/^[A-Z]+$/.test(m)) return
        const near = suggest(m, KNOWN_METHODS)
        issues.push({ path: at('methods', j), message: `unknown method ${show(at('methods', j), m)}: methods are RFC 9110 §9 (and PATCH, WebDAV) names`, ...hint(near?.startsWith('did') === true ? near : undefined) })
      })
    }
    if (Array.isArray(route.paths)) {
      route.paths.forEach((p, j) => {
        if (typeof p !== 'string' || p === '') return
        const problem = checks.pathPattern(p)
        if (problem !== null) issues.push({ path: at('paths', j), message: problem })
      })
    }
    if (Array.isArray(route.hosts)) {
      route.hosts.forEach((h, j) => {
        if (typeof h === 'string' && h !== '' && !isHostPattern(h)) {
          issues.push({ path: at('hosts', j), message: 'must be a hostname like api.example.com or a wildcard like *.example.com' })
        }
      })
    }
    if (isObj(route.headers)) {
      for (const [name, value] of Object.entries(route.headers)) {
        if (typeof value === 'string' && value.startsWith('~')) checkRegex(value.slice(1), at('headers', name), issues)
      }
    }
    if (isObj(route.rewrite) && typeof route.rewrite.pattern === 'string' && route.rewrite.pattern !== '') {
      checkRegex(route.rewrite.pattern, at('rewrite', 'pattern'), issues)
    }
    if (Array.isArray(route.plugins)) route.plugins.forEach((use, j) => checkPluginUse(use, at('plugins', j), site, issues))
  })

  if (Array.isArray(doc.plugins)) doc.plugins.forEach((use, j) => checkPluginUse(use, ['plugins', j], site, issues))
  checkRedisTopology(doc, issues)
  if (Array.isArray(doc.consumers)) checkConsumers(doc.consumers, show, site, issues)
}

/** Unique names, unique keys and key ids (one credential must identify one consumer), well-formed hashes. */
function checkConsumers(consumers: unknown[], show: (p: Segment[], v: string) => string, site: UseSite, issues: Issue[]): void {
  const names = new Map<string, number>()
  const keys = new Map<string, Segment[]>()
  const keyIds = new Map<string, Segment[]>()
  consumers.forEach((c, i) => {
    if (!isObj(c)) return
    const at = (...rest: Segment[]): Segment[] => ['consumers', i, ...rest]
    if (typeof c.name === 'string') {
      const first = names.get(c.name)
      if (first === undefined) names.set(c.name, i)
      else issues.push({ path: at('name'), message: `duplicate consumer name ${show(at('name'), c.name)}`, firstDefinedAt: ['consumers', first, 'name'] })
    }
    const creds = isObj(c.credentials) ? c.credentials : {}
    if (Array.isArray(creds.key_auth)) {
      creds.key_auth.forEach((k, j) => {
        if (typeof k !== 'string') return
        const path = at('credentials', 'key_auth', j)
        let hash: string
        if (k.startsWith('sha256:')) {
          if (!/^sha256:[0-9a-fA-F]{64}$/.test(k)) return void issues.push({ path, message: 'a "sha256:" key must be followed by 64 hex digits' })
          hash = k.slice(7).toLowerCase()
        } else hash = createHash('sha256').update(k).digest('hex')
        const first = keys.get(hash)
        // Never quote a key back: it is a secret.
        if (first === undefined) keys.set(hash, path)
        else issues.push({ path, message: 'this API key is already used by another credential', firstDefinedAt: first })
      })
    }
    if (Array.isArray(creds.hmac_auth)) {
      creds.hmac_auth.forEach((h, j) => {
        if (!isObj(h) || typeof h.key_id !== 'string') return
        const path = at('credentials', 'hmac_auth', j, 'key_id')
        const first = keyIds.get(h.key_id)
        if (first === undefined) keyIds.set(h.key_id, path)
        else issues.push({ path, message: `duplicate hmac key_id ${show(path, h.key_id)}`, firstDefinedAt: first })
      })
    }
    if (Array.isArray(c.plugins)) c.plugins.forEach((use, j) => checkPluginUse(use, at('plugins', j), site, issues))
  })
}

/** store.redis names exactly one topology: url (one node), cluster or sentinel. */
function checkRedisTopology(doc: Obj, issues: Issue[]): void {
  if (!isObj(doc.store) || !isObj(doc.store.redis)) return
  const r = doc.store.redis
  const given = (['url', 'cluster', 'sentinel'] as const).filter((k) => r[k] !== undefined)
  if (given.length !== 1) {
    issues.push({
      path: ['store', 'redis'],
      message: given.length === 0 ? 'needs one of url, cluster or sentinel' : `names ${given.join(' and ')}: choose one topology`,
      hint: 'url: redis://host:6379 | cluster: { nodes: [host:port, …] } | sentinel: { sentinels: [host:port, …], name: mymaster }',
    })
  }
  checkRedisTls(r.tls, ['store', 'redis', 'tls'], issues)
  if (isObj(r.sentinel)) checkRedisTls(r.sentinel.tls, ['store', 'redis', 'sentinel', 'tls'], issues)
}

/** A redis TLS block: each PEM given once (file or inline), and a client certificate with its key. */
function checkRedisTls(t: unknown, path: Segment[], issues: Issue[]): void {
  if (!isObj(t)) return
  for (const what of ['ca', 'cert', 'key'] as const) {
    if (t[what] !== undefined && t[`${what}_file`] !== undefined) issues.push({ path: [...path, what], message: `${what} and ${what}_file name the same thing; keep one`, at: 'key' })
  }
  const cert = t.cert !== undefined || t.cert_file !== undefined
  const key = t.key !== undefined || t.key_file !== undefined
  if (cert !== key) issues.push({ path, message: 'a client certificate needs both cert_file (or cert) and key_file (or key)' })
}

/** upstream xor upstreams; split entries name defined upstreams once each; overrides name one of them. */
function checkSplit(route: Obj, at: (...rest: Segment[]) => Segment[], upstreams: Obj, upstreamNames: string[], show: (p: Segment[], v: string) => string, issues: Issue[]): void {
  const hasOne = route.upstream !== undefined
  const list = Array.isArray(route.upstreams) ? route.upstreams : undefined
  if (hasOne && list !== undefined) {
    issues.push({ path: at('upstreams'), message: 'a route has either upstream or upstreams (a traffic split), not both' })
  } else if (!hasOne && route.upstreams === undefined) {
    issues.push({ path: at(), message: 'a route needs upstream (or upstreams, for a traffic split)' })
  }
  if (route.split !== undefined && list === undefined) {
    issues.push({ path: at('split'), message: 'split only applies to a route with upstreams (a traffic split)', hint: 'replace upstream: X with upstreams: [{ name: X, weight: … }, …]' })
  }
  if (list === undefined) return
  const seen = new Map<string, number>()
  let total = 0
  list.forEach((u, j) => {
    if (!isObj(u) || typeof u.name !== 'string') return
    if (typeof u.weight === 'number') total += u.weight
    const first = seen.get(u.name)
    if (first !== undefined) issues.push({ path: at('upstreams', j, 'name'), message: `upstream ${show(at('upstreams', j, 'name'), u.name)} is listed twice`, firstDefinedAt: at('upstreams', first, 'name') })
    else seen.set(u.name, j)
    if (!Object.hasOwn(upstreams, u.name)) {
      issues.push({
        path: at('upstreams', j, 'name'),
        message: `unknown upstream ${show(at('upstreams', j, 'name'), u.name)}`,
        ...hint(upstreamNames.length === 0 ? 'no upstreams are defined' : suggest(u.name, upstreamNames, 'defined upstreams')),
      })
    }
  })
  if (list.length > 0 && total <= 0) issues.push({ path: at('upstreams'), message: 'every upstream of the split has weight 0, so nothing would get traffic' })
  const split = route.split
  if (!isObj(split) || !Array.isArray(split.overrides)) return
  split.overrides.forEach((o, j) => {
    if (!isObj(o)) return
    if ((o.header === undefined) === (o.cookie === undefined)) issues.push({ path: at('split', 'overrides', j), message: 'an override looks at exactly one of header and cookie' })
    if (typeof o.upstream === 'string' && !seen.has(o.upstream)) {
      issues.push({
        path: at('split', 'overrides', j, 'upstream'),
        message: `${show(at('split', 'overrides', j, 'upstream'), o.upstream)} is not one of this route's upstreams`,
        ...hint(suggest(o.upstream, [...seen.keys()], "the route's upstreams")),
      })
    }
  })
}

const DISCOVERY_KINDS = ['dns', 'etcd', 'consul', 'nacos', 'zookeeper', 'kubernetes']

/** h2 is HTTP/2 over TLS (https:// targets), h2c over cleartext (http://): a mismatch is a mistake, not a fallback. */
function checkProtocol(up: Obj, path: Segment[], issues: Issue[]): void {
  const p = up.protocol
  const hc = up.health_checks
  if (p !== 'h2' && p !== 'h2c') {
    // grpc.health.v1 is a gRPC call: HTTP/2 only.
    if (isObj(hc) && isObj(hc.active) && hc.active.type === 'grpc') {
      issues.push({ path: [...path, 'health_checks', 'active', 'type'], message: 'a grpc health check is a gRPC call, which needs HTTP/2: set the upstream\'s protocol to h2c (cleartext) or h2 (TLS)' })
    }
    return
  }
  const want = p === 'h2' ? 'https' : 'http'
  const why = p === 'h2' ? 'protocol h2 is HTTP/2 over TLS: targets are https:// (h2c is the cleartext one)' : 'protocol h2c is HTTP/2 over cleartext: targets are http:// (h2 is the TLS one)'
  if (Array.isArray(up.targets)) {
    up.targets.forEach((t, i) => {
      if (isObj(t) && typeof t.url === 'string' && /^https?:\/\//.test(t.url) && !t.url.startsWith(`${want}://`)) issues.push({ path: [...path, 'targets', i, 'url'], message: why })
    })
  }
  if (isObj(up.discovery)) {
    // etcd records carry whole URLs (checked by nobody but the operator); the others take `scheme`, default http.
    for (const [k, d] of Object.entries(up.discovery)) {
      if (isObj(d) && k !== 'etcd' && (d.scheme ?? 'http') !== want) issues.push({ path: [...path, 'discovery', k, 'scheme'], message: `${why}; set scheme: ${want}` })
    }
  }
}

function checkUpstream(up: Obj, path: Segment[], issues: Issue[]): void {
  const disc = up.discovery
  if (up.targets !== undefined && disc !== undefined) {
    issues.push({ path: [...path, 'discovery'], message: 'an upstream has either targets (static) or discovery, not both' })
  } else if (up.targets === undefined && disc === undefined) {
    issues.push({ path, message: 'an upstream needs targets (or discovery: { dns: … } / { etcd: … })' })
  }
  checkProtocol(up, path, issues)
  if (isObj(disc)) {
    const kinds = DISCOVERY_KINDS.filter((k) => disc[k] !== undefined)
    if (kinds.length !== 1) {
      issues.push({ path: [...path, 'discovery'], message: kinds.length === 0 ? `discovery needs one of ${DISCOVERY_KINDS.join(', ')}` : `discovery takes exactly one of ${DISCOVERY_KINDS.join(', ')}` })
    }
    for (const k of ['nacos', 'zookeeper'] as const) {
      const d = disc[k]
      if (isObj(d) && (d.username === undefined) !== (d.password === undefined)) issues.push({ path: [...path, 'discovery', k], message: 'username and password go together' })
    }
    const nacos = disc.nacos
    if (isObj(nacos) && (nacos.access_key === undefined) !== (nacos.secret_key === undefined)) issues.push({ path: [...path, 'discovery', 'nacos'], message: 'access_key and secret_key go together' })
    const k8s = disc.kubernetes
    if (isObj(k8s) && k8s.kubeconfig !== undefined && k8s.api_server !== undefined) issues.push({ path: [...path, 'discovery', 'kubernetes'], message: 'api_server is for the in-cluster config; with kubeconfig the server comes from the file' })
    const dns = disc.dns
    if (isObj(dns)) {
      const record = dns.record ?? 'A'
      if (record !== 'SRV' && dns.port === undefined) issues.push({ path: [...path, 'discovery', 'dns'], message: `port is required for ${String(record)} records (SRV records carry their own)` })
      if (Array.isArray(dns.servers)) {
        dns.servers.forEach((v, i) => {
          if (typeof v === 'string' && !isNameServer(v)) issues.push({ path: [...path, 'discovery', 'dns', 'servers', i], message: 'must be an IP address, optionally with a port: 10.0.0.2, 10.0.0.2:53, [fd00::2]:53' })
        })
      }
      if (typeof dns.name === 'string' && record === 'SRV' && !dns.name.startsWith('_')) {
        issues.push({ path: [...path, 'discovery', 'dns', 'name'], message: 'an SRV name starts with _service._proto, e.g. _http._tcp.users.example.com' })
      }
    }
  }
  if (!Array.isArray(up.targets)) return
  let weighted = 0
  up.targets.forEach((t, i) => {
    if (!isObj(t)) return
    if (t.weight === undefined || (typeof t.weight === 'number' && t.weight > 0)) weighted++
    if (typeof t.url !== 'string' || !/^https?:\/\//.test(t.url)) return
    let url: URL
    try {
      url = new URL(t.url)
    } catch {
      issues.push({ path: [...path, 'targets', i, 'url'], message: 'is not a valid URL' })
      return
    }
    if (url.hostname === '') issues.push({ path: [...path, 'targets', i, 'url'], message: 'must name a host' })
    else if (url.search !== '' || url.hash !== '') {
      issues.push({ path: [...path, 'targets', i, 'url'], message: 'must not have a query string or fragment' })
    }
  })
  if (up.targets.length > 0 && weighted === 0) {
    issues.push({ path: [...path, 'targets'], message: 'every target has weight 0, so nothing would get traffic' })
  }
}

function isNameServer(v: string): boolean {
  if (isIP(v) !== 0) return true
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(v) ?? /^([^:]+):(\d{1,5})$/.exec(v)
  return m !== null && isIP(m[1]!) !== 0 && Number(m[2]) > 0 && Number(m[2]) < 65536
}

/** V8 puts the pattern itself in the message (maybe a secret); keep only the reason after it. */
function regexReason(err: unknown): string {
  return String((err as Error).message).split(': ').pop() ?? 'invalid'
}

function checkRegex(source: string, path: Segment[], issues: Issue[]): void {
  try {
    new RegExp(source)
  } catch (err) {
    issues.push({ path, message: `is not a valid regular expression: ${regexReason(err)}` })
  }
}

/** h2 is negotiated by ALPN, so it needs tls; h2c is cleartext HTTP/2, so it must not have it. */
function checkListenerProtocols(l: { protocols?: unknown; tls?: unknown; redirect_https?: unknown }, path: Segment[], issues: Issue[]): void {
  if (!Array.isArray(l.protocols)) return
  l.protocols.forEach((p, j) => {
    if (p === 'h2' && l.tls === undefined) issues.push({ path: [...path, 'protocols', j], message: 'h2 needs tls on this listener (it is negotiated by ALPN); use h2c for cleartext HTTP/2' })
    if (p === 'h2c' && l.tls !== undefined) issues.push({ path: [...path, 'protocols', j], message: 'h2c is cleartext HTTP/2: an https listener serves HTTP/2 as h2' })
  })
}

/** "host:port", "[v6]:port" or a bare port (a string when it came from ${PORT}). */
function checkListen(value: unknown, path: Segment[], issues: Issue[]): void {
  if (typeof value !== 'string' || value === '') return
  const bad = (): void => void issues.push({ path, message: 'must be host:port, [ipv6]:port or a port number, e.g. 0.0.0.0:8080' })
  const validPort = (p: string): boolean => /^\d{1,5}$/.test(p) && Number(p) <= 65535
  if (/^\d+$/.test(value)) {
    if (!validPort(value)) bad()
    return
  }
  const colon = value.lastIndexOf(':')
  if (colon <= 0 || !validPort(value.slice(colon + 1))) return bad()
  const host = value.slice(0, colon)
  if (host.startsWith('[') ? !(host.endsWith(']') && isIP(host.slice(1, -1)) === 6) : host.includes(':') || !isHostPattern(host) || host.startsWith('*')) bad()
}

/** Where plugin uses are checked: the document's names, the quoting rule and the known plugins. */
interface UseSite {
  doc: Obj
  upstreams: readonly string[]
  sharedStore: boolean
  show: (p: Segment[], v: string) => string
  checks: DocumentChecks
}

function checkPluginUse(use: unknown, path: Segment[], site: UseSite, issues: Issue[]): void {
  if (!isObj(use) || typeof use.name !== 'string' || use.name === '') return
  const { show, checks } = site
  const def = checks.plugins.get(use.name)
  if (def === undefined) {
    issues.push({ path: [...path, 'name'], message: `unknown plugin ${show([...path, 'name'], use.name)}`, ...hint(suggest(use.name, [...checks.plugins.keys()], 'known plugins')) })
    return
  }
  // `- {name: cors, enabled: false}` only switches a global plugin off; there is nothing to check.
  if (use.enabled === false && use.config === undefined) return
  const config = use.config === undefined ? {} : use.config
  if (!isObj(config)) return // the document schema already said "must be a mapping"
  const validate = pluginValidator(def)
  const before = issues.length
  if (!validate(config)) issues.push(...translate(validate.errors ?? [], config, [...path, 'config']))
  checkUnits(def.schema, config, [...path, 'config'], issues)
  use.config = config
  if (def.check === undefined || use.enabled === false || issues.length > before) return
  const at = [...path, 'config']
  const ctx: PluginCheckContext = {
    doc: site.doc,
    upstreams: site.upstreams,
    sharedStore: site.sharedStore,
    show: (rel, value) => show([...at, ...rel], value),
    suggest,
  }
  for (const i of def.check(config as never, ctx)) issues.push({ path: [...at, ...i.path], message: i.message, ...hint(i.hint) })
}

function dedupe(issues: Issue[]): Issue[] {
  const seen = new Set<string>()
  return issues.filter((i) => {
    const key = `${formatPath(i.path)}\0${i.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}
