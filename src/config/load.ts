// Reads a config document (YAML, or JSON which is YAML 1.2 too, so both get the same positions),
// interpolates ${ENV}, validates it and reports every problem with file, YAML path and line:column.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, resolve as resolvePath } from 'node:path'
import { LineCounter, isAlias, isCollection, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node, type YAMLError } from 'yaml'
import type { Config } from './schema/index.js'
import { compareErrors, type ConfigError } from './errors.js'
import { formatPath, validateConfig, type DocumentChecks, type Issue, type Segment } from './validate.js'

export type LoadResult =
  | { ok: true; config: Config; hash: string; file: string }
  | { ok: false; errors: ConfigError[]; file: string }

type Env = Record<string, string | undefined>

export interface LoadOptions {
  /** The plugins and path grammar to check against (snapshot/document-checks.ts). */
  checks: DocumentChecks
  /** Where ${ENV} references are read from; process.env by default. */
  env?: Env
}

export async function loadConfigFile(file: string, opts: LoadOptions): Promise<LoadResult> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    return { ok: false, file, errors: [{ file, path: '', line: 0, column: 0, message: (err as Error).message }] }
  }
  return loadConfigText(text, file, opts)
}

/**
 * A YAML syntax error where the user made it. The parser reports an unclosed `[`, `{` or quote
 * where it gives up, often the next line or the end of the file; the mistake is where that
 * collection or quoted string opens, so the error points there and says where it was noticed.
 */
function syntaxError(doc: Document, e: YAMLError, text: string, file: string, at: (offset: number) => { line: number; column: number }): ConfigError {
  const pos = e.pos[0]
  /** The collection or string ends with its closing character: not the one left open. */
  const closed = (node: Node, r: readonly [number, number, number]): boolean => {
    const body = text.slice(r[0], r[1]).trimEnd()
    if (isScalar(node)) return body.length > 1 && body.endsWith(node.type === 'QUOTE_DOUBLE' ? '"' : "'")
    return body.endsWith(isSeq(node) ? ']' : '}')
  }
  let opener: Node | null = null
  visit(doc, {
    Node(_key, node) {
      const r = node.range
      if (r === undefined || r === null) return
      const opens = (isCollection(node) && node.flow === true) || (isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE'))
      if (opens && r[0] < pos && pos <= r[2] + 1 && !closed(node, r) && (opener === null || r[0] >= opener.range![0])) opener = node
    },
  })
  const noticed = at(pos)
  if (opener === null) return { file, path: '', ...noticed, message: e.message }
  const start = at((opener as Node).range![0])
  if (start.line === noticed.line) return { file, path: '', ...noticed, message: e.message }
  const what = isScalar(opener) ? 'quoted string' : isSeq(opener) ? 'flow sequence "["' : 'flow mapping "{"'
  return { file, path: '', ...start, message: e.message, hint: `the ${what} that starts here is not closed; noticed at line ${noticed.line}` }
}

/**
 * A JSON document takes JSON.parse first: on a 10,000-route file the YAML parser took 690-1,200 ms
 * and JSON.parse takes a few (issue 12). Positions are only needed to report problems, so a JSON
 * text that does not parse or validate goes through the YAML path (JSON is YAML 1.2) for errors
 * with line:column, exactly as before. One difference: JSON.parse keeps the last of duplicate keys,
 * where the YAML parser refuses the document; such a file now loads as JSON.parse reads it.
 */
function loadJsonFast(text: string, file: string, env: Env, opts: LoadOptions): LoadResult | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  const interpolated = new Set<string>()
  const envIssues: Issue[] = []
  // A text with no "${" (and no \u escape that could spell one) has no reference to resolve, and
  // JSON.parse's tree is already a copy of nobody's: the walk that rebuilds every object is skipped
  // (~50-75 ms of a 10,000-route start and of every reload in the primary, in a CPU profile).
  const resolved = text.includes('${') || text.includes('\\u') ? interpolate(raw, [], env, interpolated, envIssues, file) : raw
  if (envIssues.length > 0 || validateConfig(resolved, interpolated, opts.checks).length > 0) return undefined
  return { ok: true, file, config: resolved as Config, hash: hashConfig(resolved) }
}

