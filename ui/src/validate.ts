// As-you-type validation of one resource against the published JSON Schema, worded like
// `portico validate` (src/config/validate.ts): "unknown key "x"" with a did-you-mean, "missing
// required key", "must be …". The gateway's dry run stays the authority: it also runs the checks a
// schema cannot express (cross-references, plugin configs, path patterns), and the editor shows
// its answer verbatim.
import * as v from 'virtual:validators'
import { REDACTED } from './secrets'
import { checkSchema, type SchemaError } from './schema-check'

export type Kind = 'routes' | 'upstreams' | 'consumers' | 'plugins'
type Seg = string | number
type Obj = Record<string, unknown>
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)

export interface Problem {
  path: string
  message: string
  hint?: string
}

export function formatPath(path: readonly Seg[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (/^[A-Za-z0-9_$-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`
    else out += `[${JSON.stringify(seg)}]`
  }
  return out
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]!
}

/** The same rule as closest()/suggest() in src/config/errors.ts: within two edits or a prefix, else the allowed list. */
function suggest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase()
  let best: string | undefined
  let bestScore = Infinity
  for (const c of candidates) {
    const lc = c.toLowerCase()
    let score = distance(w, lc)
    if (score > 2 && w.length >= 2 && (lc.startsWith(w) || w.startsWith(lc))) score = 2.5
    if (score < bestScore || (score === bestScore && best !== undefined && c < best)) [best, bestScore] = [c, score]
  }
  if (best !== undefined && bestScore <= 2.5) return `did you mean "${best}"?`
  return candidates.length === 0 ? undefined : `allowed: ${[...candidates].sort().join(', ')}`
}

/** The schema node a schemaPath ("#/properties/plugins/items/additionalProperties") points into. */
function schemaAt(root: unknown, schemaPath: string): Obj {
  let cur: unknown = root
  const parts = schemaPath.replace(/^#\/?/, '').split('/').filter((p) => p !== '')
  // The last part is the keyword itself; its parent holds `properties`.
  for (const raw of parts.slice(0, -1)) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    cur = Array.isArray(cur) ? cur[Number(p)] : isObj(cur) ? cur[p] : undefined
  }
  return isObj(cur) ? cur : {}
}

// The words of src/config/validate.ts for patterns, types and unions (its PATTERN_WORDS,
// describeType, describeUnion and describeBranch), so a form field's message is the CLI's.
const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m|h)$'
const SIZE_PATTERN = '^\\d+(\\.\\d+)?([bB]|[kK][bB]|[mM][bB]|[gG][bB])$'
const PATTERN_WORDS: Record<string, string> = {
  '^[A-Za-z0-9_.-]+$': 'may contain only letters, digits, "_", "." and "-"',
  '^https?://': 'must start with http:// or https://',
  '^/': 'must start with "/"',
  '^[A-Z]+$': 'must be an upper-case HTTP method like GET',
  [DURATION_PATTERN]: 'must be a duration like 250ms, 2s, 5m',
  [SIZE_PATTERN]: 'must be a size like 512b, 64kb, 10mb',
}
const describePattern = (pattern: string) => PATTERN_WORDS[pattern] ?? `must match the pattern ${pattern}`
const describeType = (type: string) => (type === 'object' ? 'a mapping (key: value)' : type === 'array' ? 'a list' : type === 'integer' ? 'an integer' : `a ${type}`)
function describeUnion(branches: readonly Obj[]): string {
  const patterns = branches.map((b) => b.pattern)
  if (patterns.includes(DURATION_PATTERN)) return 'a duration like 250ms, 2s, 5m or integer milliseconds'
  if (patterns.includes(SIZE_PATTERN)) return 'a size like 512b, 64kb, 10mb or integer bytes'
  if (branches.length > 0 && branches.every((b) => b.const !== undefined)) return `one of ${branches.map((b) => JSON.stringify(b.const)).join(', ')}`
  return branches.map(describeBranch).join(' or ')
}
function describeBranch(b: Obj): string {
  if (b.const !== undefined) return JSON.stringify(b.const)
  if (typeof b.pattern === 'string') return `a string that ${describePattern(b.pattern)}`
  const type = String(b.type ?? 'value')
  const min = typeof b.minimum === 'number' ? b.minimum : undefined
  const max = typeof b.maximum === 'number' ? b.maximum : undefined
  if ((type === 'integer' || type === 'number') && min !== undefined && max !== undefined) return `${describeType(type)} from ${min} to ${max}`
  if (type === 'string' && b.minLength === 1) return 'a non-empty string'
  return describeType(type)
}

function valueAt(data: unknown, pointer: string): unknown {
  let cur = data
  for (const raw of pointer === '' ? [] : pointer.slice(1).split('/')) {
    const tok = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    cur = Array.isArray(cur) ? cur[Number(tok)] : isObj(cur) ? cur[tok] : undefined
  }
  return cur
}

function segments(pointer: string, data: unknown): Seg[] {
  if (pointer === '') return []
  const out: Seg[] = []
  let cur = data
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

/** Problems with `value` as the resource at `prefix` in the document (e.g. ['routes', 3]). */
export function validateResource(kind: Kind, value: unknown, prefix: Seg[]): Problem[] {
  const fn = v[kind]
  // Upstreams are a map in the file: the API shows each with its name inside, the schema does not.
  const data = kind === 'upstreams' && isObj(value) ? (({ name: _n, ...rest }) => rest)(value) : value
  if (fn(data)) return []
  return describeErrors(fn.errors ?? [], data, v.schemas[kind], prefix)
}

/**
 * The plugin configs of a resource (a route's or consumer's `plugins`, or one global plugin)
 * checked against each installed plugin's schema (./schema-check.ts), worded as the document's.
 * `schemas` maps a plugin's name to its config schema; a use of a plugin not in it is left to the
 * gateway (it says "unknown plugin"), and so is a config that is not a mapping (the document
 * schema says so).
 */
export function validatePluginConfigs(kind: Kind, value: unknown, prefix: Seg[], schemas: ReadonlyMap<string, unknown>): Problem[] {
  if (!isObj(value)) return []
  const uses: Array<[unknown, Seg[]]> = kind === 'plugins' ? [[value, prefix]] : kind === 'routes' || kind === 'consumers' ? (Array.isArray(value.plugins) ? value.plugins : []).map((u, i) => [u, [...prefix, 'plugins', i]]) : []
  const out: Problem[] = []
  for (const [use, at] of uses) {
    if (!isObj(use) || typeof use.name !== 'string') continue
    const schema = schemas.get(use.name)
    // As the gateway: `{name, enabled: false}` only switches a global plugin off.
    if (schema === undefined || (use.enabled === false && use.config === undefined)) continue
    const config = use.config === undefined ? {} : use.config
    if (!isObj(config)) continue
    out.push(...describeErrors(checkSchema(schema, config), config, schema, [...at, 'config']))
  }
  return out
}

/** Ajv's errors (or ./schema-check.ts's, in the same shape) for `data` against `root`, as problems at `prefix`. */
function describeErrors(errors: readonly SchemaError[], data: unknown, root: unknown, prefix: Seg[]): Problem[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`)
  const out: Problem[] = []
  for (const e of errors) {
    if (unions.some((u) => e.schemaPath.startsWith(u))) continue
    // A write-only value the API sent as its placeholder ("[REDACTED]" is shorter than a key's 16
    // characters) stands for the stored value, which the gateway checks and keeps on the write.
    if (valueAt(data, e.instancePath) === REDACTED) continue
    const path = [...prefix, ...segments(e.instancePath, data)]
    const p = e.params
    let problem: Problem
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(p.additionalProperty)
        const parent = schemaAt(root, e.schemaPath)
        const pattern = isObj(parent.patternProperties) ? Object.keys(parent.patternProperties)[0] : undefined
        if (pattern !== undefined) {
          problem = { path: formatPath([...path, key]), message: `key "${key}" ${describePattern(pattern)}` }
          break
        }
        const allowed = isObj(parent.properties) ? Object.keys(parent.properties) : []
        const hint = suggest(key, allowed)
        problem = { path: formatPath([...path, key]), message: `unknown key "${key}"`, ...(hint === undefined ? {} : { hint }) }
        break
      }
      case 'anyOf': {
        const node = schemaAt(root, e.schemaPath)
        const branches = Array.isArray(node.anyOf) ? (node.anyOf as unknown[]).filter(isObj) : []
        const consts = branches.map((b) => b.const).filter((c): c is string => typeof c === 'string')
        const value = valueAt(data, e.instancePath)
        const near = typeof value === 'string' && consts.length > 0 ? suggest(value, consts) : undefined
        problem = { path: formatPath(path), message: `must be ${describeUnion(branches)}`, ...(near?.startsWith('did') === true ? { hint: near } : {}) }
        break
      }
      case 'const':
        problem = { path: formatPath(path), message: `must be ${JSON.stringify(p.allowedValue)}` }
        break
      case 'pattern':
        problem = { path: formatPath(path), message: describePattern(String(p.pattern)) }
        break
      case 'maxItems':
        problem = { path: formatPath(path), message: `must have at most ${String(p.limit)} items` }
        break
      case 'maxLength':
        problem = { path: formatPath(path), message: `must be at most ${String(p.limit)} characters long` }
        break
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        problem = { path: formatPath(path), message: `must be ${String(p.comparison)} ${String(p.limit)}` }
        break
      case 'required':
        problem = { path: formatPath(path), message: `missing required key "${String(p.missingProperty)}"` }
        break
      case 'enum':
        problem = { path: formatPath(path), message: `must be one of ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}` }
        break
      case 'type':
        problem = { path: formatPath(path), message: `must be ${describeType(String(p.type))}` }
        break
      case 'minItems':
        problem = { path: formatPath(path), message: `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}` }
        break
      case 'minLength':
        problem = { path: formatPath(path), message: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long` }
        break
      case 'if':
        // As the CLI: the errors inside the then-branch say what is wrong.
        continue
      default:
        problem = { path: formatPath(path), message: e.message ?? `fails ${e.keyword}` }
    }
    if (!out.some((o) => o.path === problem.path && o.message === problem.message)) out.push(problem)
  }
  return out
}
