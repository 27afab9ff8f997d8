// As-you-type validation of one resource against the published JSON Schema, worded like
// `portico validate` (src/config/validate.ts): "unknown key "x"" with a did-you-mean, "missing
// required key", "must be …". The gateway's dry run stays the authority: it also runs the checks a
// schema cannot express (cross-references, plugin configs, path patterns), and the editor shows
// its answer verbatim.
import * as v from 'virtual:validators'

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
  const errors = fn.errors ?? []
  const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`)
  const out: Problem[] = []
  for (const e of errors) {
    if (unions.some((u) => e.schemaPath.startsWith(u))) continue
    const path = [...prefix, ...segments(e.instancePath, data)]
    const p = e.params
    let problem: Problem
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(p.additionalProperty)
        const parent = schemaAt(v.schemas[kind], e.schemaPath)
        const allowed = isObj(parent.properties) ? Object.keys(parent.properties) : []
        const hint = suggest(key, allowed)
        problem = { path: formatPath([...path, key]), message: `unknown key "${key}"`, ...(hint === undefined ? {} : { hint }) }
        break
      }
      case 'required':
        problem = { path: formatPath(path), message: `missing required key "${String(p.missingProperty)}"` }
        break
      case 'enum':
        problem = { path: formatPath(path), message: `must be one of ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}` }
        break
      case 'type':
        problem = { path: formatPath(path), message: `must be ${p.type === 'array' ? 'a list' : p.type === 'object' ? 'a mapping' : `a ${String(p.type)}`}` }
        break
      case 'minItems':
        problem = { path: formatPath(path), message: `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}` }
        break
      case 'minLength':
        problem = { path: formatPath(path), message: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long` }
        break
      default:
        problem = { path: formatPath(path), message: e.message ?? `fails ${e.keyword}` }
    }
    if (!out.some((o) => o.path === problem.path && o.message === problem.message)) out.push(problem)
  }
  return out
}