export function loadConfigText(text: string, file: string, opts: LoadOptions): LoadResult {
  const env = opts.env ?? process.env
  if (/^\uFEFF?\s*\{/.test(text)) {
    const fast = loadJsonFast(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, file, env, opts)
    if (fast !== undefined) return fast
  }
  const lineCounter = new LineCounter()
  // prettyErrors would append the offending source line to messages, which may hold a secret.
  // merge: `<<: *defaults` lets a file share timeouts or plugin lists between entries.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true })
  const at = (offset: number): { line: number; column: number } => {
    const { line, col } = lineCounter.linePos(offset)
    return { line, column: col }
  }
  const fail = (errors: ConfigError[]): LoadResult => ({ ok: false, file, errors: errors.sort(compareErrors) })

  if (doc.errors.length > 0) {
    return fail(doc.errors.map((e) => syntaxError(doc, e, text, file, at)))
  }
  if (doc.contents === null) {
    return fail([{ file, path: '', line: 1, column: 1, message: 'the document is empty', hint: 'it needs at least "upstreams" and "routes"' }])
  }

  let raw: unknown
  try {
    raw = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    // Only alias expansion can throw here (a "billion laughs" document).
    return fail([{ file, path: '', ...at(0), message: (err as Error).message }])
  }

  const locate = (path: readonly Segment[], which: 'key' | 'value'): { line: number; column: number } => {
    const offset = findOffset(doc, path, which)
    return offset === undefined ? { line: 0, column: 0 } : at(offset)
  }
  const toError = (issue: Issue): ConfigError => {
    let message = issue.message
    if (issue.firstDefinedAt !== undefined) {
      const first = locate(issue.firstDefinedAt, 'value')
      message += first.line > 0 ? ` (first defined at line ${first.line})` : ` (first defined at ${formatPath(issue.firstDefinedAt)})`
    }
    return {
      file,
      path: formatPath(issue.path),
      ...locate(issue.path, issue.at ?? 'value'),
      message,
      ...(issue.hint === undefined ? {} : { hint: issue.hint }),
    }
  }

  const interpolated = new Set<string>()
  const envIssues: Issue[] = []
  const resolved = interpolate(raw, [], env, interpolated, envIssues, file)
  const issues = [...envIssues, ...validateConfig(resolved, interpolated, opts.checks)]
  if (issues.length > 0) return fail(issues.map(toError))

  return { ok: true, file, config: resolved as Config, hash: hashConfig(resolved) }
}

/** sha256 of the canonical JSON (keys sorted): equal content gives an equal hash, however written. */
export function hashConfig(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex')
}

// Loops and string appends rather than entries/filter/sort/map per object: on a 10,000-route
// document this was ~50 ms of every reload in the primary, half of it allocation. The output is
// byte for byte what it was (keys in UTF-16 code unit order, undefined members left out, undefined
// array items as null): fleet records and restarts compare these hashes.
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) {
    let out = '['
    for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(v[i])
    return out + ']'
  }
  if (typeof v === 'object' && v !== null) {
    const obj = v as Record<string, unknown>
    const keys = Object.keys(obj).sort()
    let out = '{'
    for (const k of keys) {
      const x = obj[k]
      if (x === undefined) continue
      out += (out.length === 1 ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(x)
    }
    return out + '}'
  }
  return JSON.stringify(v) ?? 'null'
}

// ---------------------------------------------------------------------------------------------
// ${ENV} interpolation, on parsed string values only (never keys), so YAML positions stay right.
// References: ${NAME} and ${env:NAME} (an environment variable, `:-default` allowed) and
// ${file:path} (the file's content, one trailing newline dropped: Docker/Kubernetes secret files;
// relative to the config file). Resolved values are secrets: never quoted in a message, and the admin API shows the
// document as written (the reference, not the value).

// `$${` is an escaped literal "${"; otherwise `${` opens a reference that must close with `}`.
const REF_RE = /\$\$\{|\$\{([^}]*)(\}?)/g
const BODY_RE = /^(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s
const FILE_RE = /^file:(.+)$/s

/** A ${file:} reference's content, or the issue to report (naming the path, never any content). */
function readSecretFile(path: string): { value: string } | { message: string } {
  try {
    return { value: readFileSync(path, 'utf8').replace(/\r?\n$/, '') }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable'
    return { message: `secret file "${path}" cannot be read (${code})` }
  }
}

/**
 * Returns a new tree (never mutates: YAML aliases share objects, and an escaped `$${` must not be
 * interpolated a second time through another path). Records the paths of substituted values.
 */
function interpolate(v: unknown, path: Segment[], env: Env, interpolated: Set<string>, issues: Issue[], configFile = ''): unknown {
  if (typeof v === 'string') {
    if (!v.includes('${')) return v
    let substituted = false
    const out = v.replace(REF_RE, (match: string, body: string | undefined, close: string | undefined) => {
      if (match === '$${') return '${'
      const f = close === '}' ? FILE_RE.exec(body ?? '') : null
      if (f !== null) {
        // ${file:path}: a secret (PEM key, token) kept in its own file; a relative path is relative to the config file.
        substituted = true
        const r = readSecretFile(resolvePath(dirname(configFile), f[1]!))
        if ('value' in r) return r.value
        issues.push({ path, message: r.message, hint: 'the file must exist and be readable by the gateway' })
        return match
      }
      const m = close === '}' ? BODY_RE.exec(body ?? '') : null
      if (m === null) {
        issues.push({ path, message: 'has a malformed ${...} reference; use ${NAME}, ${env:NAME}, ${NAME:-default} or ${file:/path}', hint: 'write $${ for a literal "${"' })
        return match
      }
      substituted = true
      const name = m[1]!
      const value = env[name]
      if (value !== undefined && value !== '') return value
      if (m[2] !== undefined) return m[2]
      if (value === '') return value
      issues.push({ path, message: `environment variable "${name}" is not set`, hint: `set it, or give a default: \${${name}:-value}` })
      return match
    })
    if (substituted) interpolated.add(formatPath(path))
    return out
  }
  if (Array.isArray(v)) return v.map((x, i) => interpolate(x, [...path, i], env, interpolated, issues, configFile))
  if (typeof v === 'object' && v !== null) {
    // fromEntries defines own properties, so a "__proto__" key stays a plain key.
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, [...path, k], env, interpolated, issues, configFile)]))
  }
  return v
}

// ---------------------------------------------------------------------------------------------
// YAML path → source offset

/**
 * Offset of the node at `path`: its key for 'key', its value otherwise. Walks as far as the path
 * exists and falls back to the deepest node found (a missing key is reported at its parent).
 */
function findOffset(doc: Document, path: readonly Segment[], which: 'key' | 'value'): number | undefined {
  let node: unknown = doc.contents
  let offset = rangeStart(node)
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc)
    const seg = path[i]!
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg))
      if (pair === undefined) break
      const keyOffset = rangeStart(pair.key)
      const last = i === path.length - 1
      // An empty value (`key:`) has a zero-width range at the end of the line: point at the key.
      if ((last && which === 'key') || isEmptyScalar(pair.value)) return keyOffset ?? offset
      node = pair.value
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg]
    } else {
      break
    }
    offset = rangeStart(node) ?? offset
  }
  return offset
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value)
  return typeof key === 'string' ? key : undefined
}

function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null && node.source === ''
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0]
}
